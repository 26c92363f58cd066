"""The positions page and its JSON: each person sees exactly their accounts' positions with
totals and scenario heatmaps; viewers see nothing; a dead Redis gives a banner, not a 500."""

from __future__ import annotations

import json
import re

import pytest
from django.test import override_settings

from apps.accounts.roles import Role
from apps.risk.services.evaluation import risk_evaluate
from tests.accounts.factories import make_user, sign_in
from tests.risk.factories import sim_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db, redis_client):
    world = sim_world(underlyings=("BTC", "ETH"), accounts=("SIM-A", "SIM-B"))
    world.hold("SIM-A", world.instrument("BTC", "call", 1.05), 5, 0.02)
    world.hold("SIM-A", world.instrument("ETH", "put", 0.95), -3, 0.03)
    world.hold("SIM-B", world.instrument("BTC", "put", 0.9), 2, 0.01)
    assert risk_evaluate() is not None
    return world


def page_data(html: str) -> dict:
    match = re.search(
        r'<script id="positions-data" type="application/json">(.*?)</script>', html, re.S
    )
    assert match
    return json.loads(match.group(1))


def test_a_trader_sees_only_their_own_account(client, world):
    trader = make_user("tia", roles=(Role.TRADER,))
    world.accounts["SIM-A"].traders.add(trader)
    sign_in(client, trader)
    response = client.get("/positions/")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-account="SIM-A"' in html and "SIM-B" not in html
    data = page_data(html)
    [account] = data["accounts"]
    assert account["label"] == "SIM-A" and len(account["positions"]) == 2
    assert {g["underlying"] for g in account["grids"]} == {"BTC", "ETH"}
    heatmap = account["grids"][0]["figure"]
    assert heatmap["data"][0]["type"] == "heatmap"
    assert len(heatmap["data"][0]["z"]) == 13 and len(heatmap["data"][0]["z"][0]) == 9
    # Every cell carries its amount as text (not colour alone); the centre cell is zero.
    assert heatmap["data"][0]["text"][6][4] == "0"
    assert heatmap["layout"]["uirevision"] == "grid:SIM-A:BTC"
    # Rows and totals as shown: signed USD, a Total row.
    assert "Total" in html and account["totals"]["delta"][0] in "+-"
    assert client.get("/positions/data.json").json()["accounts"][0]["label"] == "SIM-A"


def test_a_risk_manager_sees_every_account(client, world):
    sign_in(client, make_user("rob", roles=(Role.RISK_MANAGER,)))
    data = client.get("/positions/data.json").json()
    assert [a["label"] for a in data["accounts"]] == ["SIM-A", "SIM-B"]
    assert [len(a["positions"]) for a in data["accounts"]] == [2, 1]


def test_viewers_are_refused_and_a_trader_without_accounts_is_told(client, world):
    assert client.get("/positions/").status_code == 302
    sign_in(client, make_user("vic", roles=(Role.VIEWER,)))
    assert client.get("/positions/").status_code == 403
    assert client.get("/positions/data.json").status_code == 403
    client.logout()
    sign_in(client, make_user("tom", roles=(Role.TRADER,)))
    html = client.get("/positions/").content.decode()
    assert "No trading account is linked to you." in html
    assert client.get("/positions/data.json").json()["accounts"] == []


def test_the_page_degrades_with_a_banner_when_redis_is_down(client, world):
    trader = make_user("tia", roles=(Role.TRADER,))
    world.accounts["SIM-A"].traders.add(trader)
    sign_in(client, trader)
    with override_settings(REDIS_URL="redis://127.0.0.1:9/0"):
        response = client.get("/positions/")
        data = client.get("/positions/data.json")
    assert response.status_code == 200
    assert re.search(r'id="positions-unavailable" role="status"\s*>', response.content.decode())
    assert data.status_code == 503 and data.json()["code"] == "dependency_unavailable"
