"""The pure risk engine: full revaluation matches a direct, one-option-at-a-time revaluation;
aggregates are sums of positions; the grid is a real revaluation, not a Greeks expansion."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.pricing.black76 import black76
from apps.pricing.svi import SVIParams, svi_total_variance
from apps.risk.engine import (
    ADDITIVE,
    BookInput,
    Market,
    book_evaluate,
    expiry_bucket_index,
    group_sums,
)

DAY_MS = 86_400_000
AS_OF = 1_700_000_000_000
SLICES = [
    (7 / 365, SVIParams(0.0016, 0.012, -0.25, 0.01, 0.06)),
    (30 / 365, SVIParams(0.0060, 0.030, -0.20, 0.02, 0.12)),
    (90 / 365, SVIParams(0.0190, 0.060, -0.15, 0.03, 0.20)),
]
SPOT = 100_000.0
MARKET = Market(
    as_of_ms=AS_OF,
    index=SPOT,
    slices=SLICES,
    forward_expiry_ms=np.array([AS_OF + 7 * DAY_MS, AS_OF + 30 * DAY_MS, AS_OF + 90 * DAY_MS]),
    forward=np.array([100_100.0, 100_400.0, 101_200.0]),
)


def book(rows: list[dict]) -> BookInput:
    def col(name, default, dtype=float):
        return np.array([r.get(name, default) for r in rows], dtype=dtype)

    return BookInput(
        size=col("size", 1.0),
        contract_size=col("contract_size", 1.0),
        average_price=col("avg", 0.0),
        is_option=col("option", True, bool),
        strike=col("strike", np.nan),
        is_call=col("call", True, bool),
        expiry_ms=col("expiry_ms", 0, np.int64),
        price_in_coin=col("coin", True, bool),
        market=col("market", 0, np.int64),
        mark=col("mark", np.nan),
    )


def direct_vol(strike: float, forward: float, t: float) -> float:
    """Total variance linear in t between the two neighbouring slices, by hand."""
    k = math.log(strike / forward)
    ts = [s[0] for s in SLICES]
    if t <= ts[0]:
        return math.sqrt(float(svi_total_variance(SLICES[0][1], np.array(k))) * (t / ts[0]) / t)
    for (t1, p1), (t2, p2) in itertools.pairwise(SLICES):
        if t1 <= t <= t2:
            lam = (t - t1) / (t2 - t1)
            w = (1 - lam) * float(svi_total_variance(p1, np.array(k))) + lam * float(
                svi_total_variance(p2, np.array(k))
            )
            return math.sqrt(w / t)
    raise AssertionError("beyond the last slice")


def direct_price(forward: float, strike: float, t: float, vol: float, is_call: bool) -> float:
    return float(black76(forward, strike, t, vol, is_call).price)


POSITIONS = [
    {"size": 5, "strike": 105_000, "call": True, "expiry_ms": AS_OF + 30 * DAY_MS, "avg": 0.02},
    {"size": -3, "strike": 95_000, "call": False, "expiry_ms": AS_OF + 30 * DAY_MS, "avg": 0.015},
    {"size": 10, "strike": 90_000, "call": False, "expiry_ms": AS_OF + 50 * DAY_MS, "avg": 0.03},
    {"size": -2, "strike": 120_000, "call": True, "expiry_ms": AS_OF + 7 * DAY_MS, "avg": 0.001},
]


@pytest.mark.parametrize(("a", "b"), [(0, 0), (0, 8), (12, 0), (3, 5), (9, 2), (6, 4)])
def test_the_grid_matches_a_direct_revaluation(a, b):
    risk = book_evaluate(book(POSITIONS), [MARKET])
    s, v = risk.spot_shocks[a], risk.vol_shocks[b]
    expected = 0.0
    for p in POSITIONS:
        t = (p["expiry_ms"] - AS_OF) / (365 * DAY_MS)
        f = float(MARKET.forward_at(np.array([p["expiry_ms"]]))[0])
        base = direct_price(f, p["strike"], t, direct_vol(p["strike"], f, t), p["call"])
        f2 = f * (1 + s)
        vol2 = max(direct_vol(p["strike"], f2, t) + v, 0.01)
        expected += p["size"] * (direct_price(f2, p["strike"], t, vol2, p["call"]) - base)
    assert risk.pnl[:, a, b].sum() == pytest.approx(expected, rel=1e-9, abs=1e-6)


def test_the_centre_of_the_grid_is_zero_and_the_grid_is_convex_for_long_options():
    long_strangle = [
        {"size": 1, "strike": 110_000, "call": True, "expiry_ms": AS_OF + 30 * DAY_MS},
        {"size": 1, "strike": 90_000, "call": False, "expiry_ms": AS_OF + 30 * DAY_MS},
    ]
    risk = book_evaluate(book(long_strangle), [MARKET])
    centre = (len(risk.spot_shocks) // 2, len(risk.vol_shocks) // 2)
    assert risk.spot_shocks[centre[0]] == 0 and risk.vol_shocks[centre[1]] == 0
    assert abs(risk.pnl[:, centre[0], centre[1]].sum()) < 1e-9
    total = risk.pnl.sum(axis=0)
    # Long options gain on big moves either way and on higher vol: full revaluation sees the
    # convexity a delta-only approximation (flat for a delta-neutral strangle) would miss.
    assert total[0, centre[1]] > 0 and total[-1, centre[1]] > 0
    assert np.all(np.diff(total[centre[0]]) > 0)
    delta_usd = risk.figures["delta_usd"].sum()
    first_order = delta_usd * risk.spot_shocks[-1]
    assert total[-1, centre[1]] > first_order + 1000  # gamma and beyond


def test_greeks_and_values_follow_the_documented_units():
    p = POSITIONS[0]
    risk = book_evaluate(book([p]), [MARKET])
    t = 30 / 365
    f = 100_400.0
    vol = direct_vol(p["strike"], f, t)
    g = black76(f, p["strike"], t, vol, True)
    assert risk.iv[0] == pytest.approx(vol)
    assert risk.figures["delta_usd"][0] == pytest.approx(5 * float(g.delta) * f)
    assert risk.figures["gamma_usd"][0] == pytest.approx(5 * float(g.gamma) * f * f / 100)
    assert risk.figures["vega_usd"][0] == pytest.approx(5 * float(g.vega))
    assert risk.figures["theta_usd"][0] == pytest.approx(5 * float(g.theta))
    price_coin = float(g.price) / f
    assert risk.figures["delta_coin"][0] == pytest.approx(5 * (float(g.delta) - price_coin))
    assert risk.figures["vega_coin"][0] == pytest.approx(5 * float(g.vega) / f)
    # Model mark (no venue mark given); PnL against the coin average price, in coin and USD.
    assert not risk.mark_from_venue[0]
    assert risk.upnl_coin[0] == pytest.approx(5 * (price_coin - 0.02))
    assert risk.figures["upnl_usd"][0] == pytest.approx(5 * (price_coin - 0.02) * f)


def test_a_venue_mark_is_used_for_value_and_pnl_but_not_for_the_grid():
    p = {**POSITIONS[0], "mark": 0.03}
    risk = book_evaluate(book([p]), [MARKET])
    assert risk.mark_from_venue[0]
    assert risk.figures["value_usd"][0] == pytest.approx(5 * 0.03 * 100_400.0)
    assert risk.figures["upnl_usd"][0] == pytest.approx(5 * (0.03 - 0.02) * 100_400.0)
    assert risk.pnl[0, 6, 4] == 0.0


def test_positions_without_market_data_are_unpriced_not_zero():
    rows = [POSITIONS[0], {**POSITIONS[1], "market": -1}]
    risk = book_evaluate(book(rows), [MARKET])
    assert list(risk.priced) == [True, False]
    assert math.isnan(risk.figures["delta_usd"][1]) and np.all(risk.pnl[1] == 0)
    sums, priced, unpriced, _ = group_sums(risk, np.array([0, 0]), 1)
    assert (priced[0], unpriced[0]) == (1, 1)
    assert sums["delta_usd"][0] == pytest.approx(risk.figures["delta_usd"][0])


def test_linear_instruments_move_one_for_one():
    future = {"option": False, "size": 2, "contract_size": 1, "expiry_ms": AS_OF + 30 * DAY_MS,
              "avg": 100_000.0, "coin": False}  # fmt: skip
    risk = book_evaluate(book([future]), [MARKET])
    assert risk.figures["delta_usd"][0] == pytest.approx(2 * 100_400.0)
    assert risk.figures["upnl_usd"][0] == pytest.approx(2 * 400.0)
    assert risk.pnl[0, -1, 0] == pytest.approx(2 * 100_400.0 * 0.30)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(-20, 20).filter(bool),
            st.floats(70_000, 140_000),
            st.booleans(),
            st.integers(1, 120),
            st.integers(0, 2),
        ),
        min_size=1,
        max_size=25,
    )
)
def test_aggregates_are_the_sums_of_their_positions(rows):
    positions = [
        {
            "size": size,
            "strike": strike,
            "call": call,
            "expiry_ms": AS_OF + days * DAY_MS,
            "avg": 0.01,
            "account": account,
        }
        for size, strike, call, days, account in rows
    ]
    risk = book_evaluate(book(positions), [MARKET])
    accounts = np.array([p["account"] for p in positions])
    sums, priced, _, grid = group_sums(risk, accounts, 3)
    for a in range(3):
        mine = accounts == a
        for name in ADDITIVE:
            assert sums[name][a] == pytest.approx(np.nansum(risk.figures[name][mine]), abs=1e-6)
        assert np.allclose(grid[a], risk.pnl[mine].sum(axis=0))
        assert priced[a] == mine.sum()
    buckets = expiry_bucket_index(risk.t, np.ones(len(positions), dtype=bool))
    by_bucket, _, _, _ = group_sums(risk, buckets, 6)
    assert by_bucket["vega_usd"].sum() == pytest.approx(sums["vega_usd"].sum())


def test_an_empty_book_has_zero_aggregates_and_a_flat_grid():
    risk = book_evaluate(book([]), [MARKET])
    sums, priced, unpriced, grid = group_sums(risk, np.zeros(0, dtype=np.int64), 2)
    assert unpriced.tolist() == [0, 0]
    assert grid.shape == (2, 13, 9) and not grid.any()
    assert sums["delta_usd"].tolist() == [0.0, 0.0] and priced.tolist() == [0, 0]
