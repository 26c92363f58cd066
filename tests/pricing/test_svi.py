"""SVI: parameter recovery, warm starts, weights, constraints, and the arbitrage reports."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.pricing import (
    SVIParams,
    svi_butterfly_check,
    svi_calendar_check,
    svi_fit,
    svi_implied_vol,
    svi_total_variance,
    svi_weights_from_spread,
    svi_weights_from_vega,
)
from apps.pricing.svi import svi_durrleman_g

K_GRID = np.linspace(-0.8, 0.6, 50)
# Axel Vogt's smile (Gatheral & Jacquier 2014, "Arbitrage-free SVI volatility surfaces"): it
# satisfies the raw-SVI constraints yet has a negative density, so it must be flagged.
VOGT = SVIParams(a=-0.0410, b=0.1331, rho=0.3060, m=0.3586, sigma=0.4153)


def _min_variance(p: SVIParams) -> float:
    return p.a + p.b * p.sigma * math.sqrt(1.0 - p.rho**2)


svi_params = st.builds(
    SVIParams,
    a=st.floats(0.005, 0.1),
    b=st.floats(0.05, 0.4),
    rho=st.floats(-0.7, 0.5),
    m=st.floats(-0.15, 0.15),
    sigma=st.floats(0.08, 0.5),
)


@settings(max_examples=40, deadline=None)
@given(svi_params, st.floats(0.05, 2.0), st.integers(0, 2**32 - 1))
def test_fit_recovers_known_parameters_from_a_noisy_smile(
    true: SVIParams, t: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    k = np.linspace(-1.0, 1.0, 50)
    clean = svi_implied_vol(true, k, t)
    noise = 2e-4  # 0.02 vol points, a realistic mid-quote error
    fit = svi_fit(k, clean + rng.normal(0.0, noise, k.size), t)
    assert fit.converged
    # The fit explains the data down to the noise, and the smile itself is recovered far more
    # precisely than any one quote.
    assert fit.rmse < 1.5 * noise
    fitted = svi_implied_vol(fit.params, k, t)
    assert np.max(np.abs(fitted - clean)) < 3 * noise
    # And so are the parameters, to a tolerance matched to how well 50 strikes identify them.
    assert fit.params.rho == pytest.approx(true.rho, abs=0.08)
    assert fit.params.m == pytest.approx(true.m, abs=0.05)
    assert fit.params.b == pytest.approx(true.b, rel=0.1)
    assert _min_variance(fit.params) == pytest.approx(_min_variance(true), rel=0.05, abs=2e-4)


def test_exact_data_gives_the_exact_parameters() -> None:
    true = SVIParams(0.02, 0.15, -0.35, 0.03, 0.2)
    fit = svi_fit(K_GRID, svi_implied_vol(true, K_GRID, 0.5), 0.5)
    np.testing.assert_allclose(fit.params, true, rtol=1e-6, atol=1e-8)


def test_warm_start_converges_in_fewer_iterations_to_the_same_smile() -> None:
    true = SVIParams(0.02, 0.15, -0.35, 0.03, 0.2)
    t = 0.25
    iv = svi_implied_vol(true, K_GRID, t)
    first = svi_fit(K_GRID, iv, t)
    moved = iv + 0.002 * (1 - K_GRID)  # next poll: the smile shifted a little
    cold = svi_fit(K_GRID, moved, t)
    warm = svi_fit(K_GRID, moved, t, previous=first.params)
    assert warm.warm_started and not cold.warm_started
    assert warm.iterations < cold.iterations
    np.testing.assert_allclose(
        svi_implied_vol(warm.params, K_GRID, t), svi_implied_vol(cold.params, K_GRID, t),
        atol=1e-6,
    )  # fmt: skip


def test_a_stale_previous_fit_cannot_trap_the_refit() -> None:
    """A start from another regime is discarded when the grid scan already fits better."""
    t = 2 / 365
    true = SVIParams(0.36**2 * t * 0.5, 0.6 * math.sqrt(t) * 0.3, -0.1, 0.0, 0.05)
    k = np.linspace(-0.1, 0.1, 25)
    iv = svi_implied_vol(true, k, t)
    stale = SVIParams(0.1, 0.5, 0.5, 0.3, 0.5)
    fit = svi_fit(k, iv, t, previous=stale)
    assert not fit.warm_started
    assert np.max(np.abs(svi_implied_vol(fit.params, k, t) - iv)) < 1e-4


def test_parameters_always_respect_the_constraints() -> None:
    # Data that "wants" negative variance in the middle: the fit stays positive everywhere.
    k = np.linspace(-0.5, 0.5, 21)
    iv = 0.5 * np.abs(k) + 1e-3
    fit = svi_fit(k, iv, 1.0)
    p = fit.params
    assert p.b > 0 and abs(p.rho) < 1 and p.sigma > 0
    assert _min_variance(p) > 0
    assert np.all(svi_total_variance(p, np.linspace(-3, 3, 601)) > 0)


def test_weights_let_good_quotes_outvote_a_bad_one() -> None:
    true = SVIParams(0.02, 0.15, -0.35, 0.03, 0.2)
    t = 0.5
    iv = svi_implied_vol(true, K_GRID, t)
    bad = iv.copy()
    bad[25] += 0.10  # one absurd quote, ten vol points off
    bid, ask = bad - 0.005, bad + 0.005
    ask[25] = bad[25] + 0.5  # ...with the enormous spread such quotes come with
    bid[25] = bad[25] - 0.5
    weighted = svi_fit(K_GRID, bad, t, weights=svi_weights_from_spread(bid, ask))
    unweighted = svi_fit(K_GRID, bad, t)
    err_w = np.max(np.abs(svi_implied_vol(weighted.params, K_GRID, t) - iv))
    err_u = np.max(np.abs(svi_implied_vol(unweighted.params, K_GRID, t) - iv))
    assert err_w < 1e-3 < err_u


def test_vega_weights_and_unusable_rows() -> None:
    true = SVIParams(0.02, 0.15, -0.35, 0.03, 0.2)
    iv = svi_implied_vol(true, K_GRID, 0.5)
    iv[3] = np.nan  # unsolvable quote
    vega = np.exp(-(K_GRID**2))
    vega[7] = np.nan
    fit = svi_fit(K_GRID, iv, 0.5, weights=svi_weights_from_vega(vega))
    np.testing.assert_allclose(fit.params, true, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="five usable points"):
        svi_fit(K_GRID[:4], iv[:4], 0.5)


def test_butterfly_check_flags_vogts_smile_and_says_where() -> None:
    report = svi_butterfly_check(VOGT)
    assert not report.ok
    assert report.g_min < 0
    assert report.violations.size > 0
    # The violation sits on the upside wing, and g really is negative there.
    assert all(0.0 < lo <= hi < 1.5 for lo, hi in report.ranges)
    assert np.all(svi_durrleman_g(VOGT, report.violations) < 0)


def test_butterfly_ranges_keep_separate_violations_apart() -> None:
    from apps.pricing.svi import ButterflyReport

    report = ButterflyReport(
        ok=False, g_min=-1.0, k_at_min=0.0, violations=np.array([-1.0, -0.99, 0.5, 1.0]),
        grid_step=0.01,
    )  # fmt: skip
    assert report.ranges == [(-1.0, -0.99), (0.5, 0.5), (1.0, 1.0)]


def test_butterfly_check_passes_a_clean_smile() -> None:
    report = svi_butterfly_check(SVIParams(0.02, 0.15, -0.35, 0.03, 0.2))
    assert report.ok and report.g_min > 0 and report.ranges == []


def test_butterfly_density_agrees_with_numerical_call_convexity() -> None:
    """g < 0 exactly where call prices stop being convex in strike (the definition)."""
    from apps.pricing import black76

    k = np.linspace(-1.0, 1.45, 2000)
    dk = k[1] - k[0]
    t = 1.0
    vol = svi_implied_vol(VOGT, k, t)
    calls = black76(1.0, np.exp(k), t, vol, True).price
    # d2C/dK2 = (C_kk - C_k) / K^2, so its sign is that of C_kk - C_k.
    c_kk = (calls[2:] - 2 * calls[1:-1] + calls[:-2]) / dk**2
    c_k = (calls[2:] - calls[:-2]) / (2 * dk)
    second = c_kk - c_k
    g = svi_durrleman_g(VOGT, k[1:-1])
    # Compare signs away from the zero crossings, where either side is within rounding.
    clear = np.abs(g) > 1e-3
    assert (g[clear] < 0).any() and (g[clear] > 0).any()
    assert np.array_equal((second < 0)[clear], (g < 0)[clear])


def test_calendar_check_flags_crossing_slices_and_passes_ordered_ones() -> None:
    short = SVIParams(0.01, 0.2, -0.3, 0.0, 0.1)
    longer_ok = SVIParams(0.03, 0.2, -0.3, 0.0, 0.1)
    # Same ATM level but a much flatter smile: the wings of the later expiry fall below.
    crossing = SVIParams(0.035, 0.05, -0.3, 0.0, 0.1)
    assert svi_calendar_check([(0.1, short), (0.5, longer_ok)]).ok
    report = svi_calendar_check([(0.5, crossing), (0.1, short)])  # order does not matter
    assert not report.ok
    (v,) = report.violations
    assert (v.t_early, v.t_late) == (0.1, 0.5)
    assert v.worst_gap < 0 and abs(v.worst_k) > 0.3
    w_gap = svi_total_variance(crossing, v.k) - svi_total_variance(short, v.k)
    assert np.all(w_gap < 0)
    assert np.all(np.abs(v.k) > 0.05)  # the middle of the smile is fine
