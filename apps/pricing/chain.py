"""One call per poll: implied vols and Greeks for a whole option chain, arrays in, arrays out.

This is the entry point for the venue pollers (about 2,000 options every 2 s): no Python loop
per option, NaN plus a reason for every row that cannot be priced, never an exception for bad
rows. For coin-settled (inverse) options such as Deribit's, pass ``price_in_coin=True``: prices
are converted with ``price_usd = price_coin * underlying`` and coin-terms Greeks are added.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from apps.pricing.black76 import Greeks, InverseGreeks, black76, inverse_greeks
from apps.pricing.iv import implied_vol_with_reason

__all__ = ["ChainAnalytics", "chain_analytics"]


class ChainAnalytics(NamedTuple):
    """Per-option results, all arrays of the broadcast input shape.

    ``iv`` is NaN exactly where ``reason != IVReason.OK``; Greeks are then NaN too.
    ``log_moneyness`` is ``ln(K/F)``, the SVI axis. ``coin`` is set for inverse options only.
    """

    iv: np.ndarray
    reason: np.ndarray
    price_usd: np.ndarray
    log_moneyness: np.ndarray
    greeks: Greeks
    coin: InverseGreeks | None


def chain_analytics(
    price: object,
    underlying: object,
    strike: object,
    t: object,
    is_call: object,
    *,
    discount: object = 1.0,
    price_in_coin: bool = False,
) -> ChainAnalytics:
    """Implied vol, reason and Greeks (USD terms; coin terms too for inverse options).

    ``underlying`` is the forward of each option's expiry (for Deribit: the ``underlying_price``
    of the ticker, i.e. the future or synthetic forward the venue prices against). ``t`` is years
    ACT/365. Greek units are those of :mod:`apps.pricing.black76`.
    """
    underlying_a = np.asarray(underlying, dtype=np.float64)
    price_a = np.asarray(price, dtype=np.float64)
    price_usd = price_a * underlying_a if price_in_coin else price_a * 1.0
    iv, reason = implied_vol_with_reason(
        price_usd, underlying_a, strike, t, is_call, discount=discount
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        log_moneyness = np.log(np.asarray(strike, dtype=np.float64) / underlying_a)
    if price_in_coin:
        coin = inverse_greeks(underlying_a, strike, t, iv, is_call, discount=discount)
        greeks = coin.usd
    else:
        coin = None
        greeks = black76(underlying_a, strike, t, iv, is_call, discount=discount)
    shape = iv.shape
    return ChainAnalytics(
        iv=iv,
        reason=reason,
        price_usd=np.broadcast_to(price_usd, shape).copy(),
        log_moneyness=np.broadcast_to(log_moneyness, shape).copy(),
        greeks=greeks,
        coin=coin,
    )
