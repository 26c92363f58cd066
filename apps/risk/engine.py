"""The risk engine: position values, Greeks, aggregation and the scenario grid, vectorised.

Pure NumPy and apps.pricing (no Django), so the benchmark and the property tests call it
alone. Units follow docs/pricing.md; per position, with ``n = size * contract_size`` units of
underlying and ``F`` the forward of the position's expiry (see docs/risk.md for why):

* ``delta_usd = n * delta * F``         USD value change for a 100% move, i.e. USD exposure
* ``delta_coin``                        coins of underlying: ``n * delta`` for USD-settled
                                        options, premium-adjusted ``n * (delta - price_coin)``
                                        for coin-settled (inverse) ones
* ``gamma_usd = n * gamma * F**2 / 100`` change of ``delta_usd`` for a 1% move of the forward
* ``vega_usd = n * vega``               per vol point;  ``theta_usd = n * theta``  per day
* ``*_coin`` (gamma, vega, theta)       the USD figure divided by ``F``

Valuation is on the fitted surface: ``vol = sqrt(w(k, t) / t)`` with ``w`` the SVI total variance
interpolated in ``t`` (apps.pricing.surface) and ``k = ln(K / F)``. Marks come from the venue
(its mark price) when the chain has the instrument, else from the model.

Scenario grid: for each spot shock ``s`` and vol shock ``v`` (vol points as a fraction, 0.05 =
5 points), every option is revalued in full with Black-76 at ``F' = F (1 + s)`` and
``vol' = max(vol_surface(ln(K / F'), t) + v, VOL_FLOOR)`` (sticky moneyness: the smile moves
with the forward); PnL is ``n * (V' - V)`` with ``V`` the same model at no shock, so the grid's
centre is exactly 0. Linear instruments (futures, perpetuals) move by ``n * F * s``. All
underlyings are shocked together by the same ``s``: a scope's grid is the cell-wise sum.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from apps.pricing.black76 import black76
from apps.pricing.surface import total_variance_at
from apps.pricing.svi import SVIParams

__all__ = [
    "DEFAULT_SPOT_SHOCKS",
    "DEFAULT_VOL_SHOCKS",
    "EXPIRY_BUCKETS",
    "BookInput",
    "BookRisk",
    "Market",
    "book_evaluate",
    "expiry_bucket_index",
    "group_sums",
    "surface_vol",
]

MS_PER_YEAR = 365.0 * 86400.0 * 1000.0
DEFAULT_SPOT_SHOCKS = np.round(np.linspace(-0.30, 0.30, 13), 4)  # -30% ... +30% by 5%
DEFAULT_VOL_SHOCKS = np.round(np.linspace(-0.20, 0.20, 9), 4)  # -20 ... +20 vol points by 5
VOL_FLOOR = 0.01  # a vol shock never takes an option below 1% vol
# Expiry buckets (upper bounds in days; the last is open); linear instruments are "none".
EXPIRY_BUCKETS: tuple[tuple[str, float], ...] = (
    ("0-1d", 1.0),
    ("1-7d", 7.0),
    ("7-30d", 30.0),
    ("30-90d", 90.0),
    ("90d+", float("inf")),
)
NO_EXPIRY_BUCKET = "none"

# Per-position figures that add up (aggregated by group_sums).
ADDITIVE = (
    "value_usd",
    "upnl_usd",
    "delta_usd",
    "delta_coin",
    "gamma_usd",
    "gamma_coin",
    "vega_usd",
    "vega_coin",
    "theta_usd",
    "theta_coin",
    "notional_usd",
)


@dataclass(frozen=True)
class Market:
    """One underlying's market at one venue: what the latest chain and surface say.

    ``slices`` are ``(t, SVIParams)`` with ``t`` measured from ``as_of_ms``; ``forward_expiry_ms``
    / ``forward`` give the forward per listed expiry (interpolated linearly in between, held
    flat outside); ``index`` prices perpetuals and undated positions."""

    as_of_ms: int
    index: float
    slices: list[tuple[float, SVIParams]]
    forward_expiry_ms: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    forward: np.ndarray = field(default_factory=lambda: np.empty(0))

    def forward_at(self, expiry_ms: np.ndarray) -> np.ndarray:
        expiry_ms = np.asarray(expiry_ms, dtype=np.float64)
        if self.forward.size == 0:
            return np.full(expiry_ms.shape, self.index)
        order = np.argsort(self.forward_expiry_ms)
        out = np.interp(
            expiry_ms,
            self.forward_expiry_ms[order].astype(np.float64),
            self.forward[order],
        )
        return np.where(expiry_ms > 0, out, self.index)


@dataclass(frozen=True)
class BookInput:
    """Positions as columns (one row each). ``market`` indexes the list of markets given to
    :func:`book_evaluate` (-1: no market data, the row is left unpriced). ``mark`` is the
    venue's mark in the quote currency (NaN: use the model). ``expiry_ms`` is 0 for undated."""

    size: np.ndarray
    contract_size: np.ndarray
    average_price: np.ndarray
    is_option: np.ndarray
    strike: np.ndarray
    is_call: np.ndarray
    expiry_ms: np.ndarray
    price_in_coin: np.ndarray
    market: np.ndarray
    mark: np.ndarray

    def __len__(self) -> int:
        return int(self.size.shape[0])


@dataclass(frozen=True)
class BookRisk:
    """Per-position results (arrays of the book's length) and the PnL cube.

    ``pnl[i, a, b]`` is position i's USD PnL under spot shock ``spot_shocks[a]`` and vol shock
    ``vol_shocks[b]``; unpriced rows are 0 there and NaN in the other figures."""

    priced: np.ndarray
    t: np.ndarray
    forward: np.ndarray
    iv: np.ndarray
    model_price_usd: np.ndarray  # per unit of underlying
    mark_usd: np.ndarray  # per unit of underlying
    mark_from_venue: np.ndarray
    figures: dict[str, np.ndarray]
    upnl_coin: np.ndarray
    spot_shocks: np.ndarray
    vol_shocks: np.ndarray
    pnl: np.ndarray


def surface_vol(slices: list[tuple[float, SVIParams]], k: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Implied vol on the surface at log-moneyness ``k`` and tenor ``t`` (arrays of one shape;
    the last axis of ``k`` may carry shocks). One surface evaluation per distinct ``t``."""
    k = np.asarray(k, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    out = np.full(k.shape, np.nan)
    if not slices:
        return out
    t_rows = np.broadcast_to(t.reshape(t.shape + (1,) * (k.ndim - t.ndim)), k.shape)
    for tenor in np.unique(t):
        rows = t_rows == tenor
        if tenor <= 0.0:
            out[rows] = VOL_FLOOR  # expired: the price is intrinsic whatever the vol
            continue
        w = total_variance_at(slices, k[rows], float(tenor))
        out[rows] = np.sqrt(np.maximum(w, 0.0) / tenor)
    return out


def book_evaluate(
    book: BookInput,
    markets: list[Market],
    *,
    spot_shocks: np.ndarray = DEFAULT_SPOT_SHOCKS,
    vol_shocks: np.ndarray = DEFAULT_VOL_SHOCKS,
) -> BookRisk:
    """Value every position, its Greeks and its PnL in every scenario (see module docstring)."""
    n_rows = len(book)
    spot_shocks = np.asarray(spot_shocks, dtype=np.float64)
    vol_shocks = np.asarray(vol_shocks, dtype=np.float64)
    ns, nv = spot_shocks.size, vol_shocks.size
    units = book.size * book.contract_size
    t = np.zeros(n_rows)
    forward = np.full(n_rows, np.nan)
    vol = np.full(n_rows, np.nan)
    vol_cube = np.full((n_rows, ns), np.nan)
    for m, market in enumerate(markets):
        rows = book.market == m
        if not rows.any():
            continue
        forward[rows] = market.forward_at(book.expiry_ms[rows])
        dated = rows & (book.expiry_ms > 0)
        t[dated] = np.maximum((book.expiry_ms[dated] - market.as_of_ms) / MS_PER_YEAR, 0.0)
        options = rows & book.is_option
        if options.any() and market.slices:
            f, k_strike, tt = forward[options], book.strike[options], t[options]
            vol[options] = surface_vol(market.slices, np.log(k_strike / f), tt)
            shocked_f = f[:, None] * (1.0 + spot_shocks[None, :])
            vol_cube[options] = surface_vol(
                market.slices, np.log(k_strike[:, None] / shocked_f), tt
            )
    option_priced = book.is_option & np.isfinite(vol) & np.isfinite(forward)
    linear_priced = ~book.is_option & np.isfinite(forward)
    priced = option_priced | linear_priced

    # Base valuation (model) and Greeks, USD per unit of underlying.
    g = black76(
        np.where(option_priced, forward, 1.0),
        np.where(option_priced, book.strike, 1.0),
        t,
        np.where(option_priced, vol, VOL_FLOOR),
        book.is_call,
    )
    model_price = np.where(option_priced, g.price, np.where(linear_priced, forward, np.nan))
    delta = np.where(option_priced, g.delta, np.where(linear_priced, 1.0, np.nan))
    gamma = np.where(option_priced, g.gamma, 0.0)
    vega = np.where(option_priced, g.vega, 0.0)
    theta = np.where(option_priced, g.theta, 0.0)

    # Marks: the venue's, converted to USD per unit, else the model's.
    venue_mark_usd = np.where(book.price_in_coin, book.mark * forward, book.mark)
    from_venue = priced & np.isfinite(venue_mark_usd) & book.is_option
    mark_usd = np.where(from_venue, venue_mark_usd, model_price)
    with np.errstate(invalid="ignore", divide="ignore"):
        mark_quote = np.where(book.price_in_coin, mark_usd / forward, mark_usd)
        price_coin = np.where(book.price_in_coin & book.is_option, mark_usd / forward, 0.0)
        upnl_quote = units * (mark_quote - book.average_price)
        upnl_coin = np.where(book.price_in_coin, upnl_quote, upnl_quote / forward)
        upnl_usd = np.where(book.price_in_coin, upnl_quote * forward, upnl_quote)
        figures = {
            "value_usd": units * mark_usd,
            "upnl_usd": upnl_usd,
            "delta_usd": units * delta * forward,
            "delta_coin": units * (delta - price_coin),
            "gamma_usd": units * gamma * forward * forward / 100.0,
            "vega_usd": units * vega,
            "theta_usd": units * theta,
            "notional_usd": np.abs(units) * forward,
        }
        figures["gamma_coin"] = figures["gamma_usd"] / forward
        figures["vega_coin"] = figures["vega_usd"] / forward
        figures["theta_coin"] = figures["theta_usd"] / forward
    for name in ADDITIVE:
        figures[name] = np.where(priced, figures[name], np.nan)

    # Scenario cube: full revaluation of the options, vectorised over (position, spot, vol).
    pnl = np.zeros((n_rows, ns, nv))
    if option_priced.any():
        idx = np.flatnonzero(option_priced)
        f_s = forward[idx, None, None] * (1.0 + spot_shocks[None, :, None])
        v_s = np.maximum(vol_cube[idx, :, None] + vol_shocks[None, None, :], VOL_FLOOR)
        shape = (idx.size, ns, nv)
        shocked = black76(
            f_s,
            np.broadcast_to(book.strike[idx, None, None], shape),
            np.broadcast_to(t[idx, None, None], shape),
            v_s,
            np.broadcast_to(book.is_call[idx, None, None], shape),
        ).price
        pnl[idx] = units[idx, None, None] * (shocked - model_price[idx, None, None])
    if linear_priced.any():
        idx = np.flatnonzero(linear_priced)
        move = units[idx, None] * forward[idx, None] * spot_shocks[None, :]
        pnl[idx] = np.broadcast_to(move[:, :, None], (idx.size, ns, nv))
    pnl[~np.isfinite(pnl)] = 0.0
    return BookRisk(
        priced=priced,
        t=t,
        forward=forward,
        iv=np.where(option_priced, vol, np.nan),
        model_price_usd=model_price,
        mark_usd=np.where(priced, mark_usd, np.nan),
        mark_from_venue=from_venue,
        figures=figures,
        upnl_coin=np.where(priced, upnl_coin, np.nan),
        spot_shocks=spot_shocks,
        vol_shocks=vol_shocks,
        pnl=pnl,
    )


def expiry_bucket_index(t_years: np.ndarray, is_dated: np.ndarray) -> np.ndarray:
    """Bucket number per position (index into EXPIRY_BUCKETS; len(EXPIRY_BUCKETS) = undated)."""
    days = np.asarray(t_years) * 365.0
    bounds = np.array([b for _, b in EXPIRY_BUCKETS[:-1]])
    index = np.searchsorted(bounds, days, side="left")
    return np.where(is_dated, index, len(EXPIRY_BUCKETS))


def expiry_bucket_names() -> list[str]:
    return [name for name, _ in EXPIRY_BUCKETS] + [NO_EXPIRY_BUCKET]


def group_sums(
    risk: BookRisk, group: np.ndarray, n_groups: int
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """Sums of the additive figures per group, priced and unpriced counts per group, and each
    group's scenario grid (shape ``(n_groups, spots, vols)``). Unpriced rows add nothing."""
    group = np.asarray(group, dtype=np.int64)
    sums = {
        name: np.bincount(group, weights=np.nan_to_num(values), minlength=n_groups)[:n_groups]
        for name, values in risk.figures.items()
    }
    priced = np.bincount(group[risk.priced], minlength=n_groups)[:n_groups]
    unpriced = np.bincount(group[~risk.priced], minlength=n_groups)[:n_groups]
    # One-hot matrix product: np.add.at over (positions, spots, vols) is ten times slower.
    onehot = np.zeros((n_groups, group.size))
    onehot[group, np.arange(group.size)] = 1.0
    cells = risk.pnl.reshape(group.size, int(np.prod(risk.pnl.shape[1:])))
    grid = (onehot @ cells).reshape((n_groups, *risk.pnl.shape[1:]))
    return sums, priced, unpriced, grid
