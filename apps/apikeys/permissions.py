"""Scope enforcement: every API view declares the scope it needs, or it refuses every key.

A view declares ``required_scope = "orders:write"`` or a per-method mapping
``required_scopes = {"GET": "orders:read", "POST": "orders:write"}``. ``ANY_KEY`` marks views
any valid key may call (``/api/v1/me``). A view that declares nothing fails closed.
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from apps.apikeys.authentication import KeyForbidden
from apps.apikeys.models import ApiKey
from apps.apikeys.scopes import ANY_KEY


def declared_scope(view: object, method: str) -> str | None:
    per_method = getattr(view, "required_scopes", None)
    if per_method is not None:
        return per_method.get(method.upper())
    return getattr(view, "required_scope", None)


class HasDeclaredScope(BasePermission):
    """Allow a request authenticated by an API key that holds the view's declared scope."""

    def has_permission(self, request: Request, view: object) -> bool:
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            return False  # not key-authenticated: 401 via NotAuthenticated
        scope = declared_scope(view, request.method or "GET")
        if scope is None:
            raise KeyForbidden("scope_not_declared", "This endpoint accepts no API key.")
        if scope != ANY_KEY and scope not in api_key.scopes:
            raise KeyForbidden("insufficient_scope", f"This endpoint needs the {scope} scope.")
        return True
