"""Demo users and demo_otp: usable without a phone, refused unless DEMO=1."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from apps.accounts.models import TotpDevice, User
from apps.accounts.roles import Role
from apps.accounts.services.users import user_roles

pytestmark = pytest.mark.django_db


def test_seed_demo_and_demo_otp_refuse_without_demo(settings):
    settings.DEMO = False
    with pytest.raises(CommandError, match="DEMO=1"):
        call_command("seed_demo")
    with pytest.raises(CommandError, match="DEMO=1"):
        call_command("demo_otp", "demo-admin")
    assert not User.objects.filter(username__startswith="demo-").exists()


def test_demo_users_sign_in_with_demo_otp(settings, monkeypatch):
    settings.DEMO = True
    monkeypatch.setenv("DEMO_PASSWORD", "demo password for tests")
    call_command("seed_demo", stdout=io.StringIO())
    expected = {
        "demo-admin": {Role.ADMIN},
        "demo-risk": {Role.RISK_MANAGER},
        "demo-risk2": {Role.RISK_MANAGER},
        "demo-trader": {Role.TRADER},
        "demo-viewer": {Role.VIEWER},
    }
    for username, roles in expected.items():
        user = User.objects.get(username=username)
        assert user_roles(user=user) == roles
        assert TotpDevice.objects.filter(user=user, confirmed=True).exists()
    seed_before = TotpDevice.objects.get(user__username="demo-risk").encrypted_key
    monkeypatch.setenv("DEMO_PASSWORD", "a changed demo password")
    call_command("seed_demo", stdout=io.StringIO())  # idempotent; password set again
    assert TotpDevice.objects.get(user__username="demo-risk").encrypted_key == seed_before

    out = io.StringIO()
    call_command("demo_otp", "demo-risk", stdout=out, stderr=io.StringIO())
    code = out.getvalue().strip()
    assert code.isdigit() and len(code) == 6
    client = Client()
    response = client.post(
        "/accounts/login/", {"username": "demo-risk", "password": "a changed demo password"}
    )
    assert response["Location"] == "/accounts/login/code/"
    assert client.post("/accounts/login/code/", {"method": "totp", "code": code}).status_code == 302
    assert client.get("/", follow=True).status_code == 200  # "/" leads to the role's home


def test_demo_otp_for_an_unknown_user_says_what_to_do(settings):
    settings.DEMO = True
    with pytest.raises(CommandError, match="seed_demo"):
        call_command("demo_otp", "nobody")
