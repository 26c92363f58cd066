"""Signing in to a real server over HTTP (httpx), for end-to-end tests of any app.

user = make_user("ws-user", roles=(Role.RISK_MANAGER,))      # tests.accounts.factories
client = sign_in_over_http(base_url, user)                   # password + TOTP, like a person
cookie = f"sessionid={client.cookies['sessionid']}"
"""

from __future__ import annotations

import time

import httpx
import pyotp

from apps.accounts.models import TotpDevice, User
from tests.accounts.factories import PASSWORD

_used_steps: dict[int, int] = {}


def _fresh_code(user: User) -> str:
    """A code for a time step this helper has not used yet for the user (codes work once)."""
    secret = TotpDevice.objects.get(user=user).secret_base32
    step = int(time.time() // 30)
    offset = 1 if _used_steps.get(user.pk, -1) >= step else 0
    _used_steps[user.pk] = step + offset
    return pyotp.TOTP(secret).at(time.time() + 30 * offset)


def sign_in_over_http(base_url: str, user: User, *, password: str = PASSWORD) -> httpx.Client:
    """Password, then TOTP; returns a client holding the signed-in session cookie."""
    client = httpx.Client(base_url=base_url, follow_redirects=False)
    referer = {"Referer": f"{base_url}/accounts/login/"}
    client.get("/accounts/login/")
    response = client.post(
        "/accounts/login/",
        data={
            "username": user.get_username(),
            "password": password,
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
        },
        headers=referer,
    )
    assert response.status_code == 302, response.text[:500]
    response = client.post(
        "/accounts/login/code/",
        data={
            "method": "totp",
            "code": _fresh_code(user),
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
        },
        headers=referer,
    )
    assert response.status_code == 302, response.text[:800]
    return client
