"""The vol-surface page and its figures JSON: who may see them, what they show, bad input,
missing data and a dead Redis; and that plotly.js is served from our own static files."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings

from apps.accounts.roles import Role
from apps.venues.services.polling import venue_poll_chain
from tests.accounts.factories import make_user, sign_in
from tests.venues.factories import make_sim_venue

pytestmark = pytest.mark.django_db


@pytest.fixture
def polled(db, redis_client):
    venue = make_sim_venue(underlyings=("BTC", "ETH"), stale_after_seconds=60)
    assert venue_poll_chain(venue_id=venue.pk).ok
    return venue


@pytest.fixture
def trader_client(client):
    sign_in(client, make_user("tia", roles=(Role.TRADER,)))
    return client


def page_data(html: str) -> dict:
    match = re.search(
        r'<script id="surface-data" type="application/json">(.*?)</script>', html, re.S
    )
    assert match, "figure data not embedded"
    return json.loads(match.group(1))


def test_traders_and_risk_managers_see_the_surface_viewers_do_not(client, polled):
    assert client.get("/surface/").status_code == 302  # anonymous: to the login page
    sign_in(client, make_user("vic", roles=(Role.VIEWER,)))
    assert client.get("/surface/").status_code == 403
    assert client.get("/surface/figures.json").status_code == 403
    client.logout()
    for username, role in (("tia", Role.TRADER), ("rob", Role.RISK_MANAGER)):
        sign_in(client, make_user(username, roles=(role,)))
        assert client.get("/surface/").status_code == 200
        assert client.get("/surface/figures.json?underlying=ETH").status_code == 200
        client.logout()


def test_the_page_embeds_every_figure_and_the_facts_of_the_served_surface(trader_client, polled):
    response = trader_client.get("/surface/")
    html = response.content.decode()
    assert response.status_code == 200
    # The selector lists both underlyings; BTC (the first) is shown by default.
    assert '<option value="BTC" selected>' in html and '<option value="ETH">' in html
    data = page_data(html)
    assert data["available"] and data["underlying"] == "BTC"
    assert set(data["figures"]) == {"surface-3d", "smiles", "term-structure", "skew"}
    surface = data["figures"]["surface-3d"]
    assert surface["data"][0]["type"] == "surface"
    assert len(surface["data"][0]["z"]) >= 2  # rows of the grid (expiries)
    for name, figure in data["figures"].items():
        assert figure["layout"]["uirevision"].endswith(":BTC"), name
    smiles = data["figures"]["smiles"]["data"]
    assert {t["name"] for t in smiles} == {"bid IV", "ask IV", "SVI fit"}
    facts = data["facts"]
    assert facts["venue"] == "SIM" and facts["stale"] is False and len(facts["expiries"]) >= 4
    assert "STALE" in html and re.search(r'id="surface-stale"[^>]*hidden', html)
    # Scripts are files from our own origin; the only inline <script> is JSON data.
    scripts = re.findall(r"<script[^>]*>", html)
    assert '<script src="/static/vendor/plotly.min.js" defer>' in scripts
    assert all("src=" in s or 'type="application/json"' in s for s in scripts)
    assert "cdn" not in html.lower()


def test_the_figures_json_follows_the_underlying_asked_for(trader_client, polled):
    body = trader_client.get("/surface/figures.json?underlying=eth").json()
    assert body["underlying"] == "ETH" and body["available"] is True
    assert body["facts"]["underlying"] == "ETH"
    assert body["figures"]["term-structure"]["layout"]["uirevision"] == "term:ETH"
    assert body["stale_after_ms"] == 60_000 and body["server_now_ms"] > 0


@pytest.mark.parametrize("raw", ["DOGE", "<script>alert(1)</script>", "b" * 300, "BTC;DROP"])
def test_an_unknown_underlying_gives_a_clear_message_not_an_error(trader_client, polled, raw):
    response = trader_client.get("/surface/", {"underlying": raw})
    assert response.status_code == 404
    html = response.content.decode()
    assert "Unknown underlying" in html and "Choose one of: BTC, ETH." in html
    assert "<script>alert" not in html  # escaped
    body = trader_client.get("/surface/figures.json", {"underlying": raw}).json()
    assert body["code"] == "unknown_underlying" and "BTC, ETH" in body["detail"]


def test_before_the_first_fit_the_page_says_it_is_waiting(trader_client, redis_client):
    make_sim_venue(underlyings=("BTC",))
    response = trader_client.get("/surface/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "No surface for BTC yet" in html
    assert page_data(html)["available"] is False
    assert trader_client.get("/surface/figures.json").json()["reason"] == "no_data"


def test_a_surface_older_than_the_venue_allows_is_marked_stale(trader_client, redis_client):
    venue = make_sim_venue(underlyings=("BTC",), stale_after_seconds=0.3)
    assert venue_poll_chain(venue_id=venue.pk).ok
    time.sleep(0.5)
    html = trader_client.get("/surface/").content.decode()
    assert re.search(r'id="surface-stale"[^>]*>STALE', html)
    assert not re.search(r'id="surface-stale"[^>]*hidden', html)
    assert page_data(html)["facts"]["stale"] is True


def test_the_page_degrades_with_a_banner_when_redis_is_down(trader_client, polled):
    with override_settings(REDIS_URL="redis://127.0.0.1:9/0"):  # nothing listens there
        response = trader_client.get("/surface/")
        figures = trader_client.get("/surface/figures.json")
    assert response.status_code == 200
    assert "market-data store is unavailable" in response.content.decode()
    assert figures.status_code == 503 and figures.json()["code"] == "dependency_unavailable"


def test_plotly_js_is_served_from_our_static_files(trader_client):
    response = trader_client.get("/static/vendor/plotly.min.js")
    assert response.status_code == 200
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert len(body) > 1_000_000 and b"plotly.js" in body[:2000]


def test_collectstatic_picks_up_plotly_js(tmp_path: Path):
    with override_settings(STATIC_ROOT=tmp_path):
        call_command("collectstatic", interactive=False, verbosity=0)
    copied = tmp_path / "vendor" / "plotly.min.js"
    assert copied.is_file() and copied.stat().st_size > 1_000_000
    assert (tmp_path / "js" / "surface.js").is_file()
