"""A new user enrols, signs out, signs in with TOTP, then with a backup code, and the same
backup code fails the second time: headless Chromium against the real server."""

from __future__ import annotations

import time

import pyotp
import pytest

from apps.accounts.roles import Role
from tests.accounts.factories import PASSWORD, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def _password_step(page, base_url: str, username: str) -> None:
    page.goto(base_url + "/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()


def _sign_out(page) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/accounts/login/")
    assert "You are signed out." in page.content()


def test_enrol_then_totp_then_backup_code_once(live_server_process, page, artifacts_dir):
    base = live_server_process.base_url
    make_user("newbie", roles=(Role.TRADER,), totp=False)

    # First sign-in: forced enrolment with a QR code drawn on the page and the key as text.
    _password_step(page, base, "newbie")
    page.wait_for_url("**/accounts/login/enrol/")
    assert page.locator("svg.qr").is_visible()
    secret = page.locator("#totp-secret").inner_text().strip()
    page.screenshot(path=str(artifacts_dir / "accounts-enrol.png"))
    totp = pyotp.TOTP(secret)
    page.get_by_label("Code from the app").fill(totp.now())
    page.get_by_role("button", name="Confirm and continue").click()
    codes = [c.strip() for c in page.locator("#backup-codes code").all_inner_texts()]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert "shown only now" in page.content()
    page.screenshot(path=str(artifacts_dir / "accounts-backup-codes.png"))
    page.get_by_role("link", name="I have saved them, continue").click()
    assert "newbie" in page.locator(".who").inner_text()  # signed in, on the role's home
    _sign_out(page)

    # Second sign-in: a TOTP code (the next time step: the enrolment code was used once).
    _password_step(page, base, "newbie")
    page.wait_for_url("**/accounts/login/code/")
    page.get_by_label("Code", exact=True).fill(totp.at(time.time() + 30))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base + "/surface/")  # "/" sends a trader to their home page
    assert "newbie" in page.locator(".who").inner_text()
    _sign_out(page)

    # Third: a backup code.
    _password_step(page, base, "newbie")
    page.wait_for_url("**/accounts/login/code/")
    page.get_by_label("Backup code").check()
    page.get_by_label("Code", exact=True).fill(codes[0])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base + "/surface/")  # "/" sends a trader to their home page
    _sign_out(page)

    # Fourth: the same backup code again is refused, and the page says so.
    _password_step(page, base, "newbie")
    page.wait_for_url("**/accounts/login/code/")
    page.get_by_label("Backup code").check()
    page.get_by_label("Code", exact=True).fill(codes[0])
    page.get_by_role("button", name="Sign in").click()
    error = page.get_by_role("alert")
    assert "not accepted" in error.inner_text()
    assert page.url.endswith("/accounts/login/code/")
    page.screenshot(path=str(artifacts_dir / "accounts-backup-code-reused.png"))
