"""Issue test 5 in Chromium on a real server: signing out in one tab ends the other tab's live
socket within 5 s, and that tab's live indicator says so in words (the socket-level version
is tests/realtime/test_live_server.py)."""

from __future__ import annotations

import time

import pytest

from apps.accounts.roles import Role, roles_ensure
from tests.accounts.factories import make_user
from tests.support.auth import browser_sign_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_signing_out_in_one_tab_shows_signed_out_in_the_other(
    live_server_process, browser, artifacts_dir, redis_client
):
    roles_ensure()
    base = live_server_process.base_url
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    first = context.new_page()
    browser_sign_in(first, base, make_user("rita", roles=(Role.RISK_MANAGER,)))
    first.goto(base + "/overview/")
    second = context.new_page()  # same browser, same session cookie: a second tab
    second.goto(base + "/overview/")
    for tab in (first, second):
        tab.locator("#live-status[data-state='live']").wait_for(timeout=10_000)
        assert tab.locator("#live-status").inner_text() == "Live"

    started = time.monotonic()
    first.get_by_role("button", name="Sign out").click()
    first.wait_for_url("**/accounts/**")
    indicator = second.locator("#live-status")
    second.locator("#live-status[data-state='signed_out']").wait_for(timeout=5_000)
    elapsed = time.monotonic() - started
    assert elapsed < 5, elapsed
    assert indicator.inner_text() == "Signed out: reload to sign in"
    assert indicator.get_attribute("role") == "status"
    # It stays signed out (no reconnect loop) and the panels are dimmed, not emptied.
    second.wait_for_timeout(1_500)
    assert indicator.get_attribute("data-state") == "signed_out"
    assert second.locator("#live-panels").get_attribute("data-live") == "signed_out"
    assert second.locator("#overview-breakers").is_visible()
    second.screenshot(path=str(artifacts_dir / "overview-signed-out.png"), full_page=True)
    context.close()
