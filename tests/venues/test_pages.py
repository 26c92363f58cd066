"""The market page: who may see it, what it shows, and that it updates live in a browser."""

from __future__ import annotations

import re
import time

import pytest

from apps.accounts.roles import Role
from apps.venues.services.polling import venue_poll_chain
from tests.accounts.factories import make_user, sign_in
from tests.support.auth import browser_sign_in
from tests.venues.factories import make_sim_venue


@pytest.fixture
def polled(db, redis_client):
    venue = make_sim_venue(underlyings=("BTC", "ETH"), config={"bad_quote_rate": 0.05})
    assert venue_poll_chain(venue_id=venue.pk).ok
    return venue


@pytest.mark.django_db
def test_traders_and_risk_managers_see_the_market_viewers_do_not(client, polled):
    assert client.get("/market/").status_code == 302  # anonymous: to the login page
    viewer = make_user("vic", roles=(Role.VIEWER,))
    sign_in(client, viewer)
    assert client.get("/market/").status_code == 403
    assert client.get("/market/live.json").status_code == 403
    client.logout()
    for username, role in (("tia", Role.TRADER), ("rob", Role.RISK_MANAGER)):
        sign_in(client, make_user(username, roles=(role,)))
        assert client.get("/market/").status_code == 200
        client.logout()


@pytest.mark.django_db
def test_the_page_shows_each_underlying_its_smiles_drops_and_venue_health(client, polled):
    sign_in(client, make_user("tia", roles=(Role.TRADER,)))
    html = client.get("/market/").content.decode()
    for text in ('data-underlying="BTC"', 'data-underlying="ETH"', "ATM vol", "25d RR", "Dropped"):
        assert text in html
    assert "crossed" in html and "STALE" not in html
    assert '<script src="/static/js/market.js" defer></script>' in html
    assert "<script>" not in html  # no inline script
    live = client.get("/market/live.json").json()
    assert [m["underlying"] for m in live["markets"]] == ["BTC", "ETH"]
    btc = live["markets"][0]
    assert btc["available"] and not btc["stale"] and btc["venue"] == "SIM"
    assert btc["expiries"] and btc["expiries"][0][2].endswith("%")
    assert live["venues"][0][:3] == ["SIM", "simulated", "ok"]


@pytest.mark.django_db
def test_stale_market_data_is_marked(client, redis_client):
    venue = make_sim_venue(stale_after_seconds=0.3)
    venue_poll_chain(venue_id=venue.pk)
    time.sleep(0.5)
    sign_in(client, make_user("tia", roles=(Role.TRADER,)))
    html = client.get("/market/").content.decode()
    assert "STALE" in html
    live = client.get("/market/live.json").json()
    assert live["markets"][0]["stale"] is True
    assert live["venues"][0][2] == "stale"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_browser_page_updates_as_new_chains_arrive(
    live_server_process, page, redis_client, artifacts_dir
):
    venue = make_sim_venue(underlyings=("BTC", "ETH"), stale_after_seconds=60)
    venue_poll_chain(venue_id=venue.pk)
    trader = make_user("tia", roles=(Role.TRADER,))
    browser_sign_in(page, live_server_process.base_url, trader)
    page.goto(f"{live_server_process.base_url}/market/")
    btc = page.locator('section[data-underlying="BTC"]')
    assert page.locator('section[data-underlying="ETH"]').count() == 1
    first_as_of = btc.locator("dd.as-of").inner_text()
    assert btc.locator("table.expiries tbody tr").count() >= 4
    time.sleep(1.1)
    venue_poll_chain(venue_id=venue.pk)  # a new chain arrives (as beat would bring it)
    page.wait_for_function(
        "([before]) => document.querySelector('section[data-underlying=\"BTC\"] dd.as-of')"
        ".textContent.slice(0, 8) !== before.slice(0, 8)",
        arg=[first_as_of],
        timeout=10_000,
    )
    assert page.locator(".stale-marker").count() == 0
    assert page.locator("#venue-health tbody tr").first.inner_text().startswith("SIM")
    page.screenshot(path=str(artifacts_dir / "venues-market-page.png"), full_page=True)


@pytest.mark.django_db
def test_the_page_degrades_with_a_banner_when_redis_is_down(client, polled):
    from django.test import override_settings

    sign_in(client, make_user("tia", roles=(Role.TRADER,)))
    with override_settings(REDIS_URL="redis://127.0.0.1:9/0"):  # nothing listens there
        response = client.get("/market/")
        live = client.get("/market/live.json").json()
    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'id="market-warning"\s*>', html)  # shown, not hidden
    assert "market-data store is unavailable" in html
    assert live["store_available"] is False and live["markets"] == []
