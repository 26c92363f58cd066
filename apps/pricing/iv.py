"""Implied volatility of Black-76 prices, vectorised, with a reason for every NaN.

Public API:

* :func:`implied_vol` -> vols (NaN where the price carries no information),
* :func:`implied_vol_with_reason` -> (vols, reasons) with ``reasons`` an ``int8`` array of
  :class:`IVReason` codes, ``IVReason.OK`` exactly where the vol is finite.

Conventions: prices are *discounted* option prices in the same currency as ``forward`` and
``strike``; ``t`` is in years (ACT/365); ``discount`` is the discount factor to expiry. Vols are
annualised and expressed as fractions (0.55 means 55%).

Accuracy: a price pins the vol down only to the vol change a 1-ulp change of the price causes
(``ulp(price) / vega``: deep in-the-money options whose time value is a few ulps of their price
cannot do better). The tests hold every solved option to ``1e-12 + 4 * ulp(price) / vega`` and
every well-posed one (that bound below 1e-10) to zero failures, across moneyness 0.2-5, 1 day to
3 years and 5%-300% vol, far inside the 1e-8 requirement.

Method: normalise to Jäckel's out-of-the-money call ``b(x, s)``, take a first guess from a
precomputed table of ``ln s`` (median relative error ~2e-5), then third-order Householder steps on
``ln b`` (below the half-way price) or ``-ln(bound - b)`` (above it) until a step is below 1e-4
relative, which leaves an error of order 1e-16 (quartic convergence); ~94% of options need one
step, the rest two. Anything unusual falls back to a bracketed Newton in ``ln s`` that cannot
diverge. The kernels are in ``_kernels.py``; docs/pricing.md has the details.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from apps.pricing._arrays import as_flat_arrays, call_sign
from apps.pricing._kernels import EPS, build_guess_table, iv_parallel, iv_serial

__all__ = ["IVReason", "implied_vol", "implied_vol_with_reason"]

# Below this many options the thread pool costs more than it saves.
PARALLEL_THRESHOLD = 20_000


class IVReason(IntEnum):
    """Why :func:`implied_vol_with_reason` did (OK) or did not return a vol for an option."""

    OK = 0
    NAN_INPUT = 1  # an input is NaN or infinite
    INVALID_INPUT = 2  # forward, strike or discount factor <= 0
    EXPIRED = 3  # t <= 0: no time value can exist
    BELOW_INTRINSIC = 4  # price below intrinsic value (includes negative prices)
    ABOVE_MAX = 5  # price at or above the upper bound (forward for calls, strike for puts)
    NO_TIME_VALUE = 6  # time value lost in double precision (rounding noise or underflow)
    NOT_CONVERGED = 7  # the solver failed; never expected, tests assert it does not happen


_table: np.ndarray | None = None


def _guess_table() -> np.ndarray:
    global _table  # computed once per process, read-only afterwards
    if _table is None:
        _table = build_guess_table()
    return _table


def implied_vol_with_reason(
    price: object,
    forward: object,
    strike: object,
    t: object,
    is_call: object,
    *,
    discount: object = 1.0,
    parallel: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Black-76 implied vols and, per option, the :class:`IVReason` (``int8``) for each result.

    Inputs broadcast against each other (scalars or arrays); outputs have the broadcast shape.
    Never raises on bad rows: they get NaN and a reason. ``parallel=None`` uses numba threads
    for large inputs only.
    """
    shape, (p, f, k, tt, q, d) = as_flat_arrays(
        price, forward, strike, t, call_sign(is_call), discount
    )
    out = np.empty(p.shape[0])
    reason = np.empty(p.shape[0], dtype=np.int8)
    use_threads = p.shape[0] >= PARALLEL_THRESHOLD if parallel is None else parallel
    kernel = iv_parallel if use_threads else iv_serial
    kernel(p, f, k, tt, q, d, _guess_table(), out, reason)
    return out.reshape(shape), reason.reshape(shape)


def implied_vol(
    price: object,
    forward: object,
    strike: object,
    t: object,
    is_call: object,
    *,
    discount: object = 1.0,
    parallel: bool | None = None,
) -> np.ndarray:
    """Black-76 implied vols (fractions, annualised); NaN where the price carries no information.

    See :func:`implied_vol_with_reason` for why a given entry is NaN.
    """
    vol, _ = implied_vol_with_reason(
        price, forward, strike, t, is_call, discount=discount, parallel=parallel
    )
    return vol


def no_information_bound(price: np.ndarray, vega_per_unit: np.ndarray) -> np.ndarray:
    """Vol uncertainty forced by the input alone: the vol change of a 1-ulp change of the price.

    ``vega_per_unit`` is dPrice/dSigma per 1.00 of vol. Used by the tests and the benchmark to
    tell well-posed options from those whose price cannot pin the vol down to 1e-8.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return EPS * np.abs(price) / vega_per_unit
