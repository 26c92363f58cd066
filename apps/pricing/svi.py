"""Raw SVI smiles: fit per expiry, warm-started refits, butterfly and calendar arbitrage checks.

Conventions: ``k = ln(K / F)`` (log-moneyness against the forward of the expiry), ``t`` in years
(ACT/365), implied vols as fractions, total variance ``w(k) = iv(k)^2 * t``. Raw SVI
(Gatheral 2004):

    w(k) = a + b * (rho * (k - m) + sqrt((k - m)^2 + sigma^2))

Fitted parameters always satisfy b > 0, |rho| < 1, sigma > 0 and
``a + b * sigma * sqrt(1 - rho^2) > 0``, i.e. total variance is positive for every k (the
constraint is built into the parametrisation, not checked afterwards). These constraints do not
by themselves exclude butterfly arbitrage, so :func:`svi_butterfly_check` reports Durrleman's
condition on a grid and :func:`svi_calendar_check` reports crossings of total variance across
expiries; both say where violations are instead of hiding them.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from apps.pricing._svi_kernels import (
    cold_start,
    fit_cost,
    levenberg_marquardt,
    raw_to_theta,
    svi_w,
)
from apps.pricing._svi_kernels import theta_to_raw as _theta_to_raw

__all__ = [
    "ButterflyReport",
    "CalendarReport",
    "CalendarViolation",
    "SVIFit",
    "SVIParams",
    "svi_butterfly_check",
    "svi_calendar_check",
    "svi_fit",
    "svi_implied_vol",
    "svi_total_variance",
    "svi_weights_from_spread",
    "svi_weights_from_vega",
]

DEFAULT_K_GRID = np.linspace(-1.5, 1.5, 301)
# A previous smile this close (RMS vol error on the new quotes) is trusted as the start as it is.
WARM_TRUST_RMSE = 0.01


class SVIParams(NamedTuple):
    """Raw SVI parameters of one expiry (total-variance units)."""

    a: float
    b: float
    rho: float
    m: float
    sigma: float


@dataclass(frozen=True)
class SVIFit:
    """Result of :func:`svi_fit`: parameters, fit quality in vol units, and effort spent."""

    params: SVIParams
    t: float
    rmse: float  # weighted root-mean-square vol error (weights normalised to mean 1)
    iterations: int
    converged: bool
    warm_started: bool  # started from ``previous`` (False: from the grid scan)


def svi_total_variance(params: SVIParams, k: np.ndarray) -> np.ndarray:
    """Total variance w(k) = iv^2 * t of the smile at log-moneyness ``k``."""
    k = np.asarray(k, dtype=np.float64)
    w, _, _ = svi_w(*params, np.ascontiguousarray(k.reshape(-1)))
    return w.reshape(k.shape)


def svi_implied_vol(params: SVIParams, k: np.ndarray, t: float) -> np.ndarray:
    """Implied vol of the smile at log-moneyness ``k`` for expiry ``t`` (years)."""
    return np.sqrt(np.maximum(svi_total_variance(params, k), 0.0) / t)


def svi_weights_from_vega(vega: np.ndarray) -> np.ndarray:
    """Fit weights proportional to vega: vol errors then count like price errors."""
    vega = np.nan_to_num(np.asarray(vega, dtype=np.float64), nan=0.0)
    return np.clip(vega, 0.0, None)


def svi_weights_from_spread(bid_iv: np.ndarray, ask_iv: np.ndarray) -> np.ndarray:
    """Fit weights 1/spread^2 (inverse variance of the mid): tight quotes pull the smile."""
    spread = np.asarray(ask_iv, dtype=np.float64) - np.asarray(bid_iv, dtype=np.float64)
    spread = np.where(np.isfinite(spread) & (spread > 0), spread, np.nan)
    floor = np.nanmedian(spread) * 0.1 if np.isfinite(spread).any() else 1.0
    out = 1.0 / np.maximum(spread, floor) ** 2
    return np.nan_to_num(out, nan=0.0)


def svi_fit(
    k: np.ndarray,
    iv: np.ndarray,
    t: float,
    *,
    weights: np.ndarray | None = None,
    previous: SVIParams | None = None,
    max_iter: int = 200,
) -> SVIFit:
    """Weighted least-squares raw-SVI fit of one expiry's smile, in implied-vol space.

    Rows with non-finite ``k``/``iv``, non-positive vol or zero weight are ignored. With
    ``previous`` (the last fit of this expiry) the fit starts there when that smile is within
    ``WARM_TRUST_RMSE`` of the new quotes, which is what makes live refits cheap; otherwise the
    grid scan of a cold start runs too and the better start wins, so a stale ``previous`` cannot
    trap the fit in a poor local minimum. Raises ``ValueError`` only if ``t <= 0`` or fewer than
    five usable points remain (five parameters cannot be identified from fewer).
    """
    k = np.asarray(k, dtype=np.float64).reshape(-1)
    iv = np.asarray(iv, dtype=np.float64).reshape(-1)
    w = np.ones_like(k) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    keep = np.isfinite(k) & np.isfinite(iv) & (iv > 0) & np.isfinite(w) & (w > 0)
    if keep.sum() < 5 or not t > 0:
        raise ValueError("an SVI fit needs t > 0 and at least five usable points")
    k, iv, w = k[keep], iv[keep], w[keep]
    sw = np.sqrt(w / w.mean())
    t = float(t)
    theta0 = None
    warm = False
    if previous is not None:
        theta_prev = raw_to_theta(*[float(x) for x in previous])
        prev_cost = fit_cost(theta_prev, k, iv, sw, t)
        # Within a vol point (RMS) of the new quotes: start there, skip the grid scan.
        if np.sqrt(2.0 * prev_cost / k.shape[0]) < WARM_TRUST_RMSE:
            theta0, warm = theta_prev, True
        else:
            grid = cold_start(k, iv, sw, t)
            theta0, warm = (
                (theta_prev, True) if prev_cost <= fit_cost(grid, k, iv, sw, t) else (grid, False)
            )
    if theta0 is None:
        theta0 = cold_start(k, iv, sw, t)
    theta, cost, iterations, converged = levenberg_marquardt(theta0, k, iv, sw, t, max_iter, 1e-10)
    params = SVIParams(*[float(x) for x in _theta_to_raw(theta)])
    return SVIFit(
        params=params,
        t=t,
        rmse=float(np.sqrt(2.0 * cost / k.shape[0])),
        iterations=int(iterations),
        converged=bool(converged),
        warm_started=warm,
    )


@dataclass(frozen=True)
class ButterflyReport:
    """Durrleman's condition g(k) >= 0 on a grid; ``violations`` lists the k where g < -tol."""

    ok: bool
    g_min: float
    k_at_min: float
    violations: np.ndarray = field(repr=False)
    grid_step: float = field(default=0.0, repr=False)

    @property
    def ranges(self) -> list[tuple[float, float]]:
        """Contiguous grid ranges [k_start, k_end] of the violations, for display."""
        return _ranges(self.violations, self.grid_step)


def svi_durrleman_g(params: SVIParams, k: np.ndarray) -> np.ndarray:
    """Durrleman's g(k); the density of the smile is non-negative exactly where g >= 0."""
    k = np.ascontiguousarray(np.asarray(k, dtype=np.float64).reshape(-1))
    w, w1, w2 = svi_w(*params, k)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (1.0 - k * w1 / (2.0 * w)) ** 2 - 0.25 * w1 * w1 * (1.0 / w + 0.25) + 0.5 * w2


def svi_butterfly_check(
    params: SVIParams, k_grid: np.ndarray | None = None, *, tol: float = 1e-10
) -> ButterflyReport:
    """Butterfly (density) arbitrage check of one smile on ``k_grid`` (default -1.5..1.5)."""
    grid = DEFAULT_K_GRID if k_grid is None else np.asarray(k_grid, dtype=np.float64)
    g = svi_durrleman_g(params, grid)
    g = np.where(np.isfinite(g), g, -np.inf)  # w <= 0 would itself be an arbitrage
    i = int(np.argmin(g))
    bad = grid[g < -tol]
    step = float(np.max(np.diff(grid))) if grid.size > 1 else 0.0
    return ButterflyReport(
        ok=bad.size == 0, g_min=float(g[i]), k_at_min=float(grid[i]), violations=bad,
        grid_step=step,
    )  # fmt: skip


class CalendarViolation(NamedTuple):
    """Total variance of the later expiry falls below the earlier one's on these k."""

    t_early: float
    t_late: float
    k: np.ndarray
    worst_k: float
    worst_gap: float  # min over k of w_late - w_early (negative)


@dataclass(frozen=True)
class CalendarReport:
    """Calendar check across expiries: ``ok`` iff w(k, T) is non-decreasing in T on the grid."""

    ok: bool
    violations: list[CalendarViolation]


def svi_calendar_check(
    slices: Sequence[tuple[float, SVIParams]],
    k_grid: np.ndarray | None = None,
    *,
    tol: float = 1e-10,
) -> CalendarReport:
    """Compare each pair of consecutive expiries (sorted by t) at fixed log-moneyness."""
    grid = DEFAULT_K_GRID if k_grid is None else np.asarray(k_grid, dtype=np.float64)
    ordered = sorted(slices, key=lambda s: s[0])
    violations: list[CalendarViolation] = []
    for (t0, p0), (t1, p1) in itertools.pairwise(ordered):
        gap = svi_total_variance(p1, grid) - svi_total_variance(p0, grid)
        bad = gap < -tol
        if bad.any():
            i = int(np.argmin(gap))
            violations.append(CalendarViolation(t0, t1, grid[bad], float(grid[i]), float(gap[i])))
    return CalendarReport(ok=not violations, violations=violations)


def _ranges(points: np.ndarray, step: float) -> list[tuple[float, float]]:
    """Group sorted grid points into runs of neighbours (gaps up to 1.5 grid steps)."""
    if points.size == 0:
        return []
    out = []
    start = prev = float(points[0])
    for p in points[1:]:
        if p - prev > 1.5 * step:
            out.append((start, prev))
            start = float(p)
        prev = float(p)
    out.append((start, prev))
    return out
