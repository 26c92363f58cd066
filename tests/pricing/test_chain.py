"""chain_analytics: what a venue poller calls for a whole chain, including Deribit coin prices."""

from __future__ import annotations

import numpy as np
import pytest

from apps.pricing import IVReason, black76, chain_analytics, inverse_greeks


def _deribit_like_chain(n_strikes: int = 40):
    underlying = 60_000.0
    strikes = np.repeat(np.linspace(30_000, 120_000, n_strikes), 2)
    is_call = np.tile([True, False], n_strikes)
    t = 30 / 365
    vol = 0.5 + 0.3 * np.abs(np.log(strikes / underlying))
    price_coin = inverse_greeks(underlying, strikes, t, vol, is_call).price_coin
    return underlying, strikes, is_call, t, vol, price_coin


def test_coin_prices_round_trip_to_vols_and_usd_terms() -> None:
    underlying, strikes, is_call, t, vol, price_coin = _deribit_like_chain()
    res = chain_analytics(price_coin, underlying, strikes, t, is_call, price_in_coin=True)
    ok = res.reason == IVReason.OK
    assert ok.mean() > 0.95
    np.testing.assert_allclose(res.iv[ok], vol[ok], atol=1e-9)
    np.testing.assert_allclose(res.price_usd, price_coin * underlying)
    np.testing.assert_allclose(res.log_moneyness, np.log(strikes / underlying))
    expected = black76(underlying, strikes, t, vol, is_call)
    np.testing.assert_allclose(res.greeks.delta[ok], expected.delta[ok], atol=1e-8)
    assert res.coin is not None
    np.testing.assert_allclose(
        res.coin.delta_coin[ok], expected.delta[ok] - price_coin[ok], atol=1e-8
    )


def test_usd_chain_without_coin_terms_and_bad_rows() -> None:
    price = np.array([5.0, np.nan, -1.0, 5.0, 200.0])
    t = np.array([0.25, 0.25, 0.25, 0.0, 0.25])
    res = chain_analytics(price, 100.0, 100.0, t, True)
    assert res.coin is None
    assert [IVReason(r) for r in res.reason] == [
        IVReason.OK,
        IVReason.NAN_INPUT,
        IVReason.BELOW_INTRINSIC,
        IVReason.EXPIRED,
        IVReason.ABOVE_MAX,
    ]
    assert float(black76(100.0, 100.0, 0.25, res.iv[0], True).price) == pytest.approx(
        5.0, rel=1e-14
    )
    assert np.isnan(res.greeks.vega[1:]).all() and np.isfinite(res.greeks.vega[0])
