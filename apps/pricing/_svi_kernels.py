"""numba kernels for the raw-SVI least-squares fit (see svi.py for the API and conventions).

Unconstrained coordinates ``theta = (alpha, beta, r, m, z)`` map to raw SVI as

    b = e^beta,  rho = tanh(r),  sigma = e^z,  a = e^alpha - b sigma sqrt(1 - rho^2),

so every theta is a valid smile: b > 0, |rho| < 1, sigma > 0 and the minimum total variance
``a + b sigma sqrt(1 - rho^2) = e^alpha`` is positive. Residuals are in implied vol,
``sqrt(weight) * (sqrt(w(k)/t) - iv)``, minimised by Levenberg-Marquardt with an analytic
Jacobian. A cold start first scans a small (m, sigma) grid, solving the remaining parameters
by linear least squares in total variance (Zeliade's quasi-explicit idea), then runs LM.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

NPAR = 5


@njit(cache=True, error_model="numpy")
def theta_to_raw(theta: np.ndarray) -> tuple[float, float, float, float, float]:
    b = math.exp(theta[1])
    rho = math.tanh(theta[2])
    sig = math.exp(theta[4])
    a = math.exp(theta[0]) - b * sig * math.sqrt(1.0 - rho * rho)
    return a, b, rho, theta[3], sig


@njit(cache=True, error_model="numpy")
def raw_to_theta(a: float, b: float, rho: float, m: float, sig: float) -> np.ndarray:
    theta = np.empty(NPAR)
    b = max(b, 1e-8)
    rho = min(max(rho, -0.999), 0.999)
    sig = max(sig, 1e-6)
    wmin = max(a + b * sig * math.sqrt(1.0 - rho * rho), 1e-10)
    theta[0] = math.log(wmin)
    theta[1] = math.log(b)
    theta[2] = math.atanh(rho)
    theta[3] = m
    theta[4] = math.log(sig)
    return theta


@njit(cache=True, error_model="numpy")
def _residuals(
    theta: np.ndarray,
    k: np.ndarray,
    iv: np.ndarray,
    sw: np.ndarray,
    t: float,
    res: np.ndarray,
    jac: np.ndarray,
    want_jac: bool,
) -> float:
    """Residuals (and Jacobian if asked); returns the cost 0.5 * sum(res^2)."""
    ea = math.exp(theta[0])
    b = math.exp(theta[1])
    rho = math.tanh(theta[2])
    m = theta[3]
    sig = math.exp(theta[4])
    c = math.sqrt(1.0 - rho * rho)
    a = ea - b * sig * c
    cost = 0.0
    for i in range(k.shape[0]):
        km = k[i] - m
        rr = math.sqrt(km * km + sig * sig)
        w = a + b * (rho * km + rr)
        vol = math.sqrt(w / t)
        res[i] = sw[i] * (vol - iv[i])
        cost += res[i] * res[i]
        if want_jac:
            scale = sw[i] / (2.0 * vol * t)  # d(sw * vol)/dw
            jac[i, 0] = scale * ea
            jac[i, 1] = scale * b * (rho * km + rr - sig * c)
            jac[i, 2] = scale * (c * c * b * km + b * sig * rho * c)
            jac[i, 3] = scale * b * (-rho - km / rr)
            jac[i, 4] = scale * sig * b * (sig / rr - c)
    return 0.5 * cost


@njit(cache=True, error_model="numpy")
def fit_cost(theta: np.ndarray, k: np.ndarray, iv: np.ndarray, sw: np.ndarray, t: float) -> float:
    """Half the sum of squared weighted vol residuals at theta (inf for a non-finite smile)."""
    n = k.shape[0]
    res = np.empty(n)
    cost = _residuals(theta, k, iv, sw, t, res, res.reshape((n, 1)), False)
    return cost if math.isfinite(cost) else math.inf


@njit(cache=True, error_model="numpy")
def _solve_small(a_mat: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Gaussian elimination with partial pivoting for the tiny normal equations."""
    n = rhs.shape[0]
    a_mat = a_mat.copy()
    x = rhs.copy()
    for col in range(n):
        piv = col
        for r in range(col + 1, n):
            if abs(a_mat[r, col]) > abs(a_mat[piv, col]):
                piv = r
        if a_mat[piv, col] == 0.0:
            return x * math.nan
        if piv != col:
            for c in range(n):
                a_mat[col, c], a_mat[piv, c] = a_mat[piv, c], a_mat[col, c]
            x[col], x[piv] = x[piv], x[col]
        for r in range(col + 1, n):
            f = a_mat[r, col] / a_mat[col, col]
            for c in range(col, n):
                a_mat[r, c] -= f * a_mat[col, c]
            x[r] -= f * x[col]
    for col in range(n - 1, -1, -1):
        acc = x[col]
        for c in range(col + 1, n):
            acc -= a_mat[col, c] * x[c]
        x[col] = acc / a_mat[col, col]
    return x


@njit(cache=True, error_model="numpy")
def levenberg_marquardt(
    theta0: np.ndarray,
    k: np.ndarray,
    iv: np.ndarray,
    sw: np.ndarray,
    t: float,
    max_iter: int,
    tol: float,
) -> tuple[np.ndarray, float, int, bool]:
    """Minimise the vol residuals from theta0; returns (theta, cost, iterations, converged)."""
    n = k.shape[0]
    res = np.empty(n)
    jac = np.empty((n, NPAR))
    trial_res = np.empty(n)
    theta = theta0.copy()
    cost = _residuals(theta, k, iv, sw, t, res, jac, True)
    lam = 1e-3
    for it in range(1, max_iter + 1):
        jtj = jac.T @ jac
        grad = jac.T @ res
        improved = False
        for _ in range(20):
            lhs = jtj.copy()
            for j in range(NPAR):
                lhs[j, j] += lam * (jtj[j, j] + 1e-12)
            step = _solve_small(lhs, -grad)
            trial = theta + step
            new_cost = _residuals(trial, k, iv, sw, t, trial_res, jac, False)
            if math.isfinite(new_cost) and new_cost <= cost:
                improved = True
                break
            lam *= 10.0
        if not improved:
            return theta, cost, it, True  # no downhill step left: a (local) minimum
        rel_drop = (cost - new_cost) / max(cost, 1e-300)
        theta = trial
        cost = _residuals(theta, k, iv, sw, t, res, jac, True)
        lam = max(lam / 10.0, 1e-12)
        step_size = 0.0
        for j in range(NPAR):
            step_size = max(step_size, abs(step[j]))
        if rel_drop < tol or step_size < 1e-10:
            return theta, cost, it, True
    return theta, cost, max_iter, False


@njit(cache=True, error_model="numpy")
def _solve_sym3(
    a00: float,
    a01: float,
    a02: float,
    a11: float,
    a12: float,
    a22: float,
    b0: float,
    b1: float,
    b2: float,
) -> tuple[float, float, float]:
    """Cramer's rule for a symmetric 3x3 system (no allocation; NaN if singular)."""
    c00 = a11 * a22 - a12 * a12
    c01 = a02 * a12 - a01 * a22
    c02 = a01 * a12 - a02 * a11
    det = a00 * c00 + a01 * c01 + a02 * c02
    if det == 0.0 or not math.isfinite(det):
        return math.nan, math.nan, math.nan
    c11 = a00 * a22 - a02 * a02
    c12 = a01 * a02 - a00 * a12
    c22 = a00 * a11 - a01 * a01
    return (
        (c00 * b0 + c01 * b1 + c02 * b2) / det,
        (c01 * b0 + c11 * b1 + c12 * b2) / det,
        (c02 * b0 + c12 * b1 + c22 * b2) / det,
    )


@njit(cache=True, error_model="numpy")
def cold_start(k: np.ndarray, iv: np.ndarray, sw: np.ndarray, t: float) -> np.ndarray:
    """Best (m, sigma) on a 7x6 grid with (a, b*rho, b) from weighted linear least squares.

    Each candidate is clipped to the constraints and scored by the same vol-space cost the fit
    minimises; no allocation in the loop, so the scan costs a few tens of microseconds.
    """
    n = k.shape[0]
    # Weights in total-variance space that match the vol-space weights to first order.
    ww = np.empty(n)
    w_obs = np.empty(n)
    for i in range(n):
        ww[i] = sw[i] / (2.0 * max(iv[i], 1e-4) * t)
        w_obs[i] = iv[i] * iv[i] * t
    k_lo = k.min()
    k_hi = k.max()
    span = max(k_hi - k_lo, 1e-3)
    best_cost = math.inf
    best = (max(w_obs.min(), 1e-6), 0.1, 0.0, 0.0, 0.1)
    for mi in range(7):
        m = k_lo + span * (mi + 1) / 8.0
        for si in range(6):
            sig = span * (0.02, 0.05, 0.1, 0.2, 0.4, 0.8)[si]
            a00 = a01 = a02 = a11 = a12 = a22 = b0 = b1 = b2 = 0.0
            for i in range(n):
                km = k[i] - m
                r0 = ww[i]
                r1 = ww[i] * km
                r2 = ww[i] * math.sqrt(km * km + sig * sig)
                y = ww[i] * w_obs[i]
                a00 += r0 * r0
                a01 += r0 * r1
                a02 += r0 * r2
                a11 += r1 * r1
                a12 += r1 * r2
                a22 += r2 * r2
                b0 += r0 * y
                b1 += r1 * y
                b2 += r2 * y
            a, brho, b = _solve_sym3(a00, a01, a02, a11, a12, a22, b0, b1, b2)
            if not math.isfinite(a + brho + b):
                continue
            b = max(b, 1e-4)
            rho = min(max(brho / b, -0.95), 0.95)
            floor = b * sig * math.sqrt(1.0 - rho * rho)
            a = max(a + floor, 1e-10) - floor  # positive minimum variance, as raw_to_theta does
            cost = 0.0
            for i in range(n):
                km = k[i] - m
                vol = math.sqrt((a + b * (rho * km + math.sqrt(km * km + sig * sig))) / t)
                r = sw[i] * (vol - iv[i])
                cost += r * r
            if cost < best_cost:
                best_cost = cost
                best = (a, b, rho, m, sig)
    return raw_to_theta(best[0], best[1], best[2], best[3], best[4])


@njit(cache=True, error_model="numpy")
def svi_w(
    a: float, b: float, rho: float, m: float, sig: float, k: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw SVI total variance and its first two k-derivatives on an array of k."""
    n = k.shape[0]
    w = np.empty(n)
    w1 = np.empty(n)
    w2 = np.empty(n)
    for i in range(n):
        km = k[i] - m
        rr = math.sqrt(km * km + sig * sig)
        w[i] = a + b * (rho * km + rr)
        w1[i] = b * (rho + km / rr)
        w2[i] = b * sig * sig / (rr * rr * rr)
    return w, w1, w2
