"""Read-only admin for breakers: changes go through the services (audited, mirrored, four-eyes),
never through a model form that would bypass them."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.breakers.models import Breaker, BreakerResetRequest, BreakerTransition


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Breaker)
class BreakerAdmin(ReadOnlyAdmin):
    list_display = (
        "scope",
        "target",
        "state",
        "source",
        "reason",
        "changed_by_label",
        "changed_at",
    )
    list_filter = ("scope", "state", "source")
    search_fields = ("target", "reason")


@admin.register(BreakerTransition)
class BreakerTransitionAdmin(ReadOnlyAdmin):
    list_display = ("breaker", "from_state", "to_state", "actor_label", "at", "reason")
    list_filter = ("to_state", "source")


@admin.register(BreakerResetRequest)
class BreakerResetRequestAdmin(ReadOnlyAdmin):
    list_display = ("breaker", "status", "requested_by", "requested_at", "decided_by")
    list_filter = ("status",)
