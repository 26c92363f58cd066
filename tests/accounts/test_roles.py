"""Roles are groups with explicit capabilities; several roles add up."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from apps.accounts.roles import CAPABILITIES, ROLE_CAPABILITIES, Role, roles_ensure
from tests.accounts.factories import make_user

pytestmark = pytest.mark.django_db


def _perms(group: Group) -> set[str]:
    return set(group.permissions.values_list("codename", flat=True))


def test_each_role_holds_exactly_its_capabilities():
    for role, capabilities in ROLE_CAPABILITIES.items():
        assert _perms(Group.objects.get(name=role.value)) == capabilities
    assert _perms(Group.objects.get(name="admin")) >= {
        "manage_users",
        "manage_roles",
        "manage_api_keys",
    }
    assert "trip_breakers" not in _perms(Group.objects.get(name="trader"))
    assert _perms(Group.objects.get(name="viewer")) == {"view_dashboards"}


def test_roles_ensure_is_idempotent_and_repairs_drift():
    admin = Group.objects.get(name="admin")
    admin.permissions.clear()
    Group.objects.filter(name="viewer").delete()
    roles_ensure()
    roles_ensure()
    assert _perms(Group.objects.get(name="admin")) == ROLE_CAPABILITIES[Role.ADMIN]
    assert Group.objects.filter(name__in=[r.value for r in Role]).count() == 4


def test_a_user_with_several_roles_has_the_union():
    user = make_user("multi", roles=(Role.TRADER, Role.RISK_MANAGER))
    assert user.has_perm("accounts.trip_breakers")
    assert user.has_perm("accounts.view_own_positions")
    assert not user.has_perm("accounts.manage_users")
    assert set(CAPABILITIES) >= {p.split(".")[1] for p in user.get_all_permissions()}
