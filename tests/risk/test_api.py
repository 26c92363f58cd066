"""GET /api/v1/positions and /api/v1/risk: positions:read, only the key's own accounts."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.risk.services.evaluation import risk_evaluate
from tests.apikeys.factories import issue
from tests.risk.factories import make_limit, sim_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    w = sim_world()
    w.hold("SIM-A", w.instrument("BTC", "call", 1.05), 5, 0.02)
    w.hold("SIM-B", w.instrument("BTC", "put", 0.90, rank=4), 10, 0.03)
    w.hold("SIM-B", w.instrument("ETH", "put", 0.95, rank=3), -15, 0.03)
    return w


def client_for(accounts, scopes=("positions:read",)):
    issued = issue(scopes=list(scopes), accounts=list(accounts))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    return client


def test_positions_of_the_keys_accounts_only(world):
    risk_evaluate()
    response = client_for(["SIM-B"]).get("/api/v1/positions")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2 and {p["account"] for p in body["results"]} == {"SIM-B"}
    assert body["evaluated_at"]
    row = body["results"][0]
    for field in ("symbol", "size", "average_price", "mark", "value_usd", "upnl_usd",
                  "delta_usd", "delta_coin", "gamma_usd", "vega_usd", "theta_usd"):  # fmt: skip
        assert field in row


def test_a_key_bound_to_no_account_sees_nothing(world):
    risk_evaluate()
    body = client_for([]).get("/api/v1/positions").json()
    assert body == {"evaluated_at": body["evaluated_at"], "count": 0, "results": []}
    risk = client_for([]).get("/api/v1/risk").json()
    assert risk["accounts"] == {} and risk["limits"] == []


def test_asking_for_another_account_is_refused(world):
    response = client_for(["SIM-A"]).get("/api/v1/positions?account=SIM-B")
    assert response.status_code == 403 and response.json()["code"] == "forbidden_account"


def test_risk_gives_the_accounts_aggregates_grids_and_their_limits_only(world):
    make_limit(name="a-vega", target="SIM-A", metric="vega_usd", threshold=1e9)
    make_limit(name="b-vega", target="SIM-B", metric="vega_usd", threshold=1e9)
    make_limit(name="book", scope="global", target="", metric="vega_usd", threshold=1e9)
    risk_evaluate()
    body = client_for(["SIM-A"]).get("/api/v1/risk").json()
    assert list(body["accounts"]) == ["SIM-A"]
    account = body["accounts"]["SIM-A"]
    assert set(account["by_underlying"]) == {"BTC"}
    grid = account["by_underlying"]["BTC"]["grid"]
    assert len(grid) == len(body["shocks"]["spot"]) and len(grid[0]) == len(
        body["shocks"]["vol_points"]
    )
    assert [limit["name"] for limit in body["limits"]] == ["a-vega"]
    assert body["limits"][0]["status"] == "ok"


def test_before_any_evaluation_positions_are_valued_on_the_spot(world):
    body = client_for(["SIM-A"]).get("/api/v1/positions").json()
    assert body["count"] == 1 and body["results"][0]["priced"] is True


def test_redis_down_is_a_503(world, settings):
    from apps.venues.services.store import _client

    client = client_for(["SIM-A"])
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    _client.cache_clear()
    try:
        response = client.get("/api/v1/positions")
    finally:
        _client.cache_clear()
    assert response.status_code == 503
    assert response.json()["code"] == "dependency_unavailable"
