"""A schemathesis check of our own: no 2xx without the scope the operation declares.

The declared scope is read from the URL configuration (the view class the request resolves
to), not from the schema, and the key's scopes from what the test issued (``KEY_SCOPES``): so
the check does not trust the server's own answer about either. No database access here:
checks run in the engine's threads.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import schemathesis
from django.urls import Resolver404, resolve

from apps.apikeys.permissions import HasDeclaredScope, declared_scope
from apps.apikeys.scopes import ANY_KEY

# plaintext key -> the scopes it was issued with (tests/fuzz/conftest.py fuzz_key fills it).
KEY_SCOPES: dict[str, frozenset[str]] = {}


def _presented_scopes(headers: object) -> frozenset[str] | None:
    value = headers.get("Authorization", "") if hasattr(headers, "get") else ""
    scheme, _, token = str(value).partition(" ")
    return KEY_SCOPES.get(token.strip()) if scheme.lower() == "bearer" else None


@schemathesis.check
def scope_enforced(ctx, response, case) -> bool | None:
    if not 200 <= response.status_code < 300:
        return None
    request = response.request
    try:
        match = resolve(urlsplit(request.url).path)
    except Resolver404:
        raise AssertionError(f"2xx for {request.url}, which routes to no view") from None
    view_class = getattr(match.func, "cls", None) or getattr(match.func, "view_class", None)
    if view_class is None or HasDeclaredScope not in (
        getattr(view_class, "permission_classes", None) or []
    ):
        return None  # public by construction (e.g. /api/ping): no scope to hold
    scope = declared_scope(view_class(), request.method)
    scopes = _presented_scopes(request.headers)
    if scopes is None:
        raise AssertionError(f"{request.method} {request.url}: 2xx without a valid API key")
    if scope is None or (scope != ANY_KEY and scope not in scopes):
        raise AssertionError(
            f"{request.method} {request.url}: {response.status_code} for a key holding "
            f"{sorted(scopes)}; the operation needs {scope!r}"
        )
    return None
