"""OpenAPI description of the API's error answers (``config/api_errors.py`` makes them).

Every key-authenticated operation can answer 400 (a key in the query string), 401 (no/bad
key), 403 (scope or address), 429 (rate limit, with ``Retry-After``) and 503 (a dependency is
down); ``error_responses(...)`` adds those and the statuses an operation adds itself, so the
schema lists every status a client can meet (the fuzz tests, tests/fuzz, hold the server to it).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine-readable code; branch on this.")
    detail = serializers.CharField(help_text="A sentence for people.")
    errors = serializers.DictField(
        required=False, help_text="400 invalid_request: the messages per field."
    )


_DESCRIPTIONS = {
    400: "Invalid request: `invalid_request` (messages per field in `errors`), "
    "`malformed_request` (the body is not JSON) or `key_in_query_string` (a key in the URL "
    "is refused, never used: send it in the Authorization header).",
    401: "No usable key: `not_authenticated`, `invalid_key`, `key_revoked`, `key_expired`.",
    403: "Refused: `insufficient_scope` (the key lacks the operation's scope), "
    "`ip_not_allowed`, or a refusal named by the operation.",
    404: "Not found (the code names what: e.g. `not_found`, `unknown_underlying`).",
    409: "Conflict with the resource's state (e.g. `order_state_unknown`).",
    415: "`unsupported_media_type`: the body must be `application/json`.",
    429: "`rate_limited`: the key's rate limit; retry after `Retry-After` seconds.",
    502: "`venue_unavailable`: the venue did not confirm; nothing is assumed.",
    503: "`dependency_unavailable` (PostgreSQL or Redis down; nothing was done) or "
    "`market_data_unavailable` (no data computed yet). Retry shortly.",
}

# What any key-authenticated operation can answer, whatever it does.
KEY_ERRORS = (400, 401, 403, 429, 503)


def error_response(status: int, description: str | None = None) -> OpenApiResponse:
    return OpenApiResponse(
        response=ErrorSerializer, description=description or _DESCRIPTIONS[status]
    )


def error_responses(*statuses: int, body: bool = False) -> dict[int, OpenApiResponse]:
    """The error answers of a key-authenticated operation: the common ones plus ``statuses``
    (``body=True`` adds 400 and 415, which every operation taking a JSON body can answer)."""
    wanted = {*KEY_ERRORS, *statuses, *((400, 415) if body else ())}
    return {status: error_response(status) for status in sorted(wanted)}
