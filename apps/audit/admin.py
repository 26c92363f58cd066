"""The audit log in the Django admin: view-only, for every user and superuser alike."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.audit.actions import AuditAction
from apps.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """No add, change or delete permission and no bulk actions: the admin can only read.

    (The database trigger would refuse the writes anyway; this keeps the buttons away.)
    """

    list_display = (
        "sequence",
        "occurred_at",
        "action",
        "actor_kind",
        "actor_label",
        "target_type",
        "target_id",
        "client_ip",
    )
    list_filter = ("action", "actor_kind", "target_type")
    search_fields = ("actor_label", "actor_id", "target_id", "=hash", "=prev_hash")
    date_hierarchy = "occurred_at"
    ordering = ("-sequence",)
    actions = None
    list_per_page = 100
    show_full_result_count = False  # COUNT(*) over a large log on every page is wasted work
    readonly_fields = (
        "sequence",
        "version",
        "occurred_at",
        "action",
        "action_label",
        "actor_kind",
        "actor_id",
        "actor_label",
        "target_type",
        "target_id",
        "details",
        "client_ip",
        "user_agent",
        "prev_hash",
        "hash",
    )

    @admin.display(description="Action (readable)")
    def action_label(self, obj: AuditEvent) -> str:
        try:
            return str(AuditAction(obj.action).label)
        except ValueError:
            return obj.action

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
