"""PostgreSQL unreachable: a friendly 503 instead of a 500, for pages as for JSON callers.

The API maps database errors to ``dependency_unavailable`` itself (config/api_errors.py). This
module covers everything else, at the three places a database error can surface in a request:

1. **Signing the request in.** The session, the user and their OTP device are read lazily,
   first by ``MfaEnforcementMiddleware``; an error there would be turned into a 500 by Django
   before any outer middleware saw it. :class:`DatabaseOutageMiddleware` (installed right after
   ``OTPMiddleware``) resolves ``request.user`` first and answers 503 if that fails. Health
   checks go on as anonymous, so ``/readyz`` still reports *which* dependency failed.
2. **In a view**: ``process_exception``.
3. **Anywhere else** (a session save in a response, a context processor): :func:`server_error`
   is the project's ``handler500``; it answers 503 when the exception being handled is a
   database error and Django's usual 500 page otherwise.

The page (templates/errors/database_unavailable.html) needs no database: no user, no
navigation by permission. It carries static/js/outage.js, which reloads it once /readyz
answers 200 again, so a person who hit the outage lands back on their page by themselves.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

import psycopg
from django.contrib.auth.models import AnonymousUser
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.urls import Resolver404, resolve
from django.views.defaults import server_error as django_server_error

__all__ = [
    "DATABASE_ERRORS",
    "DatabaseOutageMiddleware",
    "database_unavailable_response",
    "server_error",
]

logger = logging.getLogger(__name__)

# Django wraps driver errors (pool timeouts included: psycopg_pool.PoolTimeout is a
# psycopg.OperationalError); the raw psycopg classes cover code that talks to the driver.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
)
RETRY_AFTER_SECONDS = 5
HEALTH_URL_NAMES = frozenset({"healthz", "readyz"})
TEMPLATE = "errors/database_unavailable.html"
DETAIL = "The database is unavailable; nothing was done. Retry shortly."


def _wants_json(request: HttpRequest) -> bool:
    if request.path_info.startswith("/api/") or request.path_info.endswith(".json"):
        return True
    first = request.headers.get("Accept", "").split(",")[0].strip().lower()
    return first.startswith("application/json")


def database_unavailable_response(request: HttpRequest, exc: BaseException) -> HttpResponse:
    """503 for a request that could not reach PostgreSQL: the API's JSON error shape, or a
    page that says so in words (no traceback, nothing read from the database)."""
    logger.warning("database unavailable for %s %s: %s", request.method, request.path, exc)
    response: HttpResponse
    if _wants_json(request):
        response = JsonResponse({"code": "dependency_unavailable", "detail": DETAIL}, status=503)
    else:
        html = render_to_string(TEMPLATE, {"retry_after": RETRY_AFTER_SECONDS})
        response = HttpResponse(html, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


def _is_health_check(request: HttpRequest) -> bool:
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return False
    return match.url_name in HEALTH_URL_NAMES and not match.namespaces


class DatabaseOutageMiddleware:
    """Install right after ``django_otp.middleware.OTPMiddleware`` (see the module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            # Loads session, user and OTP device now, where a failure can still become a 503.
            request.user.is_authenticated  # noqa: B018
        except DATABASE_ERRORS as exc:
            if not _is_health_check(request):
                return database_unavailable_response(request, exc)
            # The probes need no user; /readyz then names the failed dependency itself.
            request.user = AnonymousUser()
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DATABASE_ERRORS):
            return database_unavailable_response(request, exception)
        return None


def server_error(request: HttpRequest, template_name: str = "500.html") -> HttpResponse:
    """``handler500``: a database error that escaped the middleware still becomes the 503."""
    exc = sys.exc_info()[1]
    if isinstance(exc, DATABASE_ERRORS):
        return database_unavailable_response(request, exc)
    return django_server_error(request, template_name=template_name)
