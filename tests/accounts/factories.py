"""Small factories and sign-in helpers for the accounts tests.

Codes are computed with pyotp (an independent TOTP implementation), from the secret the
device would show a person, never with our own code generator.
"""

from __future__ import annotations

import re
import time

import pyotp
from django.test import Client

from apps.accounts.models import TotpDevice, User
from apps.accounts.roles import Role, roles_ensure
from apps.accounts.services.backup_codes import backup_codes_regenerate
from apps.accounts.services.mfa import totp_device_provision

PASSWORD = "correct horse battery staple"
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')


def make_user(
    username: str = "alice",
    *,
    roles: tuple[Role, ...] = (Role.VIEWER,),
    password: str = PASSWORD,
    totp: bool = True,
) -> User:
    from django.contrib.auth.models import Group

    roles_ensure()
    user = User.objects.create_user(username=username, password=password)
    user.groups.set(Group.objects.filter(name__in=[r.value for r in roles]))
    if totp:
        totp_device_provision(user=user)
    return user


def device_of(user: User) -> TotpDevice:
    return TotpDevice.objects.get(user=user)


def totp_now(user: User, *, steps_ahead: int = 0) -> str:
    """The code a person's authenticator shows (``steps_ahead`` 30-second steps later)."""
    secret = device_of(user).secret_base32
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def give_backup_codes(user: User) -> list[str]:
    return backup_codes_regenerate(user=user)


def sign_in(
    client: Client, user: User, *, password: str = PASSWORD, code: str | None = None
) -> None:
    """The real two-step sign-in through the views; asserts it succeeded."""
    response = client.post("/accounts/login/", {"username": user.username, "password": password})
    assert response.status_code == 302, response.content.decode()[:500]
    assert response["Location"] == "/accounts/login/code/"
    response = client.post(
        "/accounts/login/code/", {"method": "totp", "code": code or totp_now(user)}
    )
    assert response.status_code == 302, response.content.decode()[:800]


def normalise(html: str) -> str:
    """A page with the per-response CSRF token masked (it differs on every render)."""
    return CSRF_RE.sub('name="csrfmiddlewaretoken" value="…"', html)
