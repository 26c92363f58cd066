"""In Chromium against a real server: a risk manager halts an account from the board, a bot
on another process is refused by the very next check, the second risk manager's approval
resets the global breaker."""

from __future__ import annotations

import pytest

from apps.accounts.roles import Role
from apps.breakers.enforcement import breaker_effective_state
from tests.accounts.factories import make_user
from tests.breakers.factories import trip
from tests.support.auth import browser_sign_in
from tests.venues.factories import make_account, make_sim_venue

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

RED = "rgb(248, 81, 73)"  # --bad in static/css/app.css


def test_a_risk_manager_halts_an_account_from_the_board(
    live_server_process, page, artifacts_dir, redis_client
):
    base = live_server_process.base_url
    venue = make_sim_venue("SIM")
    make_account(venue, "SIM-A")
    rita = make_user("rita", roles=(Role.RISK_MANAGER,))
    browser_sign_in(page, base, rita)

    page.goto(f"{base}/breakers/")
    page.get_by_label("Scope").select_option("account")
    page.get_by_label("Target").fill("SIM-A")
    page.get_by_label("State").select_option("halted")
    page.get_by_label("Reason").fill("desk asked to stop SIM-A")
    page.get_by_role("button", name="Trip breaker").click()
    page.wait_for_url(f"{base}/breakers/")
    assert page.get_by_text("account SIM-A is now HALTED").is_visible()

    state = page.locator('tr[data-target="SIM-A"] .breaker-state')
    assert state.inner_text() == "HALTED"
    assert state.evaluate("el => getComputedStyle(el).color") == RED
    page.screenshot(path=str(artifacts_dir / "breakers-board.png"), full_page=True)
    # Committed by the server process; this process's next check sees it.
    assert breaker_effective_state(account="SIM-A", venue="SIM").state == "halted"


def test_the_global_reset_needs_the_second_risk_managers_approval(
    live_server_process, browser, artifacts_dir, redis_client
):
    base = live_server_process.base_url
    make_sim_venue("SIM")
    alice = make_user("alice", roles=(Role.RISK_MANAGER,))
    bob = make_user("bob", roles=(Role.RISK_MANAGER,))
    breaker = trip("global", "", reason="all stop").breaker

    first = browser.new_context().new_page()
    browser_sign_in(first, base, alice)
    first.goto(f"{base}/breakers/{breaker.pk}/")
    first.get_by_label("Reason").fill("incident closed")
    first.get_by_role("button", name="Request reset").click()
    assert first.get_by_text("a second risk manager must approve it").is_visible()
    assert first.get_by_role("button", name="Approve reset").count() == 0
    assert breaker_effective_state().state == "halted"

    second = browser.new_context().new_page()
    browser_sign_in(second, base, bob)
    second.goto(f"{base}/breakers/{breaker.pk}/")
    second.get_by_role("button", name="Approve reset").click()
    assert second.get_by_text("Approved: global is now ACTIVE").is_visible()
    second.screenshot(path=str(artifacts_dir / "breakers-four-eyes.png"), full_page=True)
    assert breaker_effective_state().state == "active"
    history = second.locator("#breaker-history").inner_text()
    assert "bob (requested by alice)" in history
