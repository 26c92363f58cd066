"""Session lifetimes, and sessions ending on MFA reset, deactivation and password change."""

from __future__ import annotations

import time

import pytest
from django.test import Client

from apps.accounts.roles import Role
from apps.accounts.services.mfa import mfa_reset
from apps.accounts.services.sessions import AUTH_AT, SEEN_AT
from apps.accounts.services.users import user_deactivate
from apps.audit.actions import AuditAction
from apps.audit.models import AuditEvent
from config.env import read_env
from tests.accounts.factories import PASSWORD, make_user, sign_in, totp_now

pytestmark = pytest.mark.django_db


def _set(client: Client, key: str, value: float) -> None:
    session = client.session
    session[key] = value
    session.save()


def _signed_out(client: Client) -> bool:
    response = client.get("/")
    return response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_mfa_reset_ends_every_session_and_forces_enrolment_again():
    admin = make_user("root", roles=(Role.ADMIN,))
    bob = make_user("bob")
    phone, laptop = Client(), Client()
    sign_in(phone, bob)
    sign_in(laptop, bob, code=totp_now(bob, steps_ahead=1))
    mfa_reset(user=bob, actor=admin, request=None)
    assert _signed_out(phone) and _signed_out(laptop)
    response = Client().post("/accounts/login/", {"username": "bob", "password": PASSWORD})
    assert response["Location"] == "/accounts/login/enrol/"
    event = AuditEvent.objects.get(action=AuditAction.MFA_RESET)
    assert (event.actor_label, event.target_id) == ("root", str(bob.pk))


def test_deactivation_ends_every_session_and_blocks_sign_in():
    admin = make_user("root", roles=(Role.ADMIN,))
    bob = make_user("bob")
    client = Client()
    sign_in(client, bob)
    user_deactivate(user=bob, actor=admin, request=None)
    assert _signed_out(client)
    response = Client().post("/accounts/login/", {"username": "bob", "password": PASSWORD})
    assert response.status_code == 200 and "not accepted" in response.content.decode()
    assert AuditEvent.objects.filter(action=AuditAction.USER_DEACTIVATED).count() == 1


def test_a_password_change_ends_the_other_sessions_but_keeps_this_one():
    bob = make_user("bob")
    here, elsewhere = Client(), Client()
    sign_in(here, bob)
    sign_in(elsewhere, bob, code=totp_now(bob, steps_ahead=1))
    response = here.post(
        "/accounts/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "a brand new passphrase 42",
            "new_password2": "a brand new passphrase 42",
        },
    )
    assert response.status_code == 302
    assert here.get("/", follow=True).status_code == 200
    assert _signed_out(elsewhere)
    assert AuditEvent.objects.filter(action=AuditAction.PASSWORD_CHANGED).count() == 1


def test_idle_timeout_is_shorter_for_admin_and_risk_roles(settings):
    assert settings.SESSION_IDLE_SECONDS_PRIVILEGED == 900
    assert settings.SESSION_IDLE_SECONDS == 1800
    risk = make_user("risk", roles=(Role.RISK_MANAGER,))
    viewer = make_user("view", roles=(Role.VIEWER,))
    risk_client, viewer_client = Client(), Client()
    sign_in(risk_client, risk)
    sign_in(viewer_client, viewer)
    idle_for = time.time() - 16 * 60
    _set(risk_client, SEEN_AT, idle_for)
    _set(viewer_client, SEEN_AT, idle_for)
    assert viewer_client.get("/", follow=True).status_code == 200
    assert _signed_out(risk_client)
    login_page = risk_client.get("/accounts/login/").content.decode()
    assert "signed out after 15 minutes without activity" in login_page
    _set(viewer_client, SEEN_AT, time.time() - 31 * 60)
    assert _signed_out(viewer_client)


def test_absolute_lifetime_ends_even_an_active_session(settings):
    viewer = make_user("view")
    client = Client()
    sign_in(client, viewer)
    _set(client, AUTH_AT, time.time() - settings.SESSION_ABSOLUTE_SECONDS - 1)
    assert _signed_out(client)
    assert "maximum length" in client.get("/accounts/login/").content.decode()


def test_sign_out_ends_the_session_and_is_audited():
    viewer = make_user("view")
    client = Client()
    sign_in(client, viewer)
    response = client.post("/accounts/logout/")
    assert response["Location"] == "/accounts/login/"
    assert _signed_out(client)
    assert AuditEvent.objects.filter(action=AuditAction.LOGGED_OUT).count() == 1


def test_production_cookies_are_secure_httponly_and_samesite(settings):
    env = read_env(
        {"SECRET_KEY": "x" * 40, "DATABASE_URL": "postgres://h/db", "REDIS_URL": "redis://h"}
    )
    assert env.secure_cookies is True  # base.py sets SESSION/CSRF_COOKIE_SECURE from this
    assert env.session_idle_seconds_privileged == 900 and env.session_absolute_seconds == 43200
    assert settings.SESSION_COOKIE_HTTPONLY is True
    assert settings.SESSION_COOKIE_SAMESITE == "Lax" and settings.CSRF_COOKIE_SAMESITE == "Lax"
    assert settings.SESSION_COOKIE_AGE == settings.SESSION_ABSOLUTE_SECONDS


def test_lifetimes_are_configurable_from_the_environment():
    env = read_env(
        {
            "DEBUG": "1",
            "SESSION_IDLE_SECONDS": "60",
            "SESSION_IDLE_SECONDS_PRIVILEGED": "30",
            "SESSION_ABSOLUTE_SECONDS": "3600",
            "LOGIN_FAILURE_LIMIT": "3",
            "MFA_STEP_UP_SECONDS": "120",
        }
    )
    assert (env.session_idle_seconds, env.session_idle_seconds_privileged) == (60, 30)
    assert (env.session_absolute_seconds, env.login_failure_limit) == (3600, 3)
    assert env.mfa_step_up_seconds == 120


def test_websocket_consumers_can_check_the_same_session_rules():
    from apps.accounts.services.sessions import session_is_signed_in_with_mfa

    viewer = make_user("view")
    client = Client()
    assert not session_is_signed_in_with_mfa(session=client.session)
    sign_in(client, viewer)
    assert session_is_signed_in_with_mfa(session=client.session)
    _set(client, SEEN_AT, time.time() - 31 * 60)
    assert not session_is_signed_in_with_mfa(session=client.session)
