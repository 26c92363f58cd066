"""Black-76 / BSM / inverse-option prices and Greeks: parity, finite differences, references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from py_vollib.black import black as pv_black

from apps.pricing import black76, bsm, inverse_greeks
from tests.pricing.strategies import forwards, is_call, rates

# Well-conditioned part of the domain for finite differences (FD noise ~ eps * price / h).
fd_moneyness = st.floats(min_value=0.6, max_value=1.6)
fd_tenors = st.floats(min_value=0.05, max_value=3.0)
fd_vols = st.floats(min_value=0.1, max_value=1.5)


def _close(analytic: float, numeric: float, scale: float, rel: float = 1e-6) -> bool:
    """Relative 1e-6, with an absolute floor tied to the size of the option (FD noise)."""
    return abs(analytic - numeric) <= rel * abs(analytic) + 1e-10 * scale


def _fd(fn, h: float) -> float:
    """Fourth-order central difference of fn at 0: truncation ~h^4, so h can stay large."""
    return (8.0 * (fn(h) - fn(-h)) - (fn(2 * h) - fn(-2 * h))) / (12.0 * h)


@settings(max_examples=200, deadline=None)
@given(forwards, st.floats(min_value=0.2, max_value=5.0), fd_tenors, fd_vols, rates)
def test_put_call_parity(f: float, m: float, t: float, vol: float, r: float) -> None:
    k = f * m
    d = math.exp(-r * t)
    g = black76(f, k, t, vol, np.array([True, False]), discount=d)
    assert g.price[0] - g.price[1] == pytest.approx(d * (f - k), rel=1e-12, abs=1e-12 * f)
    # Delta parity: call delta - put delta = discount factor.
    assert g.delta[0] - g.delta[1] == pytest.approx(d, rel=1e-12)


@settings(max_examples=200, deadline=None)
@given(forwards, fd_moneyness, fd_tenors, fd_vols, rates, is_call)
def test_greeks_match_central_differences(
    f: float, m: float, t: float, vol: float, r: float, call: bool
) -> None:
    k = f * m

    def g(df=0.0, dt=0.0, dv=0.0, dr=0.0):
        tt = t + dt
        return black76(f + df, k, tt, vol + dv, call, discount=math.exp(-(r + dr) * tt))

    base = g()
    # Steps scale with the width of the distribution, so tails are resolved as well as the body.
    hf, hv, ht, hr = 1e-3 * f * vol * math.sqrt(t), 1e-3 * vol, 1e-3 * t, 1e-3
    assert _close(base.delta, _fd(lambda h: g(df=h).price, hf), 1.0)
    assert _close(base.gamma, _fd(lambda h: g(df=h).delta, hf), 1.0 / f)
    assert _close(base.vega, 0.01 * _fd(lambda h: g(dv=h).price, hv), f)
    assert _close(base.vanna, 0.01 * _fd(lambda h: g(dv=h).delta, hv), 1.0)
    assert _close(base.volga, 0.01 * _fd(lambda h: g(dv=h).vega, hv), f)
    # Theta: value change per calendar day that passes, i.e. -dV/dt / 365 at fixed F and r.
    assert _close(base.theta, -_fd(lambda h: g(dt=h).price, ht) / 365.0, f)
    assert _close(base.rho, 0.01 * _fd(lambda h: g(dr=h).price, hr), f)


@settings(max_examples=100, deadline=None)
@given(forwards, fd_moneyness, fd_tenors, fd_vols, rates, st.floats(0.0, 0.05), is_call)
def test_bsm_spot_greeks_match_central_differences(
    s: float, m: float, t: float, vol: float, r: float, q: float, call: bool
) -> None:
    k = s * m

    def g(ds=0.0, dt=0.0, dv=0.0, dr=0.0):
        return bsm(s + ds, k, t + dt, vol + dv, call, rate=r + dr, div_yield=q)

    base = g()
    hs, hv, ht, hr = 1e-3 * s * vol * math.sqrt(t), 1e-3 * vol, 1e-3 * t, 1e-3
    assert _close(base.delta, _fd(lambda h: g(ds=h).price, hs), 1.0)
    assert _close(base.gamma, _fd(lambda h: g(ds=h).delta, hs), 1.0 / s)
    assert _close(base.vega, 0.01 * _fd(lambda h: g(dv=h).price, hv), s)
    assert _close(base.vanna, 0.01 * _fd(lambda h: g(dv=h).delta, hv), 1.0)
    assert _close(base.volga, 0.01 * _fd(lambda h: g(dv=h).vega, hv), s)
    assert _close(base.theta, -_fd(lambda h: g(dt=h).price, ht) / 365.0, s)
    assert _close(base.rho, 0.01 * _fd(lambda h: g(dr=h).price, hr), s)


@settings(max_examples=100, deadline=None)
@given(forwards, fd_moneyness, fd_tenors, fd_vols, is_call)
def test_inverse_option_coin_greeks_match_definitions(
    f: float, m: float, t: float, vol: float, call: bool
) -> None:
    k = f * m

    def g(df=0.0, dv=0.0):
        return inverse_greeks(f + df, k, t, vol + dv, call)

    base = g()
    hf, hv = 1e-3 * f * vol * math.sqrt(t), 1e-3 * vol
    assert base.price_coin == pytest.approx(base.usd.price / f, rel=1e-15)
    # delta_coin = F * dV_coin/dF; gamma_coin = d(delta_coin)/dF.
    assert _close(base.delta_coin, f * _fd(lambda h: g(df=h).price_coin, hf), 1.0)
    assert _close(base.gamma_coin, _fd(lambda h: g(df=h).delta_coin, hf), 1.0 / f)
    assert _close(base.vega_coin, 0.01 * _fd(lambda h: g(dv=h).price_coin, hv), 1.0)
    assert _close(base.vanna_coin, 0.01 * _fd(lambda h: g(dv=h).delta_coin, hv), 1.0)
    assert _close(base.volga_coin, 0.01 * _fd(lambda h: g(dv=h).vega_coin, hv), 1.0)
    assert base.theta_coin == pytest.approx(base.usd.theta / f, rel=1e-15)
    assert base.rho_coin == pytest.approx(base.usd.rho / f, rel=1e-15)


def test_prices_agree_with_py_vollib_black() -> None:
    rng = np.random.default_rng(7)
    n = 500
    f = rng.uniform(50, 150, n)
    k = f * np.exp(rng.uniform(-1.0, 1.0, n))
    t = rng.uniform(0.01, 3, n)
    vol = rng.uniform(0.05, 2.0, n)
    r = rng.uniform(0.0, 0.08, n)
    call = rng.random(n) < 0.5
    ours = black76(f, k, t, vol, call, discount=np.exp(-r * t)).price
    ref = np.array(
        [
            pv_black("c" if c else "p", ff, kk, tt, rr, vv)
            for c, ff, kk, tt, rr, vv in zip(call, f, k, t, r, vol, strict=True)
        ]
    )
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12 * f.max())


def test_known_value_and_units() -> None:
    # ATM call, F = K = 100, 20% vol, 1 year, no discounting: 100 * (2 N(0.1) - 1).
    g = black76(100.0, 100.0, 1.0, 0.2, True)
    assert g.price == pytest.approx(100 * math.erf(0.1 / math.sqrt(2)), rel=1e-14)
    # Vega per vol point: 100 * phi(0.1) * 1 * 0.01.
    assert g.vega == pytest.approx(math.exp(-0.005) / math.sqrt(2 * math.pi), rel=1e-14)
    # Theta per calendar day (r = 0): -F phi(d1) sigma / (2 sqrt t) / 365.
    expected_theta = -100 * math.exp(-0.005) / math.sqrt(2 * math.pi) * 0.2 / 2 / 365
    assert g.theta == pytest.approx(expected_theta, rel=1e-14)


def test_in_the_money_prices_keep_their_time_value() -> None:
    # Deep ITM call: the time value is ~1e-20 of the forward, yet still exact relative to the
    # OTM put it is worth by parity (the naive F N(d1) - K N(d2) would return pure rounding).
    g = black76(100.0, np.array([60.0, 60.0]), 0.1, 0.2, np.array([True, False]))
    assert g.price[0] - 40.0 == pytest.approx(g.price[1], rel=1e-6, abs=1e-14)
    assert 0 < g.price[1] < 1e-15


def test_degenerate_and_invalid_inputs_never_raise() -> None:
    f = np.array([100.0, 100.0, 100.0, np.nan, -1.0, 100.0, 100.0])
    k = np.array([90.0, 110.0, 90.0, 100.0, 100.0, 0.0, 100.0])
    t = np.array([0.0, 0.0, 1.0, 1.0, 1.0, 1.0, -1.0])
    vol = np.array([0.5, 0.5, 0.0, 0.5, 0.5, 0.5, 0.5])
    g = black76(f, k, t, vol, True)
    np.testing.assert_array_equal(g.price[:3], [10.0, 0.0, 10.0])
    np.testing.assert_array_equal(g.delta[:3], [1.0, 0.0, 1.0])
    assert np.all(g.gamma[:3] == 0.0)
    assert np.all(np.isnan(g.price[3:])) and np.all(np.isnan(g.vega[3:]))


def test_broadcasting_and_shapes() -> None:
    strikes = np.linspace(80, 120, 12).reshape(3, 4)
    g = black76(100.0, strikes, 0.5, 0.6, True)
    assert g.price.shape == (3, 4) and g.volga.shape == (3, 4)
    assert np.all(np.diff(g.price.reshape(-1)) < 0)  # calls cheapen as the strike rises


def test_option_type_flags() -> None:
    by_bool = black76(100.0, 110.0, 0.5, 0.6, np.array([True, False]))
    by_name = black76(100.0, 110.0, 0.5, 0.6, np.array(["call", "PUT"]))
    by_letter = black76(100.0, 110.0, 0.5, 0.6, np.array(["C", "p"]))
    np.testing.assert_array_equal(by_bool.price, by_name.price)
    np.testing.assert_array_equal(by_bool.price, by_letter.price)
    with pytest.raises(ValueError, match="call"):
        black76(100.0, 110.0, 0.5, 0.6, np.array(["straddle"]))
