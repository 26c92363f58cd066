"""Poll-to-publish latency of one option chain of about 2,000 options (target: p99 < 250 ms).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bw_bench_venues \\
    REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/venues.py [--polls 200]

Runs the real pipeline in this process against a scratch database (test_<name>, created,
migrated and dropped) and Redis database 14: the simulated venue steps its market in
PostgreSQL and quotes about 2,000 BTC options with 1% bad quotes, then validation, IVs and
Greeks (pricing engine, vectorised), an SVI fit per expiry warm-started from the previous poll,
the surface grid, the Redis writes, the snapshot insert (when its minute starts) and the
channel-layer publish after commit, exactly as a worker's poll does
(``services.polling.chain_process``). Polls run back to back; each poll's stages are timed
inside the service. Figures are noisy on a shared machine: compare stages within one run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import machine_note, print_table, scratch_database, setup_django

TARGET_OPTIONS = 2000
TARGET_P99_MS = 250.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def strikes_for_target(now) -> tuple[int, int]:
    """The strikes-per-expiry setting whose full calendar lists closest to 2,000 options."""
    from apps.venues.adapters import sim_engine as engine

    spec = engine.SPECS["BTC"]
    state = engine.MarketState.initial(spec)
    best = (0, 0)
    for per_expiry in range(40, 240, 2):
        config = engine.SimConfig(strikes_per_expiry=per_expiry)
        listing = engine.listing_update({}, state, spec, now, config)
        count = len(engine.listing_arrays(listing, "BTC").symbol)
        if abs(count - TARGET_OPTIONS) < abs(best[1] - TARGET_OPTIONS):
            best = (per_expiry, count)
    return best


def run(polls: int) -> None:
    from django.utils import timezone

    from apps.venues.adapters.simulated import SimulatedAdapter
    from apps.venues.models import AdapterKind, Venue
    from apps.venues.services import store
    from apps.venues.services.analytics import warm_up
    from apps.venues.services.polling import STAGES, chain_process

    store.redis_client().flushdb()
    per_expiry, listed = strikes_for_target(timezone.now())
    venue = Venue.objects.create(
        name="BENCH",
        adapter=AdapterKind.SIMULATED,
        underlyings=["BTC"],
        config={"seed": 99, "strikes_per_expiry": per_expiry, "bad_quote_rate": 0.01},
        snapshot_interval_seconds=60,
    )
    adapter = SimulatedAdapter(venue)
    warm_up()
    for _ in range(5):  # first polls create the market, list instruments, load numba caches
        chain_process(venue=venue, adapter=adapter, underlying="BTC")
    results = []
    wall = time.perf_counter()
    for _ in range(polls):
        results.append(chain_process(venue=venue, adapter=adapter, underlying="BTC"))
    wall = time.perf_counter() - wall
    surface = store.surface_read("BENCH", "BTC")

    totals = [sum(r.timings.values()) * 1000 for r in results]
    rows = []
    for stage in STAGES:
        values = [r.timings.get(stage, 0.0) * 1000 for r in results]
        rows.append(
            [stage, statistics.mean(values), percentile(values, 50), percentile(values, 99)]
        )
    rows.append(["total", statistics.mean(totals), percentile(totals, 50), percentile(totals, 99)])
    print(f"Venues bench: poll-to-publish of one chain ({machine_note()})")
    print(
        f"chain: {results[-1].received} options listed (target {TARGET_OPTIONS}, "
        f"{per_expiry} strikes per expiry setting, {listed} at start), "
        f"{results[-1].valid} valid after validation, {len(surface['slices'])} SVI slices, "
        f"dropped {surface['quotes']['dropped']}"
    )
    print_table(f"Per-stage latency over {polls} polls (ms)", ["stage", "mean", "p50", "p99"], rows)
    p99 = percentile(totals, 99)
    print(
        f"\np50 {percentile(totals, 50):.1f} ms, p99 {p99:.1f} ms "
        f"(target p99 < {TARGET_P99_MS:.0f} ms: {'met' if p99 < TARGET_P99_MS else 'NOT met'}); "
        f"{polls / wall:.1f} polls/s back to back"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=200)
    args = parser.parse_args()
    setup_django()
    with scratch_database():
        run(args.polls)


if __name__ == "__main__":
    main()
