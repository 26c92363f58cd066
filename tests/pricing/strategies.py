"""Hypothesis strategies and helpers shared by the pricing tests (pure numerics, no Django)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

EPS = float(np.finfo(np.float64).eps)

forwards = st.floats(min_value=1.0, max_value=1e5)
# The domain: moneyness 0.2-5, 1 day to 3 years, 5%-300% vol.
moneyness = st.floats(min_value=0.2, max_value=5.0)
tenors = st.floats(min_value=1.0 / 365.0, max_value=3.0)
vols = st.floats(min_value=0.05, max_value=3.0)
rates = st.floats(min_value=-0.02, max_value=0.10)
is_call = st.booleans()


def random_options(n: int, seed: int) -> dict[str, np.ndarray]:
    """n options drawn log-uniformly over the issue's domain (moneyness, tenor, vol)."""
    rng = np.random.default_rng(seed)
    forward = np.exp(rng.uniform(np.log(1.0), np.log(1e5), n))
    return {
        "forward": forward,
        "strike": forward * np.exp(rng.uniform(np.log(0.2), np.log(5.0), n)),
        "t": np.exp(rng.uniform(np.log(1 / 365), np.log(3.0), n)),
        "vol": np.exp(rng.uniform(np.log(0.05), np.log(3.0), n)),
        "is_call": rng.random(n) < 0.5,
        "discount": rng.uniform(0.9, 1.0, n),
    }


def information_bound(
    price: np.ndarray,
    vega_per_point: np.ndarray,
    forward: np.ndarray | float = 1.0,
    strike: np.ndarray | float = 1.0,
    discount: np.ndarray | float = 1.0,
) -> np.ndarray:
    """Vol change caused by a 1-ulp change of the price: no solver can beat this.

    Prices whose normalised value ``price / (discount * sqrt(F K))`` is subnormal are
    underflow, where the solver documents NaN (NO_TIME_VALUE): their bound is infinite.
    """
    price = np.abs(np.asarray(price, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        bound = np.spacing(price) / (100.0 * np.asarray(vega_per_point))
        normalised = price / (np.asarray(discount) * np.sqrt(np.asarray(forward) * strike))
    return np.where(normalised < np.finfo(np.float64).tiny, np.inf, bound)
