"""An admin issues a key in Chromium, sees it once, a bot uses it, the admin revokes it."""

import httpx
import pytest

from apps.accounts.roles import Role
from tests.accounts.factories import make_user
from tests.support.auth import browser_sign_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_admin_issues_uses_and_revokes_a_key(
    live_server_process, page, artifacts_dir, redis_client
):
    base = live_server_process.base_url
    admin = make_user("key-admin", roles=(Role.ADMIN,))
    make_user("bot-runner", roles=(Role.TRADER,))
    browser_sign_in(page, base, admin)

    page.goto(f"{base}/keys/new/")
    page.get_by_label("Name").fill("browser-bot")
    page.get_by_label("Owner").select_option(label="bot-runner")
    page.get_by_label("market:read").check()
    page.get_by_role("button", name="Issue key").click()

    warning = page.get_by_text("It will not be shown again", exact=False)
    assert warning.is_visible()
    plaintext = page.locator("#new-key").inner_text().strip()
    assert plaintext.startswith("bwk_")
    page.screenshot(path=str(artifacts_dir / "keys-issued.png"))

    headers = {"Authorization": f"Bearer {plaintext}"}
    me = httpx.get(f"{base}/api/v1/me", headers=headers)
    assert me.status_code == 200 and me.json()["name"] == "browser-bot"

    page.goto(f"{base}/keys/")
    assert plaintext not in page.content()  # shown once, never again
    row = page.locator("#key-table tr", has_text="browser-bot")
    assert "active" in row.inner_text().lower()
    page.screenshot(path=str(artifacts_dir / "keys-list.png"))
    row.get_by_role("link").first.click()
    page.get_by_label("Reason").fill("bot decommissioned")
    page.get_by_role("button", name="Revoke key").click()
    page.wait_for_url(f"{base}/keys/")
    assert page.get_by_text("is revoked", exact=False).is_visible()

    after = httpx.get(f"{base}/api/v1/me", headers=headers)
    assert after.status_code == 401
    assert after.json()["code"] == "key_revoked"
