"""A schemathesis check of our own: no 2xx without the scope the operation declares.

The declared scope is read from the URL configuration (the view class the request resolves
to), not from the schema, and the key's scopes from the database: so the check does not trust
the server's own answer about either.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import schemathesis
from django.urls import Resolver404, resolve

from apps.apikeys.keyformat import parse
from apps.apikeys.models import ApiKey
from apps.apikeys.permissions import HasDeclaredScope, declared_scope
from apps.apikeys.scopes import ANY_KEY


def _presented_key(headers: object) -> ApiKey | None:
    value = headers.get("Authorization", "") if hasattr(headers, "get") else ""
    scheme, _, token = str(value).partition(" ")
    parsed = parse(token.strip()) if scheme.lower() == "bearer" else None
    return ApiKey.objects.filter(key_id=parsed.key_id).first() if parsed else None


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
    key = _presented_key(request.headers)
    if key is None:
        raise AssertionError(f"{request.method} {request.url}: 2xx without a valid API key")
    if scope is None or (scope != ANY_KEY and scope not in key.scopes):
        raise AssertionError(
            f"{request.method} {request.url}: {response.status_code} for a key holding "
            f"{sorted(key.scopes)}; the operation needs {scope!r}"
        )
    return None
