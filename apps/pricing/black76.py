"""Black-76 prices and Greeks over arrays; Black-Scholes-Merton (spot form); inverse options.

Units, the same everywhere in Breakwater (see docs/pricing.md):

* ``t``: years, ACT/365 (``t = seconds_to_expiry / (365 * 86400)``);
* ``vol``: annualised fraction (0.55 = 55%);
* ``discount``: discount factor to expiry, ``exp(-r t)`` (1.0 for Deribit, which settles at
  expiry with no financing on the premium);
* ``price``: discounted value in the currency of ``forward``/``strike`` (USD);
* ``delta``: dV/dF per 1 unit of forward (so "coins of underlying" for a USD price);
* ``gamma``: d2V/dF2 per 1 unit of forward;
* ``vega``: dV/dsigma per 1 vol point (0.01);
* ``theta``: value change per calendar day that passes (1/365 year), forward and rate fixed;
  negative for a long option in the usual case;
* ``rho``: dV/dr per 1% (0.01) of the rate, forward fixed (Black-76: ``-t V / 100``);
* ``vanna``: change of delta per 1 vol point;
* ``volga``: change of vega (per vol point) per 1 vol point.

Degenerate inputs: where ``vol * sqrt(t) == 0`` the option is worth its discounted intrinsic
value, delta is the discounted step function and the other Greeks are 0; NaN or out-of-domain
inputs (forward/strike <= 0, vol or t < 0, discount <= 0) give NaN everywhere.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from apps.pricing._arrays import as_flat_arrays, call_sign
from apps.pricing._kernels import greeks_parallel, greeks_serial

__all__ = ["Greeks", "InverseGreeks", "black76", "black76_price", "bsm", "inverse_greeks"]

PARALLEL_THRESHOLD = 50_000


class Greeks(NamedTuple):
    """Prices and Greeks, each an array of the broadcast input shape (units: module docstring)."""

    price: np.ndarray
    delta: np.ndarray
    gamma: np.ndarray
    vega: np.ndarray
    theta: np.ndarray
    rho: np.ndarray
    vanna: np.ndarray
    volga: np.ndarray


class InverseGreeks(NamedTuple):
    """Coin-settled (inverse) option: coin price, USD-terms Greeks and coin-terms Greeks.

    ``usd`` are the ordinary Black-76 Greeks of the USD value ``price_coin * underlying``.
    Coin terms describe ``V_coin = V_usd / F``: ``delta_coin = F dV_coin/dF = delta - price_coin``
    (the premium-adjusted delta, in coins), ``gamma_coin = d(delta_coin)/dF``,
    ``vanna_coin`` = change of ``delta_coin`` per vol point, and ``vega_coin``, ``theta_coin``,
    ``rho_coin``, ``volga_coin`` the USD ones divided by the underlying price.
    """

    price_coin: np.ndarray
    usd: Greeks
    delta_coin: np.ndarray
    gamma_coin: np.ndarray
    vega_coin: np.ndarray
    theta_coin: np.ndarray
    rho_coin: np.ndarray
    vanna_coin: np.ndarray
    volga_coin: np.ndarray


def black76(
    forward: object,
    strike: object,
    t: object,
    vol: object,
    is_call: object,
    *,
    discount: object = 1.0,
    parallel: bool | None = None,
) -> Greeks:
    """Black-76 price and the seven Greeks for arrays (broadcast) of options; never raises."""
    shape, (f, k, tt, v, q, d) = as_flat_arrays(
        forward, strike, t, vol, call_sign(is_call), discount
    )
    out = np.empty((8, f.shape[0]))
    use_threads = f.shape[0] >= PARALLEL_THRESHOLD if parallel is None else parallel
    (greeks_parallel if use_threads else greeks_serial)(f, k, tt, v, q, d, out)
    return Greeks(*(row.reshape(shape) for row in out))


def black76_price(
    forward: object,
    strike: object,
    t: object,
    vol: object,
    is_call: object,
    *,
    discount: object = 1.0,
) -> np.ndarray:
    """Black-76 discounted price only (same conventions as :func:`black76`)."""
    return black76(forward, strike, t, vol, is_call, discount=discount).price


def bsm(
    spot: object,
    strike: object,
    t: object,
    vol: object,
    is_call: object,
    *,
    rate: object = 0.0,
    div_yield: object = 0.0,
) -> Greeks:
    """Black-Scholes-Merton (spot form) via Black-76 on ``F = S exp((r - q) t)``.

    Greeks are with respect to spot (``delta = dV/dS``, ``gamma = d2V/dS2``, ``vanna`` per vol
    point of ``dV/dS``); ``theta`` holds spot, rate and yield fixed, ``rho`` holds spot and yield
    fixed (per 1% of rate).
    """
    spot_a, strike_a, t_a, r_a, y_a = np.broadcast_arrays(
        *[np.asarray(x, dtype=np.float64) for x in (spot, strike, t, rate, div_yield)]
    )
    forward = spot_a * np.exp((r_a - y_a) * t_a)
    g = black76(forward, strike_a, t_a, vol, is_call, discount=np.exp(-r_a * t_a))
    ratio = forward / spot_a
    return Greeks(
        price=g.price,
        delta=g.delta * ratio,
        gamma=g.gamma * ratio * ratio,
        vega=g.vega,
        theta=g.theta - g.delta * (r_a - y_a) * forward / 365.0,
        rho=g.rho + 0.01 * g.delta * t_a * forward,
        vanna=g.vanna * ratio,
        volga=g.volga,
    )


def inverse_greeks(
    underlying: object,
    strike: object,
    t: object,
    vol: object,
    is_call: object,
    *,
    discount: object = 1.0,
) -> InverseGreeks:
    """Coin-settled options as Deribit quotes them: price in coin = USD Black-76 price / F.

    ``underlying`` is the price the venue uses to convert (Deribit: the underlying future or
    index price of the expiry), which is also the Black-76 forward.
    """
    usd = black76(underlying, strike, t, vol, is_call, discount=discount)
    f = np.broadcast_to(np.asarray(underlying, dtype=np.float64), usd.price.shape)
    price_coin = usd.price / f
    delta_coin = usd.delta - price_coin
    return InverseGreeks(
        price_coin=price_coin,
        usd=usd,
        delta_coin=delta_coin,
        gamma_coin=usd.gamma - delta_coin / f,
        vega_coin=usd.vega / f,
        theta_coin=usd.theta / f,
        rho_coin=usd.rho / f,
        vanna_coin=usd.vanna - usd.vega / f,
        volga_coin=usd.volga / f,
    )
