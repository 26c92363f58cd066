"""Every API operation under /api/v1/, enumerated from the URL configuration itself.

New endpoints join the scope tests automatically: nothing here names a view.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver

from apps.apikeys.permissions import declared_scope

_CONVERTER = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>")
_SAMPLE = {"int": "1", "uuid": str(uuid.UUID(int=1)), "slug": "x", "str": "x", "path": "x"}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    view_class: type
    scope: str | None

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _walk(patterns, prefix: str = ""):
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            yield route.lstrip("^").rstrip("$"), entry.callback


def _sample_path(route: str) -> str:
    return "/" + _CONVERTER.sub(lambda m: _SAMPLE.get(m.group("conv") or "str", "x"), route)


def api_operations() -> list[Operation]:
    operations = []
    for route, callback in _walk(get_resolver().url_patterns):
        if not route.startswith("api/v1/"):
            continue
        view_class = getattr(callback, "cls", None)
        if view_class is None:
            raise AssertionError(f"{route} is not a DRF view")
        actions = getattr(callback, "actions", None)  # viewsets: {"get": "list", ...}
        methods = (
            list(actions)
            if actions
            else [
                m
                for m in view_class.http_method_names
                if m not in ("options", "head") and hasattr(view_class, m)
            ]
        )
        view = view_class()
        for method in methods:
            operations.append(
                Operation(
                    method.upper(), _sample_path(route), view_class, declared_scope(view, method)
                )
            )
    return operations
