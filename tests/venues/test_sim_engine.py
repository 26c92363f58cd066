"""The simulated market model: calendar, strikes, determinism, arbitrage-free smiles."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.pricing.svi import SVIParams, svi_butterfly_check, svi_calendar_check, svi_implied_vol
from apps.venues.adapters import sim_engine as engine

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)  # a Monday, after the 08:00 expiry


def test_calendar_has_dailies_weeklies_monthlies_and_quarterlies_at_0800_utc():
    expiries = engine.expiry_calendar(NOW)
    assert all(e > NOW and e.hour == 8 and e.minute == 0 for e in expiries)
    assert expiries == sorted(set(expiries))
    days = [(e - NOW).days for e in expiries]
    assert days[:4] == [0, 1, 2, 3]  # dailies: 3, 4, 5, 6 March
    fridays = [e for e in expiries if e.weekday() == 4]
    assert len(fridays) >= 4 + 3  # weeklies plus monthly/quarterly last Fridays
    assert datetime(2026, 3, 27, 8, tzinfo=UTC) in expiries  # March: monthly and quarterly
    quarterlies = [datetime(2026, m, d, 8, tzinfo=UTC) for m, d in ((6, 26), (9, 25), (12, 25))]
    assert all(q in expiries for q in quarterlies)
    assert max(expiries) == quarterlies[-1]  # four quarterlies, March's included
    assert 12 <= len(expiries) <= 15


def test_symbols_follow_deribits_format():
    state = engine.MarketState.initial(engine.SPECS["BTC"])
    config = engine.SimConfig(strikes_per_expiry=10, max_expiries=2)
    listing = engine.listing_update({}, state, engine.SPECS["BTC"], NOW, config)
    options = engine.listing_arrays(listing, "BTC")
    assert options.symbol[0].startswith("BTC-3MAR26-")
    assert {s[-2:] for s in options.symbol} == {"-C", "-P"}
    assert np.all(options.strike > 0)
    strike_text = options.symbol[0].split("-")[2]
    assert float(strike_text) == options.strike[0]


def test_a_demo_sized_listing_has_hundreds_of_options_per_underlying():
    config = engine.SimConfig()
    for code, spec in engine.SPECS.items():
        state = engine.MarketState.initial(spec)
        options = engine.listing_arrays(engine.listing_update({}, state, spec, NOW, config), code)
        assert 400 <= len(options.symbol) <= 1200, (code, len(options.symbol))


def test_strike_ranges_only_grow_as_spot_moves():
    spec = engine.SPECS["ETH"]
    config = engine.SimConfig(strikes_per_expiry=12)
    state = engine.MarketState.initial(spec)
    first = engine.listing_update({}, state, spec, NOW, config)
    moved = engine.listing_update(
        first, engine.with_spot(state, state.spot * 1.3), spec, NOW, config
    )
    for key, (step, lo, hi) in first.items():
        new_step, new_lo, new_hi = moved[key]
        assert new_step == step  # fixed at listing
        assert new_lo <= lo and new_hi >= hi  # listed strikes stay listed
        assert new_hi > hi


def _path(seed: int, steps: list[float]) -> list[engine.MarketState]:
    spec = engine.SPECS["BTC"]
    config = engine.SimConfig(seed=seed)
    state = engine.MarketState.initial(spec)
    out = []
    for n, seconds in enumerate(steps, start=1):
        state = engine.evolve(state, spec, elapsed_seconds=seconds, config=config, step=n)
        out.append(state)
    return out


def test_the_same_seed_and_steps_reproduce_the_path_exactly():
    steps = [2.0, 2.1, 1.9, 3600.0, 2.0]
    assert _path(42, steps) == _path(42, steps)
    assert _path(42, steps) != _path(43, steps)


def test_the_market_moves_with_elapsed_time_and_stands_still_without_it():
    spec = engine.SPECS["BTC"]
    config = engine.SimConfig(seed=1)
    state = engine.MarketState.initial(spec)
    still = engine.evolve(state, spec, elapsed_seconds=0.0, config=config, step=1)
    assert still == state
    day = [
        engine.evolve(state, spec, elapsed_seconds=86400, config=config, step=n)
        for n in range(1, 200)
    ]
    log_returns = np.log([s.spot / state.spot for s in day])
    # One-day moves with ~52% annual vol: a standard deviation of roughly 2.7%.
    assert 0.015 < float(np.std(log_returns)) < 0.05


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    steps=st.lists(st.floats(0.5, 7 * 86400.0), min_size=1, max_size=8),
    underlying=st.sampled_from(sorted(engine.SPECS)),
)
def test_model_smiles_stay_free_of_butterfly_and_calendar_arbitrage(seed, steps, underlying):
    spec = engine.SPECS[underlying]
    config = engine.SimConfig(seed=seed)
    state = engine.MarketState.initial(spec)
    for n, seconds in enumerate(steps, start=1):
        state = engine.evolve(state, spec, elapsed_seconds=seconds, config=config, step=n)
    assert state.eta * (1 + abs(state.rho)) <= 2.0
    slices = []
    for t in (1 / 365, 7 / 365, 30 / 365, 90 / 365, 1.0):
        params = SVIParams(*engine.ssvi_raw_params(state, t))
        assert svi_butterfly_check(params).ok
        # The raw-SVI form is exactly the SSVI smile the quotes come from.
        k = np.linspace(-1, 1, 21)
        np.testing.assert_allclose(svi_implied_vol(params, k, t), engine.model_vols(state, k, t))
        slices.append((t, params))
    assert svi_calendar_check(slices).ok


def test_clean_quotes_are_on_the_tick_grid_uncrossed_and_bracket_the_mark():
    spec = engine.SPECS["BTC"]
    state = engine.MarketState.initial(spec)
    listing = engine.listing_update({}, state, spec, NOW, engine.SimConfig())
    options = engine.listing_arrays(listing, "BTC")
    q = engine.clean_quotes(state, spec, options, int(NOW.timestamp() * 1000), step=3)
    ticks = engine.tick_size(q.mark)
    assert np.all(q.ask > 0) and np.all(q.bid >= 0)
    assert np.all(q.bid <= q.mark + 1e-12) and np.all(q.ask >= q.mark - 1e-12)
    on_grid = np.isclose(q.ask / 1e-4, np.round(q.ask / 1e-4))
    assert on_grid.all()
    assert np.all(q.ask - q.bid >= ticks - 1e-12)
    # Most options have a two-sided market (the wings may be offer-only).
    assert np.mean(q.bid > 0) > 0.9


@pytest.mark.parametrize("rate", [0.0, 0.1])
def test_bad_quotes_are_injected_at_the_configured_rate(rate):
    n = 20_000
    bid, ask = np.full(n, 0.01), np.full(n, 0.012)
    ts = np.full(n, 1_000_000, dtype=np.int64)
    rows = engine.inject_bad_quotes(
        bid, ask, ts, rate=rate, rng=np.random.default_rng(5), now_ms=1_000_000
    )
    total = sum(len(r) for r in rows.values())
    assert abs(total - rate * n) <= 4 * np.sqrt(n * rate * (1 - rate)) + 1
    assert np.all(bid[rows["crossed"]] > ask[rows["crossed"]])
    assert np.all(np.isnan(bid[rows["nan"]]))
    assert np.all(bid[rows["zero"]] == 0) and np.all(ask[rows["zero"]] == 0)
    assert np.all(ts[rows["stale"]] == 1_000_000 - engine.STALE_QUOTE_AGE_MS)
