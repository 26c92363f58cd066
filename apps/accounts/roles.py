"""Roles are Django groups with an explicit, closed set of capabilities (permissions).

The capabilities belong to ``accounts.Capability`` (an unmanaged model: no table, only
permissions), so the other apps can check them before their own models exist:
``user.has_perm("accounts.trip_breakers")``. A user may hold several roles; their
capabilities add up.

Traders see only their own trading accounts. The link is owned by the venues app, which
arrives later, as ``TradingAccount.traders = ManyToManyField(AUTH_USER_MODEL,
related_name="trading_accounts")`` (accounts imports no domain app, see DESIGN.md);
``view_all_positions`` lifts that restriction for risk managers.
"""

from __future__ import annotations

import enum
from typing import Any

from django.apps import apps as global_apps


class Role(enum.StrEnum):
    ADMIN = "admin"
    RISK_MANAGER = "risk_manager"
    TRADER = "trader"
    VIEWER = "viewer"


# codename -> human description. Changing this list needs a migration that calls roles_ensure().
CAPABILITIES: dict[str, str] = {
    "manage_users": "Create, deactivate users and reset their MFA",
    "manage_roles": "Assign roles to users",
    "manage_api_keys": "Issue, rotate and revoke API keys",
    "manage_venues": "Configure venues and trading-account credentials",
    "trip_breakers": "Trip circuit breakers",
    "reset_breakers": "Reset circuit breakers",
    "change_limits": "Change risk limits",
    "view_all_positions": "See the positions of every trading account",
    "view_own_positions": "See the positions of one's own trading accounts",
    "view_vol_surfaces": "See implied-volatility surfaces",
    "view_dashboards": "See read-only dashboards",
}

ROLE_CAPABILITIES: dict[Role, frozenset[str]] = {
    Role.ADMIN: frozenset(
        {"manage_users", "manage_roles", "manage_api_keys", "manage_venues", "view_dashboards"}
    ),
    Role.RISK_MANAGER: frozenset(
        {
            "trip_breakers",
            "reset_breakers",
            "change_limits",
            "view_all_positions",
            "view_vol_surfaces",
            "view_dashboards",
        }
    ),
    Role.TRADER: frozenset({"view_own_positions", "view_vol_surfaces", "view_dashboards"}),
    Role.VIEWER: frozenset({"view_dashboards"}),
}

# Roles whose sessions go idle sooner (settings.SESSION_IDLE_SECONDS_PRIVILEGED).
PRIVILEGED_ROLES: frozenset[Role] = frozenset({Role.ADMIN, Role.RISK_MANAGER})

ROLE_LABELS: dict[Role, str] = {
    Role.ADMIN: "Admin (users, roles, API keys)",
    Role.RISK_MANAGER: "Risk manager (breakers, limits, all positions)",
    Role.TRADER: "Trader (own accounts' positions, vol surfaces)",
    Role.VIEWER: "Viewer (read-only dashboards)",
}


def roles_ensure(*, apps: Any = None) -> None:
    """Create or repair the role groups so each holds exactly its capabilities. Idempotent.

    Called by the data migration (with the historical ``apps``) and by tests after a
    transactional flush. Capabilities not in ``CAPABILITIES`` are removed from the groups;
    users' memberships are never touched.
    """
    registry = apps or global_apps
    Group = registry.get_model("auth", "Group")
    Permission = registry.get_model("auth", "Permission")
    ContentType = registry.get_model("contenttypes", "ContentType")

    content_type, _ = ContentType.objects.get_or_create(app_label="accounts", model="capability")
    permissions = {}
    for codename, name in CAPABILITIES.items():
        permission, _ = Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
        permissions[codename] = permission
    for role, codenames in ROLE_CAPABILITIES.items():
        group, _ = Group.objects.get_or_create(name=role.value)
        group.permissions.set([permissions[c] for c in sorted(codenames)])
