"""Demo data. Each app contributes its part here as it lands; every step is idempotent."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from apps.accounts.roles import Role, roles_ensure
from apps.accounts.services.mfa import totp_device_provision
from apps.risk.demo import risk_seed_demo
from apps.venues.demo import venues_seed_demo

# username -> roles. demo-risk2 is the second risk manager for four-eyes approvals.
DEMO_USER_ROLES: dict[str, tuple[Role, ...]] = {
    "demo-admin": (Role.ADMIN,),
    "demo-risk": (Role.RISK_MANAGER,),
    "demo-risk2": (Role.RISK_MANAGER,),
    "demo-trader": (Role.TRADER,),
    "demo-viewer": (Role.VIEWER,),
}
DEMO_USERS = tuple(DEMO_USER_ROLES)


@transaction.atomic
def seed_demo(*, password: str) -> str:
    """Create the demo users (password set again on every run) with their roles and a TOTP
    device each (`manage.py demo_otp USERNAME` prints the current code), and return a summary."""
    from django.contrib.auth.models import Group

    roles_ensure()
    User = get_user_model()
    created = 0
    for username, roles in DEMO_USER_ROLES.items():
        user, was_created = User.objects.get_or_create(username=username)
        user.set_password(password)
        user.is_staff = username == "demo-admin"
        user.is_active = True
        user.must_change_password = False
        user.save()
        user.groups.set(Group.objects.filter(name__in=[r.value for r in roles]))
        totp_device_provision(user=user)
        created += was_created
    summary = f"{len(DEMO_USERS)} users ({created} new) with roles and TOTP devices"
    venues = venues_seed_demo(trader_username="demo-trader")
    # After the venues: the limits' thresholds are set from the seeded book.
    return f"{summary}; {venues}; {risk_seed_demo()}"
