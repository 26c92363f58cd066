"""Read-only admin for risk limits: edits go through the risk pages (step-up MFA, audited with
old and new values), never through a model form that would bypass both."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.risk.models import LimitUtilisation, RiskLimit


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(RiskLimit)
class RiskLimitAdmin(ReadOnlyAdmin):
    list_display = ("name", "scope", "target", "metric", "threshold", "action", "enabled")
    list_filter = ("scope", "metric", "action", "enabled")


@admin.register(LimitUtilisation)
class LimitUtilisationAdmin(ReadOnlyAdmin):
    list_display = ("limit", "value", "utilisation", "status", "consecutive_breaches", "tripped")
    list_filter = ("status",)
