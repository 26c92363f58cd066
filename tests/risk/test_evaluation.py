"""Risk evaluation on the real stack: the simulated venue's chains in Redis, positions in
PostgreSQL, limits that trip breakers."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from apps.audit.actions import AuditAction
from apps.audit.models import AuditEvent
from apps.breakers.enforcement import breaker_effective_state
from apps.breakers.models import Breaker
from apps.pricing.black76 import black76
from apps.pricing.surface import total_variance_at
from apps.pricing.svi import SVIParams
from apps.risk.models import LimitUtilisation
from apps.risk.order_metrics import register_order_metrics
from apps.risk.services.evaluation import risk_evaluate
from apps.risk.snapshots import snapshot_read
from apps.venues.services import store
from tests.risk.factories import make_limit, sim_world
from tests.support.servers import ROOT

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    w = sim_world()
    w.hold("SIM-A", w.instrument("BTC", "call", 1.05), 5, 0.02)
    w.hold("SIM-A", w.instrument("BTC", "put", 0.95), -3, 0.01)
    w.hold("SIM-A", w.instrument("ETH", "call", 1.10, rank=4), 20, 0.02)
    w.hold("SIM-B", w.instrument("BTC", "put", 0.90, rank=4), 10, 0.03)
    w.hold("SIM-B", w.instrument("ETH", "put", 0.95, rank=3), -15, 0.03)
    return w


def test_positions_are_marked_with_the_latest_chain(world):
    snapshot = risk_evaluate().snapshot
    chain = store.chain_read("SIM", "BTC")
    marks = dict(zip(chain.columns["symbol"], chain.columns["mark"], strict=True))
    forwards = dict(zip(chain.columns["symbol"], chain.columns["forward"], strict=True))
    rows = [p for p in snapshot["positions"] if p["underlying"] == "BTC"]
    assert len(rows) == 3
    for p in rows:
        assert p["priced"] and p["mark_source"] == "venue" and p["priced_by"] == "SIM"
        assert p["mark"] == pytest.approx(marks[p["symbol"]], rel=1e-9)
        n = p["size"]
        assert p["value_usd"] == pytest.approx(n * p["mark"] * p["forward"], rel=1e-6)
        assert p["upnl_coin"] == pytest.approx(n * (p["mark"] - p["average_price"]), rel=1e-6)
        assert p["forward"] == pytest.approx(forwards[p["symbol"]], rel=1e-6)
        for greek in ("delta", "gamma", "vega", "theta"):
            assert p[f"{greek}_usd"] is not None and p[f"{greek}_coin"] is not None


def test_aggregates_per_account_underlying_expiry_and_book_are_sums_of_positions(world):
    snapshot = risk_evaluate().snapshot
    positions = snapshot["positions"]

    def total(rows, name):
        return sum(p[name] for p in rows)

    for name in ("delta_usd", "gamma_usd", "vega_usd", "theta_usd", "upnl_usd", "value_usd"):
        assert snapshot["book"]["totals"][name] == pytest.approx(total(positions, name))
        for label, account in snapshot["accounts"].items():
            mine = [p for p in positions if p["account"] == label]
            assert account["totals"][name] == pytest.approx(total(mine, name))
            for und, per in account["by_underlying"].items():
                rows = [p for p in mine if p["underlying"] == und]
                assert per["totals"][name] == pytest.approx(total(rows, name))
            for bucket, per in account["by_expiry"].items():
                rows = [p for p in mine if p["expiry_bucket"] == bucket]
                assert per[name] == pytest.approx(total(rows, name))
        for bucket, per in snapshot["book"]["by_expiry"].items():
            rows = [p for p in positions if p["expiry_bucket"] == bucket]
            assert per[name] == pytest.approx(total(rows, name))
        for und, per in snapshot["underlyings"].items():
            rows = [p for p in positions if p["underlying"] == und]
            assert per["totals"][name] == pytest.approx(total(rows, name))
            if name not in ("upnl_usd", "value_usd"):  # coin Greeks add up within one coin
                coin = name.replace("_usd", "_coin")
                assert per["totals"][coin] == pytest.approx(total(rows, coin))


def test_the_stored_grid_matches_a_direct_revaluation_on_the_stored_surface(world):
    snapshot = risk_evaluate().snapshot
    surface = store.surface_read("SIM", "BTC")
    chain = store.chain_read("SIM", "BTC")
    as_of = chain.meta["as_of_ms"]
    slices = sorted(
        (s["t"], SVIParams(*(s["svi"][k] for k in ("a", "b", "rho", "m", "sigma"))))
        for s in surface["slices"]
    )
    spots = snapshot["shocks"]["spot"]
    vols = [v / 100 for v in snapshot["shocks"]["vol_points"]]
    grid = snapshot["underlyings"]["BTC"]["grid"]
    rows = [p for p in snapshot["positions"] if p["underlying"] == "BTC"]

    def value(p, spot_shock, vol_shock):
        from datetime import datetime

        expiry = datetime.fromisoformat(p["expiry"].replace("Z", "+00:00")).timestamp() * 1000
        t = (expiry - as_of) / (365 * 86400 * 1000)
        f = p["forward"] * (1 + spot_shock)
        w = float(total_variance_at(slices, np.array([math.log(p["strike"] / f)]), t)[0])
        vol = max(math.sqrt(w / t) + vol_shock, 0.01)
        return float(black76(f, p["strike"], t, vol, p["option_type"] == "call").price)

    for a, b in [(0, 0), (12, 8), (3, 6), (8, 1), (6, 4)]:
        direct = sum(p["size"] * (value(p, spots[a], vols[b]) - value(p, 0, 0)) for p in rows)
        assert grid[a][b] == pytest.approx(direct, rel=1e-6, abs=1e-4)


def test_a_breach_trips_the_breaker_in_the_same_evaluation_once(world):
    limit = make_limit(name="sim-a-vega", target="SIM-A", metric="vega_usd", threshold=1.0,
                       action="halted")  # fmt: skip
    result = risk_evaluate()
    (trip,) = result.trips
    breaker = trip.breaker
    assert (breaker.scope, breaker.target, breaker.state) == ("account", "SIM-A", "halted")
    vega = result.snapshot["accounts"]["SIM-A"]["totals"]["vega_usd"]
    assert breaker.reason.startswith("limit sim-a-vega: vega ")
    assert breaker.reason.endswith(" > 1")
    assert breaker_effective_state(account="SIM-A", venue="SIM").state == "halted"
    # Still breached: no second trip, no second audit event, the breaker stays.
    for _ in range(3):
        assert risk_evaluate().trips == []
    assert AuditEvent.objects.filter(action=AuditAction.BREAKER_TRIPPED).count() == 1
    utilisation = LimitUtilisation.objects.get(limit=limit)
    assert utilisation.status == "breach" and utilisation.tripped
    assert utilisation.consecutive_breaches == 4
    assert utilisation.value == pytest.approx(abs(vega), rel=1e-6)
    assert utilisation.utilisation == pytest.approx(abs(vega), rel=1e-6)


def test_k_confirmations_hold_the_trip_back(world):
    make_limit(name="sim-b-delta", target="SIM-B", metric="net_delta_usd", threshold=1.0,
               confirmations_required=3)  # fmt: skip
    assert risk_evaluate().trips == []
    assert risk_evaluate().trips == []
    assert not Breaker.objects.filter(state__in=["halted", "reduce_only"]).exists()
    (trip,) = risk_evaluate().trips
    assert (trip.breaker.target, trip.breaker.state) == ("SIM-B", "reduce_only")


def test_a_breach_that_clears_never_resets_the_breaker(world):
    limit = make_limit(name="sim-a-notional", metric="gross_notional_usd", threshold=1.0)
    risk_evaluate()
    limit.threshold = 1e12  # a risk manager raises the limit (or the position shrinks)
    limit.save()
    result = risk_evaluate()
    assert result.cleared == ["sim-a-notional"]
    breaker = Breaker.objects.get(scope="account", target="SIM-A")
    assert breaker.state == "reduce_only"  # no automatic reset
    assert breaker.conditions == {} and breaker.condition_cleared_at is not None
    row = LimitUtilisation.objects.get(limit=limit)
    assert row.status == "ok" and not row.tripped and row.consecutive_breaches == 0


def test_warning_and_ok_utilisation_are_stored_and_published(world):
    first = risk_evaluate().snapshot["accounts"]["SIM-A"]["totals"]["notional_usd"]
    make_limit(name="warn", metric="gross_notional_usd", threshold=first / 0.9)
    make_limit(name="fine", metric="gross_notional_usd", threshold=first * 10)
    snapshot = risk_evaluate().snapshot
    by_name = {limit["name"]: limit for limit in snapshot["limits"]}
    assert by_name["warn"]["status"] == "warning"
    assert by_name["warn"]["utilisation"] == pytest.approx(0.9, rel=0.05)
    assert by_name["fine"]["status"] == "ok"
    assert snapshot_read()["limits"] == snapshot["limits"]


@pytest.fixture
def order_provider():
    """Swap the installed order-metrics provider (the gateway's) and put it back after."""
    from apps.risk.order_metrics import registered_order_metrics

    installed = registered_order_metrics()
    yield register_order_metrics
    register_order_metrics(installed)


def test_order_metric_limits_have_no_data_without_a_provider(world, order_provider):
    order_provider(None)
    make_limit(name="orders", metric="open_orders", threshold=5, action="halted")
    row = risk_evaluate().snapshot["limits"][0]
    assert row["status"] == "unknown" and "gateway" in row["detail"]
    assert not Breaker.objects.exists()
    order_provider(lambda scopes: {key: {"open_orders": 7} for key in scopes})
    (trip,) = risk_evaluate().trips
    assert trip.breaker.reason == "limit orders: open orders 7 > 5"


def test_a_failing_provider_means_no_data_not_a_crash(world, order_provider):
    def broken(scopes):
        raise RuntimeError("gateway bug")

    order_provider(broken)
    make_limit(name="rate", metric="order_rate", threshold=5, action="halted")
    result = risk_evaluate()
    assert result.snapshot["limits"][0]["status"] == "unknown"
    assert result.snapshot["positions"]  # the book was still evaluated


def test_unpriced_positions_never_clear_a_breach(world, redis_client):
    limit = make_limit(name="vega", metric="vega_usd", threshold=1.0)
    risk_evaluate()
    limit.threshold = 1e12
    limit.save()
    redis_client.delete(store.chain_key("SIM", "BTC"))  # BTC market data gone
    redis_client.delete(store.surface_key("SIM", "BTC"))
    result = risk_evaluate()
    assert result.cleared == []
    row = LimitUtilisation.objects.get(limit=limit)
    assert row.status == "unknown" and row.tripped and "unpriced" in row.detail
    btc = [p for p in result.snapshot["positions"] if p["underlying"] == "BTC"]
    assert btc and all(not p["priced"] and p["value_usd"] is None for p in btc)


def test_nothing_is_judged_when_redis_is_down(world, settings):
    from apps.venues.services.store import _client

    make_limit(name="vega", metric="vega_usd", threshold=1.0)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    _client.cache_clear()
    try:
        assert risk_evaluate() is None
    finally:
        _client.cache_clear()
    assert not Breaker.objects.exists()


def test_two_evaluations_never_overlap(world, redis_client):
    from apps.risk.services.evaluation import LOCK_KEY

    redis_client.set(LOCK_KEY, "someone else", ex=30)
    assert risk_evaluate() is None


def test_the_engine_imports_no_django():
    code = "import sys, apps.risk.engine; print(any(m.startswith('django') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_risk_and_each_accounts_positions_are_published(world, django_capture_on_commit_callbacks):
    from tests.breakers.listener import Listener

    listeners = {topic: Listener(topic) for topic in ("risk", "positions:SIM-A")}
    for listener in listeners.values():
        listener.start()
        assert listener.ready.wait(10)
    try:
        make_limit(name="sim-a-vega", metric="vega_usd", threshold=1e9)
        with django_capture_on_commit_callbacks(execute=True):
            risk_evaluate()
        (risk,) = listeners["risk"].wait_for(1)
        (positions,) = listeners["positions:SIM-A"].wait_for(1)
    finally:
        for listener in listeners.values():
            listener.stopped.set()
            listener.join(5)
    assert risk["payload"]["type"] == "risk.updated"
    assert [limit["name"] for limit in risk["payload"]["limits"]] == ["sim-a-vega"]
    assert "positions" not in risk["payload"]  # the risk topic carries no account's positions
    assert positions["payload"]["account"] == "SIM-A"
    assert {p["account"] for p in positions["payload"]["positions"]} == {"SIM-A"}
    assert len(positions["payload"]["positions"]) == 3


def test_a_book_without_positions_evaluates_to_zero(redis_client):
    sim_world(underlyings=("BTC",), accounts=("SIM-A",))
    make_limit(name="vega", metric="vega_usd", threshold=1.0)
    result = risk_evaluate()
    assert result.snapshot["positions"] == [] and result.trips == []
    assert result.snapshot["accounts"]["SIM-A"]["positions"] == 0
    assert result.snapshot["limits"][0]["status"] == "ok"


def test_a_breach_by_a_hair_still_reads_as_a_breach():
    from apps.risk.services.evaluation import format_breach

    assert format_breach(128_420.0, 128_000.0, "net_delta_usd") == "128.4K > 128K"
    assert format_breach(1_200_000.0, 1_000_000.0, "vega_usd") == "1.2M > 1M"
