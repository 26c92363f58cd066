"""Refuse API keys sent in a URL's query string, loudly, and never use them.

A key in a URL is already half leaked: URLs land in proxy and web-server access logs, browser
history, shell history and ``Referer`` headers. So a request that carries one is refused with
400 ``key_in_query_string`` (even when its ``Authorization`` header is fine), the key is never
looked up or checked, and an audit event names the key id it claims so an admin can rotate it.

A parameter counts as a key when its name is one that clients commonly use for credentials
(``api_key``, ``key``, ``token``, ...) or when its name or value contains something shaped like
a Breakwater key (``bwk_`` + a key id, see ``keyformat``), however it was truncated or padded.
"""

from __future__ import annotations

import re

from django.http import HttpRequest, QueryDict
from rest_framework import exceptions, status

from apps.apikeys import keyformat
from apps.apikeys.models import ApiKey
from apps.apikeys.services import _first_in_window
from apps.audit.actions import AuditAction
from apps.audit.actors import Actor
from apps.audit.services import audit_record

# Compared after casefolding and turning "-" into "_". Reserved on every API route.
CREDENTIAL_PARAMETERS = frozenset(
    {
        "api_key",
        "apikey",
        "key",
        "token",
        "access_token",
        "auth",
        "auth_token",
        "authorization",
        "bearer",
        "secret",
    }
)
# The prefix and a key id are enough to recognise one, even cut short or wrapped in quotes.
_KEY_SHAPED = re.compile(
    rf"{re.escape(keyformat.PREFIX)}[0-9A-Za-z]{{{keyformat.KEY_ID_LENGTH}}}(?:_|\b)"
)
# One audit event per client address a minute: a bot retrying in a loop must not flood the
# chain (the same window as refused key uses, apps.apikeys.services).
AUDIT_WINDOW_SECONDS = 60


class KeyInQueryString(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "key_in_query_string"
    error_code = "key_in_query_string"
    default_detail = (
        "API keys are never accepted in the URL. Send the key in the header "
        "'Authorization: Bearer <key>', and rotate this key: URLs end up in logs."
    )


def key_parameter(query: QueryDict) -> str | None:
    """The name of the first query parameter that carries (or claims to carry) a key."""
    for name, values in query.lists():
        normalised = name.casefold().replace("-", "_")
        if normalised in CREDENTIAL_PARAMETERS or _KEY_SHAPED.search(name):
            return name
        if any(_KEY_SHAPED.search(value) for value in values):
            return name
    return None


def _claimed_key_id(query: QueryDict) -> str:
    """The public key id the parameters claim, from the text alone (no secret is checked)."""
    for name, values in query.lists():
        for text in (name, *values):
            match = _KEY_SHAPED.search(text)
            if match:
                return match.group(0)[len(keyformat.PREFIX) :][: keyformat.KEY_ID_LENGTH]
    return ""


def refuse_key_in_query(request: HttpRequest, *, client_ip: str | None) -> None:
    """Raise ``KeyInQueryString`` (after auditing it) when the query string carries a key."""
    parameter = key_parameter(request.GET)
    if parameter is None:
        return
    if _first_in_window(f"audit:key.query_string:{client_ip}", seconds=AUDIT_WINDOW_SECONDS):
        key_id = _claimed_key_id(request.GET)
        api_key = ApiKey.objects.filter(key_id=key_id).first() if key_id else None
        actor = Actor.api_key(key_id, api_key.name) if api_key else Actor.anonymous()
        audit_record(
            action=AuditAction.KEY_IN_QUERY_STRING,
            actor=actor,
            target=api_key,
            details={
                # A name that is itself a key is never stored (it would hold the secret).
                "parameter": "<key-shaped name>"
                if _KEY_SHAPED.search(parameter)
                else parameter[:64],
                "claimed_key_id": key_id,
                "known_key": api_key is not None,
                "path": request.path[:200],
                "client_ip": client_ip or "",
            },
        )
    raise KeyInQueryString()
