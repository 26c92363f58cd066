"""DRF authentication for bots: ``Authorization: Bearer bwk_...``.

Order of checks (fixed, see docs/apikeys.md): format/checksum → lookup by id → digest →
revoked → expired → client IP; scope and rate limit follow in the permission and throttle
classes. Keys in the query string are refused before any of that (400, apps.apikeys.query_keys).
"""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from apps.apikeys.models import ApiKey
from apps.apikeys.query_keys import refuse_key_in_query
from apps.apikeys.services import KeyRejected, KeyRejection, key_authenticate


class KeyAuthenticationFailed(exceptions.AuthenticationFailed):
    def __init__(self, reason: KeyRejection) -> None:
        messages = {
            "invalid_key": "The API key is not valid.",
            "key_revoked": "The API key has been revoked.",
            "key_expired": "The API key has expired.",
        }
        super().__init__(messages.get(reason.code, "The API key is not valid."))
        self.error_code = reason.code


class KeyForbidden(exceptions.PermissionDenied):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.error_code = code


class ApiKeyAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[object, ApiKey] | None:
        # First, whatever the header says: a key in the URL is refused, never used.
        refuse_key_in_query(request, client_ip=request.META.get("REMOTE_ADDR"))
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise KeyAuthenticationFailed(KeyRejection.MALFORMED)
        try:
            presented = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise KeyAuthenticationFailed(KeyRejection.MALFORMED) from None
        client_ip = request.META.get("REMOTE_ADDR")
        try:
            api_key = key_authenticate(presented=presented, client_ip=client_ip)
        except KeyRejected as rejected:
            if rejected.reason.status == 403:
                raise KeyForbidden(
                    rejected.reason.code, "This key may not be used from your address."
                ) from None
            raise KeyAuthenticationFailed(rejected.reason) from None
        return api_key.owner, api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
