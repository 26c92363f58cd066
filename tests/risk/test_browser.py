"""The risk overview in Chromium on the demo book (real server, real evaluation)."""

from __future__ import annotations

import pytest

from apps.accounts.roles import Role
from apps.risk.demo import risk_seed_demo
from apps.risk.services.evaluation import risk_evaluate
from apps.venues.demo import venues_seed_demo
from tests.accounts.factories import make_user
from tests.support.auth import browser_sign_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_a_risk_manager_reads_positions_limits_and_grids(
    live_server_process, page, artifacts_dir, redis_client
):
    base = live_server_process.base_url
    venues_seed_demo()
    risk_seed_demo()
    risk_evaluate()
    browser_sign_in(page, base, make_user("rita", roles=(Role.RISK_MANAGER,)))
    page.goto(f"{base}/risk/")
    assert page.locator("section.account").count() == 2
    assert page.locator("section.account table.positions tbody tr").count() == 5
    assert page.locator("#limits tbody tr").count() == 7
    assert page.locator("table.scenario-grid").count() == 2  # BTC and ETH, book-wide
    page.screenshot(path=str(artifacts_dir / "risk-overview.png"), full_page=True)
