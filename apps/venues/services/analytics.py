"""Per-poll analytics: implied vols and Greeks for the whole chain, SVI per expiry, the surface.

Pure computation over a validated chain (NumPy and apps.pricing; no database, no Redis), so the
benchmark and the tests call it alone. Guarantees of :func:`surface_compute`:

* IVs and Greeks come from one vectorised call of the pricing engine on the mids (USD terms;
  coin prices are converted with each option's forward) plus one call each for bid and ask vols;
* each expiry with at least ``MIN_FIT_POINTS`` out-of-the-money quotes and at least
  ``MIN_FIT_T`` to go gets a raw-SVI fit (warm-started from the previous poll's parameters),
  weighted by the inverse squared bid/ask vol spread, with Durrleman's butterfly check; the
  slices together get the calendar check;
* nothing returned contains NaN or a negative vol: a slice whose fit is not finite is left out
  (and said so in ``skipped``), the grid only spans fitted slices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from apps.pricing.chain import ChainAnalytics, chain_analytics
from apps.pricing.iv import IVReason, implied_vol
from apps.pricing.surface import smile_metrics, surface_grid
from apps.pricing.svi import (
    SVIParams,
    svi_butterfly_check,
    svi_calendar_check,
    svi_fit,
    svi_implied_vol,
    svi_weights_from_spread,
)
from apps.venues.adapters.base import OptionChain

__all__ = ["FittedSlice", "SurfaceComputation", "surface_compute"]

MIN_FIT_POINTS = 5
MIN_FIT_T = 4.0 / (365.0 * 24.0)  # four hours: the last hours of an expiry say little about vol
GRID_K = np.round(np.linspace(-0.8, 0.8, 33), 6)
GRID_TENORS_DAYS = (1, 7, 14, 30, 60, 90, 180, 365)
SANITY_K = np.linspace(-1.5, 1.5, 61)
MAX_SANE_VOL = 10.0  # 1000%: anything above is a failed fit, not a market


@dataclass(frozen=True)
class FittedSlice:
    """One expiry's smile: SVI parameters, fit quality, arbitrage flags and smile metrics."""

    expiry_ms: int
    t: float
    forward: float
    params: SVIParams
    rmse: float
    n_points: int
    converged: bool
    butterfly_ok: bool
    g_min: float
    k_at_g_min: float
    atm_vol: float
    vol_25d_call: float
    vol_25d_put: float
    rr25: float
    bf25: float


@dataclass(frozen=True)
class SurfaceComputation:
    """Everything one poll computes for one underlying."""

    chain: OptionChain  # the validated chain the numbers belong to (same row order)
    analytics: ChainAnalytics
    iv_bid: np.ndarray
    iv_ask: np.ndarray
    unpriced: dict[str, int]  # IV failures by IVReason name (e.g. NO_TIME_VALUE)
    slices: list[FittedSlice]
    skipped: dict[int, str]  # expiry ms -> why no slice
    calendar_ok: bool
    calendar_violations: list[dict[str, float]]
    grid_k: np.ndarray
    grid_t: np.ndarray
    grid_iv: np.ndarray  # shape (len(grid_t), len(grid_k))
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def used_count(self) -> int:
        return int(np.count_nonzero(self.analytics.reason == IVReason.OK))


def _usd(prices: np.ndarray, chain: OptionChain) -> np.ndarray:
    return prices * chain.forward if chain.price_in_coin else prices


def _slice_is_sane(params: SVIParams, t: float) -> bool:
    if not all(math.isfinite(x) for x in params):
        return False
    vols = svi_implied_vol(params, SANITY_K, t)
    return bool(np.all(np.isfinite(vols)) and np.all(vols > 0) and np.all(vols < MAX_SANE_VOL))


def surface_compute(
    chain: OptionChain, *, previous: dict[int, SVIParams] | None = None
) -> SurfaceComputation:
    """IVs, Greeks, SVI slices, arbitrage flags and the grid for a validated chain.

    ``previous`` maps expiry (epoch ms) to last poll's parameters, used as warm starts.
    """
    import time

    previous = previous or {}
    started = time.perf_counter()
    t = chain.years_to_expiry()
    mid = 0.5 * (chain.bid + chain.ask)
    analytics = chain_analytics(
        mid, chain.forward, chain.strike, t, chain.is_call, price_in_coin=chain.price_in_coin
    )
    iv_bid = implied_vol(_usd(chain.bid, chain), chain.forward, chain.strike, t, chain.is_call)
    iv_ask = implied_vol(_usd(chain.ask, chain), chain.forward, chain.strike, t, chain.is_call)
    reasons, counts = np.unique(analytics.reason, return_counts=True)
    unpriced = {
        IVReason(int(r)).name.lower(): int(c)
        for r, c in zip(reasons, counts, strict=True)
        if r != IVReason.OK
    }
    after_iv = time.perf_counter()

    iv = analytics.iv
    otm = np.where(chain.is_call, chain.strike >= chain.forward, chain.strike < chain.forward)
    usable = otm & np.isfinite(iv) & (iv > 0)
    slices: list[FittedSlice] = []
    skipped: dict[int, str] = {}
    expiries, first_rows = np.unique(chain.expiry_ms, return_index=True)
    for expiry_ms, first in zip(expiries, first_rows, strict=True):
        expiry_t = float(t[first])
        rows = (chain.expiry_ms == expiry_ms) & usable
        n_points = int(rows.sum())
        key = int(expiry_ms)
        if expiry_t < MIN_FIT_T:
            skipped[key] = "too_close_to_expiry"
            continue
        if n_points < MIN_FIT_POINTS:
            skipped[key] = "too_few_quotes"
            continue
        weights = svi_weights_from_spread(iv_bid[rows], iv_ask[rows])
        try:
            fit = svi_fit(
                analytics.log_moneyness[rows],
                iv[rows],
                expiry_t,
                weights=weights if np.count_nonzero(weights) >= MIN_FIT_POINTS else None,
                previous=previous.get(key),
            )
        except ValueError:
            skipped[key] = "too_few_quotes"
            continue
        if not (_slice_is_sane(fit.params, expiry_t) and math.isfinite(fit.rmse)):
            skipped[key] = "fit_failed"
            continue
        butterfly = svi_butterfly_check(fit.params)
        metrics = smile_metrics(expiry_t, fit.params)
        if not all(math.isfinite(x) for x in metrics):
            skipped[key] = "fit_failed"
            continue
        slices.append(
            FittedSlice(
                expiry_ms=key,
                t=expiry_t,
                forward=float(np.median(chain.forward[chain.expiry_ms == expiry_ms])),
                params=fit.params,
                rmse=float(fit.rmse),
                n_points=n_points,
                converged=fit.converged,
                butterfly_ok=butterfly.ok,
                g_min=float(butterfly.g_min) if math.isfinite(butterfly.g_min) else -1.0,
                k_at_g_min=float(butterfly.k_at_min),
                atm_vol=metrics.atm_vol,
                vol_25d_call=metrics.vol_25d_call,
                vol_25d_put=metrics.vol_25d_put,
                rr25=metrics.rr25,
                bf25=metrics.bf25,
            )
        )
    after_svi = time.perf_counter()

    pairs = [(s.t, s.params) for s in slices]
    calendar_ok, violations = True, []
    grid_t = np.empty(0)
    grid_iv = np.empty((0, GRID_K.size))
    if pairs:
        report = svi_calendar_check(pairs)
        calendar_ok = report.ok
        violations = [
            {
                "t_early": v.t_early,
                "t_late": v.t_late,
                "worst_k": v.worst_k,
                "worst_gap": v.worst_gap,
            }
            for v in report.violations
        ]
        t_first, t_last = pairs[0][0], pairs[-1][0]
        tenors = [d / 365.0 for d in GRID_TENORS_DAYS if t_first <= d / 365.0 <= t_last]
        grid_t = np.array(sorted({t_first, *tenors, t_last}))
        grid = surface_grid(pairs, GRID_K, grid_t)
        finite_rows = np.all(np.isfinite(grid.iv) & (grid.iv > 0), axis=1)
        grid_t, grid_iv = grid_t[finite_rows], grid.iv[finite_rows]
    finished = time.perf_counter()
    return SurfaceComputation(
        chain=chain,
        analytics=analytics,
        iv_bid=iv_bid,
        iv_ask=iv_ask,
        unpriced=unpriced,
        slices=slices,
        skipped=skipped,
        calendar_ok=calendar_ok,
        calendar_violations=violations,
        grid_k=GRID_K,
        grid_t=grid_t,
        grid_iv=grid_iv,
        timings={
            "iv_greeks": after_iv - started,
            "svi": after_svi - after_iv,
            "surface": finished - after_svi,
        },
    )


def warm_up() -> None:
    """Run every kernel once on a tiny synthetic chain (numba loads or compiles them)."""
    from datetime import UTC, datetime

    now = datetime.now(tz=UTC)
    now_ms = int(now.timestamp() * 1000)
    strikes = np.array([80.0, 90.0, 100.0, 110.0, 120.0, 130.0] * 2)
    calls = np.array([True] * 6 + [False] * 6)
    n = strikes.shape[0]
    forward = np.full(n, 100.0)
    t = 30.0 / 365.0
    from apps.pricing.black76 import black76_price

    price = black76_price(forward, strikes, t, 0.6, calls) / forward
    chain = OptionChain(
        venue="WARMUP",
        underlying="X",
        as_of=now,
        index_price=100.0,
        price_currency="X",
        price_in_coin=True,
        symbol=np.array([f"X-{i}" for i in range(n)], dtype=object),
        expiry_ms=np.full(n, now_ms + int(t * 365 * 86_400_000), dtype=np.int64),
        strike=strikes,
        is_call=calls,
        bid=price * 0.98,
        ask=price * 1.02,
        mark=price,
        bid_size=np.ones(n),
        ask_size=np.ones(n),
        forward=forward,
        quote_ts=np.full(n, now_ms, dtype=np.int64),
    )
    surface_compute(chain)
