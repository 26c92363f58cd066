"""Django admin registration, read-only for everything security-relevant.

The admin site needs a verified second factor like every page (apps.accounts.middleware), but
it has no step-up and writes no audit events. So users are created, given roles, deactivated
and reset only through /accounts/users/ (services with audit and step-up); here they can be
looked at, and only names and email edited. Roles (groups) are defined in code
(apps.accounts.roles) and not editable here. Secrets never appear: TOTP seeds are ciphertext,
backup codes hashes, and neither model is registered.
"""

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from apps.accounts.models import User

_SECURITY_FIELDS = (
    "username",
    "password",
    "is_active",
    "is_staff",
    "is_superuser",
    "groups",
    "user_permissions",
    "last_login",
    "date_joined",
    "must_change_password",
    "session_generation",
    "mfa_failure_count",
    "mfa_last_failure_at",
    "mfa_locked_until",
)


@admin.register(User)
class BreakwaterUserAdmin(UserAdmin):
    readonly_fields = _SECURITY_FIELDS
    fieldsets = (
        *UserAdmin.fieldsets,
        (
            "Security",
            {
                "fields": (
                    "must_change_password",
                    "session_generation",
                    "mfa_failure_count",
                    "mfa_last_failure_at",
                    "mfa_locked_until",
                )
            },
        ),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # /accounts/users/new/ (audited, step-up)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deactivate instead: the audit trail keeps referring to the user

    def user_change_password(
        self, request: HttpRequest, id: str, form_url: str = ""
    ) -> HttpResponse:
        raise PermissionDenied("Passwords are set by their owner or a one-time link.")


admin.site.unregister(Group)
