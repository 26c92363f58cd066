"""Django admin for venues, trading accounts (credentials write-only) and reference data.

The admin needs a verified second factor like every page. Credentials are entered in
password inputs that never render a value, and only within the step-up window (a recent
second-factor check, as for every sensitive action); saving them goes through
``trading_account_credentials_set`` (encrypted, audited in the admin's transaction). Instruments,
health and snapshots are written by workers and are read-only here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from apps.accounts.services.sessions import session_mfa_is_recent
from apps.venues.adapters.base import Credentials
from apps.venues.models import Instrument, SurfaceSnapshot, TradingAccount, Venue, VenueHealth
from apps.venues.services.credentials import trading_account_credentials_set

MANAGE_VENUES = "accounts.manage_venues"


class ManagedByVenueAdmins(admin.ModelAdmin):
    """Editable by holders of the ``manage_venues`` capability (the admin role, once
    apps.accounts.roles lists it), as well as by Django's own model permissions."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(MANAGE_VENUES) or super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(MANAGE_VENUES) or super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(MANAGE_VENUES) or super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(MANAGE_VENUES) or super().has_change_permission(request, obj)


class VenueHealthInline(admin.StackedInline):
    model = VenueHealth
    can_delete = False
    extra = 0
    readonly_fields = [f.name for f in VenueHealth._meta.fields if f.name != "venue"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(MANAGE_VENUES) or super().has_view_permission(request, obj)


@admin.register(Venue)
class VenueAdmin(ManagedByVenueAdmins):
    list_display = (
        "name",
        "adapter",
        "enabled",
        "underlyings",
        "quote_interval_seconds",
        "position_interval_seconds",
        "stale_after_seconds",
        "priority",
    )
    list_filter = ("adapter", "enabled")
    inlines = [VenueHealthInline]


class TradingAccountForm(forms.ModelForm):
    api_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Write-only. Leave both fields empty to keep the stored credentials.",
    )
    api_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Write-only: never shown again after saving.",
    )
    clear_credentials = forms.BooleanField(required=False, help_text="Remove stored credentials.")

    class Meta:
        model = TradingAccount
        fields = ("venue", "label", "external_id", "active", "traders")

    request: HttpRequest | None = None  # set by TradingAccountAdmin.get_form

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        key, secret = data.get("api_key"), data.get("api_secret")
        if bool(key) != bool(secret):
            raise forms.ValidationError("Enter both the API key and the secret, or neither.")
        if data.get("clear_credentials") and key:
            raise forms.ValidationError("Either enter new credentials or clear them, not both.")
        changing = bool(key) or bool(data.get("clear_credentials"))
        if changing and (self.request is None or not session_mfa_is_recent(self.request)):
            # The same step-up rule as every sensitive action; the secrets are never parked
            # in the session, so the person enters them again after confirming a code.
            next_path = self.request.get_full_path() if self.request else "/admin/"
            step_up = f"{reverse('dashboard:accounts:step_up')}?{urlencode({'next': next_path})}"
            raise forms.ValidationError(
                format_html(
                    "Changing credentials needs a recent second-factor check: "
                    '<a href="{}">confirm a code</a>, then enter them again.',
                    step_up,
                )
            )
        return data


@admin.register(TradingAccount)
class TradingAccountAdmin(ManagedByVenueAdmins):
    form = TradingAccountForm
    list_display = ("label", "venue", "external_id", "active", "credentials_status")
    list_filter = ("venue", "active")
    search_fields = ("label", "external_id")
    filter_horizontal = ("traders",)
    readonly_fields = ("credentials_status", "credentials_updated_at")
    fieldsets = (
        (None, {"fields": ("venue", "label", "external_id", "active", "traders")}),
        (
            "Credentials (write-only)",
            {
                "fields": (
                    "credentials_status",
                    "credentials_updated_at",
                    "api_key",
                    "api_secret",
                    "clear_credentials",
                )
            },
        ),
    )

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"request": request})

    @admin.display(description="Credentials")
    def credentials_status(self, obj: TradingAccount) -> str:
        return "stored (encrypted)" if obj.has_credentials else "none"

    def save_model(
        self, request: HttpRequest, obj: TradingAccount, form: Any, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        data = form.cleaned_data
        if data.get("api_key"):
            trading_account_credentials_set(
                account=obj,
                credentials=Credentials(api_key=data["api_key"], secret=data["api_secret"]),
                actor=request.user,
                request=request,
            )
        elif data.get("clear_credentials") and obj.has_credentials:
            trading_account_credentials_set(
                account=obj, credentials=None, actor=request.user, request=request
            )


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Instrument)
class InstrumentAdmin(ReadOnlyAdmin):
    list_display = (
        "symbol",
        "venue",
        "underlying",
        "kind",
        "strike",
        "expiry",
        "option_type",
        "active",
    )
    list_filter = ("venue", "underlying", "kind", "active")
    search_fields = ("symbol",)
    show_full_result_count = False


@admin.register(SurfaceSnapshot)
class SurfaceSnapshotAdmin(ReadOnlyAdmin):
    list_display = (
        "as_of",
        "venue",
        "underlying",
        "index_price",
        "quote_count",
        "used_count",
        "calendar_ok",
    )
    list_filter = ("venue", "underlying")
    date_hierarchy = "as_of"
    show_full_result_count = False
