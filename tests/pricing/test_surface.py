"""Surface grids, smile metrics and the ATM term structure built from SVI slices."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from apps.pricing import (
    SVIParams,
    atm_term_structure,
    smile_metrics,
    surface_delta_grid,
    surface_grid,
    svi_implied_vol,
    svi_total_variance,
)
from apps.pricing.surface import k_for_call_delta

SHORT = (0.1, SVIParams(0.004, 0.1, -0.3, 0.0, 0.1))
LONG = (0.5, SVIParams(0.02, 0.15, -0.3, 0.02, 0.15))
FLAT = SVIParams(0.04, 0.0, 0.0, 0.0, 0.1)  # b = 0: a flat 20% smile at t = 1


def test_grid_matches_the_slices_at_their_expiries_and_interpolates_variance_between() -> None:
    k = np.linspace(-1, 1, 21)
    grid = surface_grid([LONG, SHORT], k, np.array([0.1, 0.3, 0.5]))
    assert grid.iv.shape == (3, 21)
    np.testing.assert_allclose(grid.iv[0], svi_implied_vol(SHORT[1], k, 0.1), rtol=1e-14)
    np.testing.assert_allclose(grid.iv[2], svi_implied_vol(LONG[1], k, 0.5), rtol=1e-14)
    # Half way in t: total variance is the average of the two slices' total variances.
    w_mid = 0.5 * (svi_total_variance(SHORT[1], k) + svi_total_variance(LONG[1], k))
    np.testing.assert_allclose(grid.iv[1] ** 2 * 0.3, w_mid, rtol=1e-13)


def test_flat_extrapolation_outside_the_fitted_expiries() -> None:
    k = np.array([-0.2, 0.0, 0.2])
    grid = surface_grid([SHORT, LONG], k, np.array([0.01, 2.0, 0.0]))
    np.testing.assert_allclose(grid.iv[0], svi_implied_vol(SHORT[1], k, 0.1), rtol=1e-14)
    np.testing.assert_allclose(grid.iv[1], svi_implied_vol(LONG[1], k, 0.5), rtol=1e-14)
    assert np.isnan(grid.iv[2]).all()  # no vol at t = 0


def test_delta_strikes_have_the_requested_delta() -> None:
    params, t = LONG[1], LONG[0]
    deltas = np.array([0.1, 0.25, 0.5, 0.75, 0.9])
    k = k_for_call_delta(params, deltas)
    sw = np.sqrt(svi_total_variance(params, k))
    np.testing.assert_allclose(norm.cdf(-k / sw + sw / 2), deltas, atol=1e-12)
    assert np.all(np.diff(k) < 0)  # higher call delta = lower strike
    grid = surface_delta_grid([SHORT, LONG], deltas)
    np.testing.assert_allclose(grid.iv[1], svi_implied_vol(params, k, t), rtol=1e-12)
    assert np.isnan(k_for_call_delta(params, np.array([0.0, 1.0, 1.5]))).all()


def test_metrics_of_a_flat_smile() -> None:
    m = smile_metrics(1.0, FLAT)
    assert m.atm_vol == pytest.approx(0.2, rel=1e-14)
    assert m.rr25 == pytest.approx(0.0, abs=1e-14)
    assert m.bf25 == pytest.approx(0.0, abs=1e-14)


def test_metrics_of_a_skewed_smile() -> None:
    t, params = LONG
    m = smile_metrics(t, params)
    assert m.atm_vol == pytest.approx(math.sqrt(svi_total_variance(params, np.zeros(1))[0] / t))
    assert m.rr25 < 0  # rho < 0: puts over calls, as in equity-like and most crypto smiles
    assert m.bf25 > 0  # convex smile
    assert m.rr25 == pytest.approx(m.vol_25d_call - m.vol_25d_put)


def test_atm_term_structure_is_sorted_by_expiry() -> None:
    t, atm = atm_term_structure([LONG, SHORT])
    np.testing.assert_array_equal(t, [0.1, 0.5])
    np.testing.assert_allclose(atm, [smile_metrics(*SHORT).atm_vol, smile_metrics(*LONG).atm_vol])
