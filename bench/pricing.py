"""Pricing benchmark: implied vol vs py_vollib_vectorized, Greeks throughput, SVI fit times.

Run: ``.venv/bin/pip install -e ".[dev,bench]" && .venv/bin/python bench/pricing.py``
(``--quick`` stops at N = 1e5). Exits 0 with a message if py_vollib_vectorized is missing.

Method. Options are drawn over the issue's domain (moneyness 0.2-5, 1 day to 3 years, vol
5%-300%, calls and puts, forward 100, no discounting) and priced with our Black-76. Both solvers
get the same prices. Accuracy is measured against the vol that generated the price, on the
*well-posed* options: those whose price pins the vol down to better than 1e-10 (a 1-ulp change
of the price moves the vol by less than that) and whose normalised price is not subnormal; the
rest are reported as a count. A "failure" is a well-posed option whose vol comes back NaN, 0 or
more than 1e-8 off. Every timing is the best of several repeats, interleaved between the
libraries, after a warm-up call (JIT compile times are printed separately), because the machine
is shared and best-of-N is the least noisy estimate of what the code itself costs.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from apps.pricing import (
    SVIParams,
    black76,
    implied_vol,
    svi_butterfly_check,
    svi_calendar_check,
    svi_fit,
    svi_implied_vol,
)

WELL_POSED = 1e-10
TINY = np.finfo(np.float64).tiny


def best_of(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def make_options(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    f = np.full(n, 100.0)
    k = f * np.exp(rng.uniform(np.log(0.2), np.log(5.0), n))
    t = np.exp(rng.uniform(np.log(1 / 365), np.log(3.0), n))
    vol = np.exp(rng.uniform(np.log(0.05), np.log(3.0), n))
    call = rng.random(n) < 0.5
    g = black76(f, k, t, vol, call)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        bound = np.spacing(np.abs(g.price)) / (100.0 * g.vega)
        normalised = g.price / np.sqrt(f * k)
    well_posed = (bound < WELL_POSED) & (normalised >= TINY)
    return {"f": f, "k": k, "t": t, "vol": vol, "call": call, "price": g.price, "wp": well_posed}


def error_stats(iv: np.ndarray, opts: dict[str, np.ndarray]) -> dict[str, float]:
    """Forward error vs the generating vol and backward (reprice) error, on well-posed options;
    zeros and garbage (finite, > 0, more than 0.01 off) on the rest."""
    iv = np.asarray(iv, dtype=np.float64)
    wp = opts["wp"]
    err = np.abs(iv[wp] - opts["vol"][wp])
    err = np.where(np.isfinite(err), err, np.inf)
    finite = err[np.isfinite(err)]
    ok = wp & np.isfinite(iv) & (iv > 0)
    g = black76(opts["f"][ok], opts["k"][ok], opts["t"][ok], iv[ok], opts["call"][ok])
    backward = np.abs(g.price - opts["price"][ok]) / (100.0 * g.vega)
    rest = ~wp
    off = np.abs(iv[rest] - opts["vol"][rest])
    return {
        "max": float(finite.max()),
        "p99": float(np.percentile(finite, 99)),
        "fails": int(np.sum(~(err <= 1e-8))),
        "backward": float(backward.max()),
        "zeros": int(np.sum(iv[rest] == 0)),
        "garbage": int(np.sum(np.isfinite(iv[rest]) & (iv[rest] > 0) & (off > 1e-2))),
    }


def bench_iv(sizes: list[int], pvv) -> list[str]:
    from py_vollib_vectorized.implied_volatility import (
        implied_volatility_from_a_transformed_rational_guess as pvv_core,
    )

    def ours(o, parallel=None):
        return implied_vol(o["price"], o["f"], o["k"], o["t"], o["call"], parallel=parallel)

    def public(o):
        return pvv.vectorized_implied_volatility(
            o["price"], o["f"], o["k"], o["t"], 0.0, o["flag"], model="black",
            return_as="numpy", on_error="ignore",
        )  # fmt: skip

    def core(o):
        return np.asarray(pvv_core(o["price"], o["f"], o["k"], o["t"], o["q"]))

    warm = make_options(100, 0)
    warm["flag"] = np.where(warm["call"], "c", "p")
    warm["q"] = np.where(warm["call"], 1.0, -1.0)
    compile_times = {}
    for name, fn in [
        ("ours", lambda: (ours(warm, False), ours(warm, True))),
        ("pvv public", lambda: public(warm)),
        ("pvv core", lambda: core(warm)),
    ]:
        start = time.perf_counter()
        fn()
        compile_times[name] = time.perf_counter() - start
    lines = [
        "columns: max/p99 err = |iv - generating vol| on well-posed options; bwd err = max "
        "|price(iv) - price| / vega (the solver's own error); fails = well-posed options "
        "returned NaN, 0 or > 1e-8 off; zeros/garbage = on the other options, vols returned as "
        "0 / finite but > 0.01 off (ours returns NaN + reason there)",
        "first call (JIT compile or cache load, table build): "
        + ", ".join(f"{k} {v:.2f} s" for k, v in compile_times.items()),
        "",
        f"{'N':>9} {'solver':<22} {'options/s':>11} {'max err':>8} {'p99 err':>8} "
        f"{'bwd err':>8} {'fails':>5} {'wellpos':>7} | {'zeros':>6} {'garbage':>7}",
    ]
    ratios = {}
    for n in sizes:
        o = make_options(n, 1)
        o["flag"] = np.where(o["call"], "c", "p")
        o["q"] = np.where(o["call"], 1.0, -1.0)
        repeats = 7 if n <= 10**5 else 5
        rows = {}
        contenders = [
            ("ours (auto threads)", lambda o=o: ours(o)),
            ("ours (1 thread)", lambda o=o: ours(o, False)),
            ("py_vollib_vec public", lambda o=o: public(o)),
            ("py_vollib_vec core", lambda o=o: core(o)),
        ]
        order = np.random.default_rng(n)
        for _ in range(repeats):
            # Interleaved, in a fresh random order each round, so background load and cache
            # warmth favour no one.
            for idx in order.permutation(len(contenders)):
                name, fn = contenders[idx]
                dt, iv = best_of(fn, 1)
                best = rows.get(name, (float("inf"), None))
                rows[name] = (min(best[0], dt), iv)
        for name, _ in contenders:
            dt, iv = rows[name]
            e = error_stats(iv, o)
            lines.append(
                f"{n:>9} {name:<22} {n / dt:>11,.0f} {e['max']:>8.1e} {e['p99']:>8.1e} "
                f"{e['backward']:>8.1e} {e['fails']:>5} {int(o['wp'].sum()):>7} | "
                f"{e['zeros']:>6} {e['garbage']:>7}"
            )
        fastest_ref = min(rows["py_vollib_vec public"][0], rows["py_vollib_vec core"][0])
        ratios[n] = (
            fastest_ref / rows["ours (auto threads)"][0],
            fastest_ref / rows["ours (1 thread)"][0],
        )
    lines.append("")
    for n, (auto, single) in ratios.items():
        lines.append(
            f"speed ratio vs the faster py_vollib_vectorized call at N={n:.0e}: "
            f"{auto:.2f}x (auto threads), {single:.2f}x (1 thread)"
        )
    return lines


def numpy_black_price(f, k, t, vol, call):
    """One plain vectorised Black-76 price evaluation: the issue's yardstick for machine speed."""
    from scipy.special import ndtr

    sd = vol * np.sqrt(t)
    d1 = np.log(f / k) / sd + 0.5 * sd
    c = f * ndtr(d1) - k * ndtr(d1 - sd)
    return np.where(call, c, c - (f - k))


def bench_greeks(n: int) -> list[str]:
    o = make_options(n, 2)
    black76(o["f"][:10], o["k"][:10], o["t"][:10], o["vol"][:10], o["call"][:10], parallel=True)
    times = {}
    for _ in range(5):  # interleaved best-of-5, as for implied vol
        for label, fn in [
            ("auto threads", lambda: black76(o["f"], o["k"], o["t"], o["vol"], o["call"])),
            (
                "1 thread",
                lambda: black76(o["f"], o["k"], o["t"], o["vol"], o["call"], parallel=False),
            ),
            (
                "numpy price",
                lambda: numpy_black_price(o["f"], o["k"], o["t"], o["vol"], o["call"]),
            ),
        ]:
            dt, _ = best_of(fn, 1)
            times[label] = min(times.get(label, float("inf")), dt)
    lines = [
        f"Greeks (price + 7 Greeks), N={n:.0e}, {label}: {times[label] * 1e3:.1f} ms "
        f"({n / times[label]:,.0f} options/s)"
        for label in ("auto threads", "1 thread")
    ]
    ref = times["numpy price"]
    best = min(times["auto threads"], times["1 thread"])
    # The issue quotes ~16 M/s for one NumPy price evaluation on a quiet machine; scaling by the
    # same run's yardstick separates our code's cost from the load other users put on the box.
    lines.append(
        f"yardstick: one NumPy/SciPy Black-76 price evaluation, N={n:.0e}: {ref * 1e3:.1f} ms "
        f"({n / ref:,.0f} options/s); all Greeks / one price evaluation = {best / ref:.2f}x, "
        f"i.e. {best / ref * n / 16e6:.3f} s at the issue's 16 M/s"
    )
    return lines


def bench_svi() -> list[str]:
    rng = np.random.default_rng(3)
    k = np.linspace(-0.8, 0.6, 50)
    expiries = np.array([2, 7, 14, 30, 60, 90, 180, 270, 365, 540]) / 365.0
    truth = [
        SVIParams(0.3 * t * 0.4, 0.08 + 0.05 * t, -0.3, 0.02, 0.1 + 0.05 * t) for t in expiries
    ]
    smiles = [svi_implied_vol(p, k, t) for p, t in zip(truth, expiries, strict=True)]

    def noisy():
        return [s + rng.normal(0.0, 2e-4, k.size) for s in smiles]

    svi_fit(k, smiles[3], expiries[3])  # compile
    quotes = noisy()
    t_cold, first = best_of(lambda: svi_fit(k, quotes[3], expiries[3]), 20)
    again = noisy()
    t_warm, _ = best_of(lambda: svi_fit(k, again[3], expiries[3], previous=first.params), 20)
    chain = [svi_fit(k, q, t) for q, t in zip(quotes, expiries, strict=True)]
    t_chain_cold, _ = best_of(
        lambda: [svi_fit(k, q, t) for q, t in zip(quotes, expiries, strict=True)], 10
    )
    next_poll = noisy()

    def warm_chain():
        return [
            svi_fit(k, q, t, previous=f.params)
            for q, t, f in zip(next_poll, expiries, chain, strict=True)
        ]

    t_chain, refit = best_of(warm_chain, 10)

    def checks():
        slices = [(f.t, f.params) for f in refit]
        return [svi_butterfly_check(p) for _, p in slices], svi_calendar_check(slices)

    t_checks, _ = best_of(checks, 10)
    return [
        f"SVI one 50-strike slice: cold {t_cold * 1e3:.2f} ms, warm-started {t_warm * 1e3:.2f} ms",
        f"SVI full chain 10 expiries x 50 strikes: cold {t_chain_cold * 1e3:.2f} ms, "
        f"warm-started refit {t_chain * 1e3:.2f} ms",
        f"arbitrage checks on that chain (butterfly per expiry + calendar): "
        f"{t_checks * 1e3:.2f} ms",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="stop at N = 1e5")
    args = parser.parse_args()
    try:
        import py_vollib_vectorized as pvv
    except ImportError:
        print(
            "bench/pricing.py: py_vollib_vectorized is not installed, so there is nothing to "
            'compare against. Install the bench extra: .venv/bin/pip install -e ".[dev,bench]"'
        )
        return 0
    import numba

    sizes = [10**3, 10**4, 10**5] if args.quick else [10**3, 10**4, 10**5, 10**6]
    print(f"numba {numba.__version__}, {numba.config.NUMBA_NUM_THREADS} threads, numpy "
          f"{np.__version__}")  # fmt: skip
    print("== implied vol (Black-76), well-posed accuracy vs the generating vol ==")
    for line in bench_iv(sizes, pvv):
        print(line)
    print("== Greeks ==")
    for line in bench_greeks(sizes[-1]):
        print(line)
    print("== SVI ==")
    for line in bench_svi():
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
