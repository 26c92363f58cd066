"""The positions page in Chromium on the demo book, kept live by a real Celery worker and beat
(position polls and risk evaluations): a trader sees their account's table, totals and
scenario heatmaps, and the figures refresh without a reload. Screenshot:
docs/screenshots/positions.png (and test-artifacts/)."""

from __future__ import annotations

import pytest

from apps.accounts.roles import Role
from apps.risk.demo import risk_seed_demo
from apps.risk.services.evaluation import risk_evaluate
from apps.venues.demo import venues_seed_demo
from tests.accounts.factories import make_user
from tests.support.auth import browser_sign_in
from tests.support.browser import docs_screenshot
from tests.support.servers import celery_worker_and_beat

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_a_trader_watches_their_positions_and_scenario_heatmaps_update(
    live_server_process, page, artifacts_dir, redis_client, tmp_path
):
    base = live_server_process.base_url
    trader = make_user("demo-trader", roles=(Role.TRADER,))
    venues_seed_demo(trader_username=trader.username)  # links the trader to SIM-A
    risk_seed_demo()
    assert risk_evaluate() is not None
    browser_sign_in(page, base, trader)
    page.goto(f"{base}/positions/")
    accounts = page.locator("section.account-block")
    assert accounts.count() == 1 and accounts.first.get_attribute("data-account") == "SIM-A"
    rows = page.locator("section.account-block table.positions tbody tr")
    assert rows.count() >= 1 and "unpriced" not in rows.first.inner_text()
    assert page.locator("tr.totals th").inner_text() == "Total"
    grids = page.locator("figure.scenario")
    assert grids.count() >= 1
    page.wait_for_selector("figure.scenario .heatmaplayer")
    # Each heatmap cell carries its amount as text, so losses read without the colours.
    assert page.locator("figure.scenario g.heatmap-label text").count() >= 13 * 9
    page.wait_for_function("document.getElementById('live-status').dataset.state === 'live'")
    first = page.locator("#positions-evaluated").inner_text()
    page.evaluate("window.__sameDocument = true")

    with celery_worker_and_beat(tmp_path):
        page.wait_for_function(
            "Number(document.getElementById('positions-page').dataset.updates) >= 2",
            timeout=90_000,
        )
        assert page.evaluate("window.__sameDocument") is True
        assert page.locator("#positions-evaluated").inner_text() != first
        assert page.locator("#live-status").inner_text() == "Live"
        assert page.locator("figure.scenario .heatmaplayer").count() == grids.count()
        docs_screenshot(page, "positions")
