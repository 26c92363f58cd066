"""Read-mostly admin: orders and fills are evidence (no add/change/delete); limits are edited."""

from __future__ import annotations

from django.contrib import admin

from apps.gateway.models import DeadMansSwitch, Fill, GatewayLimits, Order


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class FillInline(admin.TabularInline):
    model = Fill
    extra = 0
    can_delete = False
    readonly_fields = ["venue_fill_id", "price", "quantity", "fee", "filled_at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = [
        "arrived_at", "account_label", "symbol", "side", "quantity", "limit_price", "status",
        "reject_code",
    ]  # fmt: skip
    list_filter = ["status", "reject_code", "side"]
    search_fields = ["id", "client_order_id", "venue_order_id", "symbol", "account_label"]
    inlines = [FillInline]


@admin.register(GatewayLimits)
class GatewayLimitsAdmin(admin.ModelAdmin):
    list_display = [
        "account", "max_order_quantity", "max_order_notional", "max_position",
        "max_open_orders", "max_orders_per_second", "price_collar",
    ]  # fmt: skip


@admin.register(DeadMansSwitch)
class DeadMansSwitchAdmin(ReadOnlyAdmin):
    list_display = ["api_key", "interval_seconds", "last_heartbeat_at", "fired_at"]
