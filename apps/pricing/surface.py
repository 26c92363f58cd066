"""Vol surfaces from fitted SVI slices: grids for the 3D plot, smile metrics, ATM term structure.

Inputs are ``slices``: a sequence of ``(t, SVIParams)``, one per expiry (t in years). Between
expiries total variance is interpolated linearly in t at fixed log-moneyness ``k = ln(K/F)``,
which keeps a calendar-arbitrage-free set of slices free of calendar arbitrage; before the first
and after the last expiry the nearest slice's implied vol is held constant (flat extrapolation).

Deltas are undiscounted forward call deltas ``N(d1)`` (Deribit's convention for its vol
surface); a put delta of -0.25 is the call delta 0.75. "25-delta risk reversal" is
``iv(25d call) - iv(25d put)`` and "25-delta butterfly" is ``(iv(25d call) + iv(25d put))/2 -
iv(ATM)``, with ATM the forward (k = 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy.special import ndtri

from apps.pricing.svi import SVIParams, svi_total_variance

__all__ = [
    "SmileMetrics",
    "SurfaceGrid",
    "atm_term_structure",
    "k_for_call_delta",
    "smile_metrics",
    "surface_delta_grid",
    "surface_grid",
]

Slices = Sequence[tuple[float, SVIParams]]


class SurfaceGrid(NamedTuple):
    """``iv[i, j]`` is the implied vol at tenor ``t[i]`` and axis value ``x[j]`` (k or delta)."""

    x: np.ndarray
    t: np.ndarray
    iv: np.ndarray


class SmileMetrics(NamedTuple):
    """Per-expiry summary numbers a trader reads off a smile (vols as fractions)."""

    t: float
    atm_vol: float
    vol_25d_call: float
    vol_25d_put: float
    rr25: float
    bf25: float


def _sorted(slices: Slices) -> tuple[np.ndarray, list[SVIParams]]:
    ordered = sorted(slices, key=lambda s: s[0])
    return np.array([s[0] for s in ordered], dtype=np.float64), [s[1] for s in ordered]


def total_variance_at(slices: Slices, k: np.ndarray, t: float) -> np.ndarray:
    """Total variance at tenor ``t`` (years) on log-moneyness ``k``, interpolated in t."""
    ts, params = _sorted(slices)
    k = np.asarray(k, dtype=np.float64)
    if t <= ts[0]:
        return svi_total_variance(params[0], k) * (t / ts[0])
    if t >= ts[-1]:
        return svi_total_variance(params[-1], k) * (t / ts[-1])
    j = int(np.searchsorted(ts, t))
    lam = (t - ts[j - 1]) / (ts[j] - ts[j - 1])
    return (1.0 - lam) * svi_total_variance(params[j - 1], k) + lam * svi_total_variance(
        params[j], k
    )


def surface_grid(slices: Slices, k_grid: np.ndarray, t_grid: np.ndarray) -> SurfaceGrid:
    """Implied vols on a log-moneyness x tenor grid (rows: tenors; NaN rows for t <= 0)."""
    k_grid = np.asarray(k_grid, dtype=np.float64)
    t_grid = np.asarray(t_grid, dtype=np.float64)
    rows = [
        np.sqrt(np.maximum(total_variance_at(slices, k_grid, t), 0.0) / t)
        if t > 0
        else np.full(k_grid.shape, np.nan)
        for t in t_grid
    ]
    return SurfaceGrid(x=k_grid, t=t_grid, iv=np.array(rows).reshape(t_grid.size, k_grid.size))


def k_for_call_delta(params: SVIParams, deltas: np.ndarray) -> np.ndarray:
    """Log-moneyness where the smile's forward call delta N(d1) equals each of ``deltas``.

    Solved by bisection on [-10, 10] (60 halvings, 1e-17 wide): N(d1(k)) is decreasing in k for
    any smile without butterfly arbitrage, and bisection cannot be thrown off if it is not.
    Deltas outside (0, 1) give NaN.
    """
    deltas = np.asarray(deltas, dtype=np.float64)
    z = ndtri(np.where((deltas > 0) & (deltas < 1), deltas, np.nan))
    lo = np.full(deltas.shape, -10.0)
    hi = np.full(deltas.shape, 10.0)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        sw = np.sqrt(np.maximum(svi_total_variance(params, mid), 1e-300))
        d1 = -mid / sw + 0.5 * sw
        above = d1 > z  # delta still larger than wanted: move right
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
    return np.where(np.isfinite(z), 0.5 * (lo + hi), np.nan)


def _vol_at(params: SVIParams, k: np.ndarray, t: float) -> np.ndarray:
    return np.sqrt(np.maximum(svi_total_variance(params, k), 0.0) / t)


def surface_delta_grid(slices: Slices, deltas: np.ndarray) -> SurfaceGrid:
    """Implied vols on a call-delta x expiry grid, one row per fitted expiry."""
    ts, params = _sorted(slices)
    deltas = np.asarray(deltas, dtype=np.float64)
    rows = [_vol_at(p, k_for_call_delta(p, deltas), t) for t, p in zip(ts, params, strict=True)]
    return SurfaceGrid(x=deltas, t=ts, iv=np.array(rows).reshape(ts.size, deltas.size))


def smile_metrics(t: float, params: SVIParams) -> SmileMetrics:
    """ATM vol, 25-delta call/put vols, risk reversal and butterfly of one expiry."""
    k25c, k25p = k_for_call_delta(params, np.array([0.25, 0.75]))
    atm, v25c, v25p = _vol_at(params, np.array([0.0, k25c, k25p]), t)
    return SmileMetrics(
        t=float(t),
        atm_vol=float(atm),
        vol_25d_call=float(v25c),
        vol_25d_put=float(v25p),
        rr25=float(v25c - v25p),
        bf25=float(0.5 * (v25c + v25p) - atm),
    )


def atm_term_structure(slices: Slices) -> tuple[np.ndarray, np.ndarray]:
    """(t, ATM-forward vol) per expiry, sorted by t."""
    ts, params = _sorted(slices)
    atm = np.array([_vol_at(p, np.zeros(1), t)[0] for t, p in zip(ts, params, strict=True)])
    return ts, atm
