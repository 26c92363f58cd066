"""The market-data API as a bot sees it (scope market:read)."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from apps.venues.models import SurfaceSnapshot
from apps.venues.services.polling import venue_poll_chain
from tests.apikeys.factories import issue
from tests.venues.factories import make_sim_venue

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(redis_client) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue(scopes=['market:read']).plaintext}")
    return client


@pytest.fixture
def polled(redis_client):
    venue = make_sim_venue(underlyings=("BTC", "ETH"), config={"bad_quote_rate": 0.05})
    assert venue_poll_chain(venue_id=venue.pk).ok
    return venue


def test_instruments_by_underlying(api, polled):
    body = api.get("/api/v1/instruments", {"underlying": "BTC"}).json()
    assert body["count"] == len(body["results"]) > 50
    first = body["results"][0]
    assert {"symbol", "underlying", "kind", "strike", "expiry", "option_type"} <= set(first)
    assert all(r["underlying"] == "BTC" and r["kind"] == "option" for r in body["results"])
    assert first["expiry"].endswith("Z") and first["option_type"] in ("call", "put")
    assert isinstance(first["strike"], float)
    everything = api.get("/api/v1/instruments").json()
    assert {r["underlying"] for r in everything["results"]} == {"BTC", "ETH"}
    lower = api.get("/api/v1/instruments", {"underlying": "btc"}).json()
    assert lower["count"] == body["count"]


def test_unknown_underlyings_and_venues_are_clear_404s(api, polled):
    for path in ("/api/v1/chains/DOGE", "/api/v1/surfaces/DOGE", "/api/v1/surfaces/x/history"):
        response = api.get(path)
        assert response.status_code == 404
        assert response.json()["code"] == "unknown_underlying"
        assert "detail" in response.json()
    response = api.get("/api/v1/instruments", {"underlying": "DOGE"})
    assert response.status_code == 404 and response.json()["code"] == "unknown_underlying"
    response = api.get("/api/v1/surfaces/BTC", {"venue": "NOPE"})
    assert response.status_code == 404 and response.json()["code"] == "unknown_venue"


def test_a_known_underlying_without_data_yet_is_a_retryable_503(api, redis_client):
    make_sim_venue()
    response = api.get("/api/v1/surfaces/BTC")
    assert response.status_code == 503
    assert response.json()["code"] == "market_data_unavailable"


def test_the_chain_carries_quotes_with_ivs_and_greeks(api, polled):
    body = api.get("/api/v1/chains/BTC").json()
    assert body["venue"] == "SIM" and body["underlying"] == "BTC" and body["stale"] is False
    assert body["price_currency"] == "BTC" and body["price_in_coin"] is True
    assert set(body["dropped"]) == {
        "nan",
        "one_sided",
        "non_positive",
        "crossed",
        "stale",
        "below_intrinsic",
    }
    assert body["count"] == len(body["quotes"]) > 50
    now = timezone.now()
    for quote in body["quotes"]:
        assert quote["bid"] > 0 and quote["ask"] >= quote["bid"]
        if parse_datetime(quote["expiry"]) - now > timedelta(days=1):
            assert 0.05 < quote["iv"] < 3.0, quote  # the simulated surface's range
        else:
            # Minutes from expiry one tick of price is worth hundreds of vol points (seen:
            # 5.6 ten minutes before an 08:00 expiry): positive and finite is what holds.
            assert 0 < quote["iv"] < 100, quote
        assert quote["option_type"] in ("call", "put")
        assert all(math.isfinite(quote[g]) for g in ("delta", "gamma", "vega", "theta"))
        if quote["option_type"] == "call":
            assert 0 < quote["delta"] < 1
        else:
            assert -1 < quote["delta"] < 0
        assert quote["vega"] > 0 and quote["gamma"] > 0
    day = body["quotes"][-1]["expiry"][:10]
    one_day = api.get("/api/v1/chains/BTC", {"expiry": day}).json()
    assert one_day["count"] > 0 and {q["expiry"][:10] for q in one_day["quotes"]} == {day}
    bad = api.get("/api/v1/chains/BTC", {"expiry": "soon"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_request"


def test_the_surface(api, polled):
    body = api.get("/api/v1/surfaces/ETH").json()
    assert body["underlying"] == "ETH" and body["stale"] is False
    assert body["stale_after_seconds"] == 10.0
    assert body["as_of"].endswith("Z")
    assert len(body["slices"]) >= 4
    for s in body["slices"]:
        assert set(s["svi"]) == {"a", "b", "rho", "m", "sigma"}
        assert s["arbitrage"]["butterfly_ok"] is True
        assert s["vol_25d_put"] > 0 and s["atm_vol"] > 0
        assert s["rr25"] == pytest.approx(s["vol_25d_call"] - s["vol_25d_put"], abs=2e-6)
    assert body["arbitrage"]["calendar_ok"] in (True, False)
    grid = body["grid"]
    assert len(grid["iv"]) == len(grid["t"]) and all(
        len(row) == len(grid["k"]) for row in grid["iv"]
    )
    assert min(min(row) for row in grid["iv"]) > 0
    assert body["quotes"]["dropped_total"] == sum(body["quotes"]["dropped"].values())


def test_surface_history_between_two_times(api, polled):
    now = timezone.now()
    body = api.get("/api/v1/surfaces/BTC/history").json()  # default: the last 24 hours
    assert body["count"] == 1 and not body["truncated"]
    snap = body["snapshots"][0]
    assert snap["venue"] == "SIM" and snap["slices"] and "dropped" in snap
    old = SurfaceSnapshot.objects.get(underlying="BTC")
    for hours in (30, 40):  # two older snapshots
        SurfaceSnapshot.objects.create(
            venue=old.venue,
            underlying="BTC",
            bucket=now - timedelta(hours=hours),
            as_of=now - timedelta(hours=hours),
            index_price=1.0,
            quote_count=1,
            used_count=1,
            slices=[],
        )
    window = api.get(
        "/api/v1/surfaces/BTC/history",
        {
            "from": (now - timedelta(hours=45)).isoformat(),
            "to": (now - timedelta(hours=35)).isoformat(),
        },
    ).json()
    assert window["count"] == 1 and window["snapshots"][0]["as_of"].startswith(
        (now - timedelta(hours=40)).strftime("%Y-%m-%dT%H")
    )
    capped = api.get("/api/v1/surfaces/BTC/history", {"from": "2000-01-01", "limit": 2}).json()
    assert capped["count"] == 2 and capped["truncated"] is True
    assert capped["snapshots"][0]["as_of"] < capped["snapshots"][1]["as_of"]
    for params in (
        {"from": "yesterday"},
        {"from": now.isoformat(), "to": "2000-01-01"},
        {"limit": "0"},
    ):
        response = api.get("/api/v1/surfaces/BTC/history", params)
        assert response.status_code == 400 and response.json()["code"] == "invalid_request"


def test_other_scopes_are_refused(redis_client, polled):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue(scopes=['orders:write']).plaintext}")
    response = client.get("/api/v1/surfaces/BTC")
    assert response.status_code == 403 and response.json()["code"] == "insufficient_scope"
    assert APIClient().get("/api/v1/chains/BTC").status_code == 401


def test_the_chain_endpoint_uses_a_bounded_number_of_queries(
    api, polled, django_assert_max_num_queries
):
    with django_assert_max_num_queries(8):
        assert api.get("/api/v1/chains/BTC").status_code == 200
