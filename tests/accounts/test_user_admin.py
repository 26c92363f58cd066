"""Admin pages: list, create (link or initial password), roles, reset MFA, deactivate."""

from __future__ import annotations

import re

import pyotp
import pytest
from django.test import Client

from apps.accounts.models import User
from apps.accounts.roles import Role
from apps.accounts.services.users import user_roles
from apps.audit.actions import AuditAction
from apps.audit.models import AuditEvent
from tests.accounts.factories import make_user, sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> Client:
    admin = make_user("root", roles=(Role.ADMIN,))
    client = Client()
    sign_in(client, admin)
    return client


def _enrol(client: Client) -> None:
    page = client.get("/accounts/login/enrol/").content.decode()
    secret = re.search(r'id="totp-secret"[^>]*>([A-Z2-7]+)<', page).group(1)
    done = client.post("/accounts/login/enrol/", {"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200 and "backup codes" in done.content.decode()


def test_only_admins_see_the_user_pages():
    viewer = make_user("view", roles=(Role.VIEWER,))
    risk = make_user("risk", roles=(Role.RISK_MANAGER,))
    for user in (viewer, risk):
        client = Client()
        sign_in(client, user)
        assert client.get("/accounts/users/").status_code == 403
        target = f"/accounts/users/{user.pk}/deactivate/"
        assert client.post(target).status_code == 403


def test_list_shows_users_roles_and_mfa_state(admin_client):
    make_user("bob", roles=(Role.TRADER,), totp=False)
    page = admin_client.get("/accounts/users/").content.decode()
    assert "bob" in page and "trader" in page and "not set up" in page and "enrolled" in page


def test_create_with_a_one_time_link(admin_client):
    response = admin_client.post(
        "/accounts/users/new/",
        {"username": "carol", "roles": ["trader"], "onboarding": "link"},
    )
    page = response.content.decode()
    assert response.status_code == 200
    link = re.search(r'id="set-password-link">([^<]+)<', page).group(1)
    path = link.split("testserver", 1)[1]
    carol = User.objects.get(username="carol")
    assert not carol.has_usable_password() and user_roles(user=carol) == {Role.TRADER}
    assert AuditEvent.objects.get(action=AuditAction.USER_CREATED).target_id == str(carol.pk)

    newcomer = Client()
    new_password = "carol's own long passphrase"
    assert newcomer.get(path).status_code == 200  # the link needs no session and no factor
    done = newcomer.post(path, {"new_password1": new_password, "new_password2": new_password})
    assert done["Location"] == "/accounts/login/"
    assert newcomer.get(path).status_code == 404  # used once, then dead
    first = newcomer.post("/accounts/login/", {"username": "carol", "password": new_password})
    assert first["Location"] == "/accounts/login/enrol/"
    _enrol(newcomer)
    assert newcomer.get("/", follow=True).status_code == 200


def test_create_with_an_initial_password_that_must_be_changed(admin_client):
    initial = "temporary passphrase 2024"
    admin_client.post(
        "/accounts/users/new/",
        {
            "username": "dave",
            "roles": ["viewer"],
            "onboarding": "password",
            "initial_password": initial,
        },
    )
    dave = Client()
    assert dave.post("/accounts/login/", {"username": "dave", "password": initial})[
        "Location"
    ].endswith("/enrol/")
    _enrol(dave)
    forced = dave.get("/")
    assert forced.status_code == 302 and forced["Location"] == "/accounts/password/"
    assert "initial password" in dave.get("/accounts/password/").content.decode()
    changed = dave.post(
        "/accounts/password/",
        {
            "old_password": initial,
            "new_password1": "dave's own long passphrase",
            "new_password2": "dave's own long passphrase",
        },
    )
    assert changed["Location"] == "/"
    assert dave.get("/", follow=True).status_code == 200


def test_create_refuses_a_weak_initial_password_and_a_duplicate_username(admin_client):
    weak = admin_client.post(
        "/accounts/users/new/",
        {"username": "erin", "onboarding": "password", "initial_password": "short"},
    )
    assert weak.status_code == 200 and "too short" in weak.content.decode()
    dup = admin_client.post("/accounts/users/new/", {"username": "ROOT", "onboarding": "link"})
    assert "already exists" in dup.content.decode()
    assert not User.objects.filter(username="erin").exists()


def test_reset_mfa_deactivate_and_reactivate_from_the_user_page(admin_client):
    bob = make_user("bob")
    detail = admin_client.get(f"/accounts/users/{bob.pk}/").content.decode()
    assert "Reset MFA" in detail and "Deactivate" in detail
    admin_client.post(f"/accounts/users/{bob.pk}/reset-mfa/")
    assert "not set up" in admin_client.get(f"/accounts/users/{bob.pk}/").content.decode()
    admin_client.post(f"/accounts/users/{bob.pk}/deactivate/")
    bob.refresh_from_db()
    assert not bob.is_active
    admin_client.post(f"/accounts/users/{bob.pk}/reactivate/")
    bob.refresh_from_db()
    assert bob.is_active
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {
        AuditAction.MFA_RESET,
        AuditAction.USER_DEACTIVATED,
        AuditAction.USER_REACTIVATED,
    } <= actions


def test_an_admin_cannot_deactivate_themselves(admin_client):
    root = User.objects.get(username="root")
    response = admin_client.post(f"/accounts/users/{root.pk}/deactivate/", follow=True)
    assert "cannot deactivate yourself" in response.content.decode()
    root.refresh_from_db()
    assert root.is_active


def test_the_nav_shows_users_only_to_admins(admin_client):
    assert 'href="/accounts/users/"' in admin_client.get("/", follow=True).content.decode()
    viewer = make_user("view")
    client = Client()
    sign_in(client, viewer)
    assert 'href="/accounts/users/"' not in client.get("/", follow=True).content.decode()


def test_the_django_admin_cannot_change_security_fields_around_the_audit(admin_client):
    root = User.objects.get(username="root")
    root.is_staff = True
    root.is_superuser = True
    root.save(update_fields=["is_staff", "is_superuser"])
    bob = make_user("bob")
    assert admin_client.get(f"/admin/accounts/user/{bob.pk}/change/").status_code == 200
    admin_client.post(
        f"/admin/accounts/user/{bob.pk}/change/",
        {"first_name": "Bob", "is_active": "", "groups": ["1"], "is_superuser": "on"},
    )
    bob.refresh_from_db()
    assert bob.is_active and not bob.is_superuser
    assert admin_client.get(f"/admin/accounts/user/{bob.pk}/password/").status_code == 403
    assert admin_client.get("/admin/accounts/user/add/").status_code == 403
    assert admin_client.get("/admin/auth/group/").status_code == 404
