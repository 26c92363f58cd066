"""Implied vol: round trips over the issue's domain, an independent reference, and bad rows."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from py_lets_be_rational import implied_volatility_from_a_transformed_rational_guess as lbr_iv
from py_lets_be_rational.exceptions import (
    AboveMaximumException,
    BelowIntrinsicException,
    VolatilityValueException,
)

from apps.pricing import IVReason, black76, implied_vol, implied_vol_with_reason
from tests.pricing.strategies import (
    forwards,
    information_bound,
    is_call,
    moneyness,
    random_options,
    tenors,
    vols,
)

# The issue's accuracy requirement, wherever the price pins the vol down better than that.
REQUIRED = 1e-8
# Options whose 1-ulp price sensitivity is below this are "well-posed": they must solve, exactly.
WELL_POSED = 1e-10
# What we actually deliver: the input's own 1-ulp limit plus a solver floor far below 1e-8.
SOLVER_FLOOR = 1e-12


def _solve(opts: dict[str, np.ndarray], price: np.ndarray, **kw):
    return implied_vol_with_reason(
        price, opts["forward"], opts["strike"], opts["t"], opts["is_call"],
        discount=opts["discount"], **kw,
    )  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(forwards, moneyness, tenors, vols, is_call, st.floats(0.8, 1.0))
def test_round_trip_over_the_issue_domain(
    f: float, m: float, t: float, vol: float, call: bool, d: float
) -> None:
    g = black76(f, f * m, t, vol, call, discount=d)
    iv, reason = implied_vol_with_reason(g.price, f, f * m, t, call, discount=d)
    bound = float(information_bound(g.price, g.vega, f, f * m, d))
    if reason == IVReason.OK:
        assert abs(iv - vol) <= SOLVER_FLOOR + 4 * bound
    else:
        # NaN is allowed only where the price cannot carry the vol: rounding noise or underflow.
        assert np.isnan(iv)
        assert not bound < WELL_POSED, (reason, bound)
        assert reason in (IVReason.NO_TIME_VALUE, IVReason.BELOW_INTRINSIC, IVReason.ABOVE_MAX)


def test_bulk_round_trip_accuracy_and_zero_failures_on_well_posed_options() -> None:
    opts = random_options(300_000, seed=1)
    g = black76(opts["forward"], opts["strike"], opts["t"], opts["vol"], opts["is_call"],
                discount=opts["discount"])  # fmt: skip
    iv, reason = _solve(opts, g.price)
    bound = information_bound(g.price, g.vega, opts["forward"], opts["strike"], opts["discount"])
    well_posed = bound < WELL_POSED
    assert well_posed.mean() > 0.6  # the sample really covers the domain
    assert np.all(reason[well_posed] == IVReason.OK)
    err = np.abs(iv - opts["vol"])
    assert err[well_posed].max() < REQUIRED / 20
    ok = reason == IVReason.OK
    assert np.all(err[ok] <= SOLVER_FLOOR + 4 * bound[ok])
    assert np.array_equal(np.isnan(iv), ~ok)


def test_agrees_with_lets_be_rational_on_20000_random_options() -> None:
    """Independent reference: Jäckel's algorithm as packaged by py_lets_be_rational."""
    opts = random_options(20_000, seed=2)
    g = black76(opts["forward"], opts["strike"], opts["t"], opts["vol"], opts["is_call"],
                discount=opts["discount"])  # fmt: skip
    ours, reason = _solve(opts, g.price)
    ref = np.full(ours.shape, np.nan)
    for i in range(ours.size):
        try:
            ref[i] = lbr_iv(
                g.price[i] / opts["discount"][i], opts["forward"][i], opts["strike"][i],
                opts["t"][i], 1.0 if opts["is_call"][i] else -1.0,
            )  # fmt: skip
        except (AboveMaximumException, BelowIntrinsicException, VolatilityValueException):
            pass
    bound = information_bound(g.price, g.vega, opts["forward"], opts["strike"], opts["discount"])
    well_posed = bound < WELL_POSED
    assert well_posed.sum() > 12_000
    assert np.all(np.isfinite(ref[well_posed]) & (ref[well_posed] > 0))
    assert np.max(np.abs(ours[well_posed] - ref[well_posed])) < 1e-10
    # Where the price carries partial information both land within the input's own noise.
    both = (reason == IVReason.OK) & np.isfinite(ref) & (ref > 0)
    assert np.all(np.abs(ours[both] - ref[both]) <= REQUIRED + 16 * bound[both])
    # Where Jäckel returns 0 (his "no information" answer), we return NaN with a reason.
    assert np.all(reason[ref == 0] != IVReason.OK)


def test_bad_rows_give_nan_and_the_right_reason_without_raising() -> None:
    f, k, t = 100.0, 110.0, 0.5
    call_price = float(black76(f, k, t, 0.6, True).price)
    rows = [
        # price, forward, strike, t, is_call, discount, expected reason
        (call_price, f, k, t, True, 1.0, IVReason.OK),
        (np.nan, f, k, t, True, 1.0, IVReason.NAN_INPUT),
        (call_price, np.inf, k, t, True, 1.0, IVReason.NAN_INPUT),
        (call_price, f, k, np.nan, True, 1.0, IVReason.NAN_INPUT),
        (-1.0, f, k, t, True, 1.0, IVReason.BELOW_INTRINSIC),
        (call_price, f, k, 0.0, True, 1.0, IVReason.EXPIRED),
        (call_price, f, k, -0.1, True, 1.0, IVReason.EXPIRED),
        (f * 1.01, f, k, t, True, 1.0, IVReason.ABOVE_MAX),  # call above the forward
        (f, f, k, t, True, 1.0, IVReason.ABOVE_MAX),  # call exactly at its bound
        (k + 1.0, f, k, t, False, 1.0, IVReason.ABOVE_MAX),  # put above the strike
        (5.0, f, 90.0, t, True, 1.0, IVReason.BELOW_INTRINSIC),  # below F - K = 10
        (10.0, f, 90.0, t, True, 1.0, IVReason.NO_TIME_VALUE),  # exactly intrinsic
        (0.0, f, k, t, True, 1.0, IVReason.NO_TIME_VALUE),  # OTM worth nothing
        (1e-320, f, 500.0, t, True, 1.0, IVReason.NO_TIME_VALUE),  # subnormal
        (call_price, 0.0, k, t, True, 1.0, IVReason.INVALID_INPUT),
        (call_price, f, -5.0, t, True, 1.0, IVReason.INVALID_INPUT),
        (call_price, f, k, t, True, 0.0, IVReason.INVALID_INPUT),
    ]
    cols = list(zip(*rows, strict=True))
    iv, reason = implied_vol_with_reason(*cols[:5], discount=np.array(cols[5]))
    assert [IVReason(r) for r in reason] == list(cols[6])
    assert iv[0] == pytest.approx(0.6, abs=1e-12)
    assert np.all(np.isnan(iv[1:]))
    assert reason.dtype == np.int8


def test_scalars_shapes_and_broadcasting() -> None:
    price = float(black76(100.0, 100.0, 1.0, 0.8, True).price)
    assert implied_vol(price, 100.0, 100.0, 1.0, True) == pytest.approx(0.8, abs=1e-13)
    strikes = np.array([[80.0, 100.0], [120.0, 140.0]])
    prices = black76(100.0, strikes, 0.25, 0.5, False).price
    iv = implied_vol(prices, 100.0, strikes, 0.25, False)
    assert iv.shape == (2, 2)
    np.testing.assert_allclose(iv, 0.5, atol=1e-12)


def test_threaded_and_serial_kernels_agree_bit_for_bit() -> None:
    opts = random_options(50_000, seed=3)
    price = black76(opts["forward"], opts["strike"], opts["t"], opts["vol"], opts["is_call"],
                    discount=opts["discount"]).price  # fmt: skip
    a, ra = _solve(opts, price, parallel=False)
    b, rb = _solve(opts, price, parallel=True)
    assert np.array_equal(ra, rb)
    assert np.array_equal(a, b, equal_nan=True)


@pytest.mark.parametrize("log_moneyness", [-12.0, -8.0, -6.5, 6.5, 8.0, 12.0])
def test_far_wings_outside_the_guess_table_still_solve(log_moneyness: float) -> None:
    """|ln(F/K)| > 6 is outside the guess table: the bracketed fallback must still be exact."""
    f = 100.0
    k = f * math.exp(log_moneyness)
    vol = np.array([0.5, 1.0, 2.0, 3.0])
    t = 2.0
    for call in (True, False):
        g = black76(f, k, t, vol, call)
        iv, reason = implied_vol_with_reason(g.price, f, k, t, call)
        bound = information_bound(g.price, g.vega, f, k)
        ok = reason == IVReason.OK
        assert ok.any()
        assert np.all(ok | (bound > WELL_POSED))
        assert np.all(np.abs(iv[ok] - vol[ok]) <= SOLVER_FLOOR + 4 * bound[ok])


def test_extreme_but_informative_prices() -> None:
    # Tiny vols at the money and huge total variance: both ends of the normalised range.
    f = 100.0
    cases = [(1e-4, 1.0), (0.01, 1 / 365), (5.0, 3.0), (10.0, 5.0)]
    for vol, t in cases:
        for k in (90.0, 100.0, 111.0):
            g = black76(f, k, t, vol, True)
            iv, reason = implied_vol_with_reason(g.price, f, k, t, True)
            bound = float(information_bound(g.price, g.vega, f, k))
            if bound < WELL_POSED:
                assert reason == IVReason.OK
                assert abs(iv - vol) < 1e-10 * max(vol, 1.0)


def test_any_price_strictly_inside_the_bounds_solves_and_reprices() -> None:
    """Prices drawn directly (not from vols): time values from 1e-250 to almost the bound.

    This reaches vols far outside any smile (1e-4% to thousands of %), the table's edges and the
    fallback; every such price must come back as a vol that reprices it to rounding.
    """
    rng = np.random.default_rng(4)
    n = 200_000
    f = np.exp(rng.uniform(np.log(0.01), np.log(1e6), n))
    k = f * np.exp(rng.uniform(-3.0, 3.0, n))
    t = np.exp(rng.uniform(np.log(1e-4), np.log(10.0), n))
    call = rng.random(n) < 0.5
    intrinsic = np.maximum(np.where(call, f - k, k - f), 0.0)
    upper = np.where(call, f, k)
    # Time value as a fraction of its maximum, log-uniform down to 1e-250 out of the money
    # and to 1e-9 in the money (below that it is lost when added to the intrinsic value).
    smallest = np.where(intrinsic > 0, 1e-9, 1e-250)
    frac = np.exp(rng.uniform(np.log(smallest), np.log(1.0 - 1e-9)))
    price = intrinsic + frac * (upper - intrinsic)
    iv, reason = implied_vol_with_reason(price, f, k, t, call)
    assert not np.any(reason == IVReason.NOT_CONVERGED)
    ok = reason == IVReason.OK
    assert ok.mean() > 0.99
    # Every NaN is explained by the price being at its bounds within rounding.
    assert np.all(np.isin(reason[~ok], [IVReason.NO_TIME_VALUE, IVReason.ABOVE_MAX]))
    g = black76(f[ok], k[ok], t[ok], iv[ok], call[ok])
    tolerance = 64 * np.spacing(price[ok]) + 1e-11 * 100 * g.vega
    assert np.all(np.abs(g.price - price[ok]) <= tolerance)
