"""One error shape for the whole API: ``{"code": "...", "detail": "..."}``.

Bots branch on ``code``; ``detail`` is for people. DRF's own exceptions are mapped to
stable codes here so no view has to remember the format.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import InterfaceError, OperationalError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

_DEFAULT_CODES: dict[type[exceptions.APIException], str] = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "invalid_key",
    exceptions.PermissionDenied: "forbidden",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.ParseError: "malformed_request",
    exceptions.ValidationError: "invalid_request",
    exceptions.Throttled: "rate_limited",
}


class ServiceUnavailable(exceptions.APIException):
    """A dependency (database, Redis) could not be consulted: fail closed."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A dependency is unavailable; nothing was done. Retry shortly."
    default_code = "dependency_unavailable"


def _code_for(exc: exceptions.APIException) -> str:
    explicit = getattr(exc, "error_code", None)
    if explicit:
        return str(explicit)
    for klass, code in _DEFAULT_CODES.items():
        if isinstance(exc, klass):
            return code
    return str(exc.default_code)


logger = logging.getLogger(__name__)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, OperationalError | InterfaceError):
        # PostgreSQL unreachable (down, restarting, out of connections): the caller gets the
        # documented 503 and retries; nothing was decided, so nothing is half done.
        logger.warning("database unavailable: %s", exc)
        exc = ServiceUnavailable("The database is unavailable; nothing was done. Retry shortly.")
    response = exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    body: dict[str, Any] = {"code": _code_for(exc)}
    if isinstance(exc, exceptions.ValidationError):
        body["detail"] = "The request has invalid fields."
        body["errors"] = exc.detail
    else:
        body["detail"] = str(exc.detail)
    # Machine-readable extras a client can act on (e.g. step_up_url).
    body.update(getattr(exc, "extra", None) or {})
    response.data = body
    return response
