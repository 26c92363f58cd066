"""Breaker check cost and a full risk evaluation of 500 positions across 2 underlyings.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bw_bench_breakers \\
    REDIS_URL=redis://127.0.0.1:6379/0 TEST_REDIS_DB=14 .venv/bin/python bench/breakers.py

Runs in this process against a scratch database (test_<name>, created, migrated, dropped) and
the given Redis database (emptied first). Prints:

* ``breaker_effective_state`` in µs per call with five lookup keys (global, venue, account,
  underlying, API key) and a few breakers tripped: the Redis path (one HMGET), the PostgreSQL
  fallback (Redis unreachable: the process skips it during its backoff and reads one indexed
  query), and the mirror-missing path (PostgreSQL read plus rebuild, throttled to once a second);
* a full ``risk_evaluate`` of 500 positions in 4 accounts across BTC and ETH on the simulated
  venue's real chains (about 700 listed options each): load, market data, engine, aggregation,
  limits and store/publish, median and p95 over the runs, plus the pure engine alone.

Figures are noisy on a shared machine: compare rows within one run; the CPU-time row (this
process only, not PostgreSQL's or Redis's) is the least sensitive to other load.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import machine_note, print_table, scratch_database, setup_django


def per_call_us(fn, n: int) -> tuple[float, float]:
    """(median, p99) µs of ``n`` calls, after a warm-up."""
    for _ in range(min(200, n)):
        fn()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1e6)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(0.99 * len(samples)))]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def bench_breakers(calls: int) -> None:
    from django.conf import settings

    from apps.audit.actors import Actor
    from apps.breakers.enforcement import breaker_effective_state, breaker_mirror_resync
    from apps.breakers.mirror import MIRROR_KEY, mirror_client, mirror_forget_backoff
    from apps.breakers.services import breaker_trip
    from tests.apikeys.factories import issue

    key = issue(scopes=["orders:write"], accounts=["SIM-A"]).api_key
    actor = Actor.system("bench")
    breaker_trip(scope="underlying", target="ETH", state="halted", reason="bench", actor=actor)
    breaker_trip(scope="account", target="SIM-B", state="halted", reason="bench", actor=actor)
    breaker_trip(scope="venue", target="SIM", state="reduce_only", reason="bench", actor=actor)
    breaker_mirror_resync()

    def check() -> None:
        result = breaker_effective_state(
            account="SIM-A", venue="SIM", underlying="BTC", api_key=key.key_id
        )
        assert result.state == "reduce_only", result

    rows = []
    assert breaker_effective_state(account="SIM-A", venue="SIM").source == "redis"
    rows.append(["Redis (HMGET of 5 fields + generation)", *per_call_us(check, calls)])
    fields = ["_gen", "global:", "venue:SIM", "account:SIM-A", "underlying:BTC", "api_key:x"]
    client = mirror_client()
    rows.append(
        ["  reference: bare redis-py HMGET, same fields", *per_call_us(
            lambda: client.hmget(MIRROR_KEY, fields), calls
        )]
    )  # fmt: skip

    redis_url = settings.REDIS_URL
    settings.BREAKERS_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens: connection refused
    mirror_forget_backoff()
    first = time.perf_counter()
    assert breaker_effective_state(account="SIM-A", venue="SIM").source == "postgres"
    first_us = (time.perf_counter() - first) * 1e6
    rows.append(["PostgreSQL fallback (Redis down, in backoff)", *per_call_us(check, calls)])
    rows.append(["  first call after Redis died (refused + SQL)", first_us, first_us])
    settings.BREAKERS_REDIS_URL = redis_url
    mirror_forget_backoff()

    def missing() -> None:
        mirror_client().delete(MIRROR_KEY)
        check()

    rows.append(
        ["mirror missing (SQL; rebuild at most 1/s)", *per_call_us(missing, max(calls // 10, 50))]
    )
    print_table(
        f"breaker_effective_state ({calls} calls each)", ["path", "median µs", "p99 µs"], rows
    )


def make_book(positions: int) -> None:
    from django.utils import timezone

    from apps.venues.models import Instrument, TradingAccount, VenuePosition

    rng = random.Random(8)
    instruments = list(Instrument.objects.filter(kind="option", active=True))
    accounts = list(TradingAccount.objects.all())
    chosen = rng.sample(instruments, min(positions, len(instruments)))
    while len(chosen) < positions:  # more positions than listed options: other accounts
        chosen.append(rng.choice(instruments))
    now = timezone.now()
    rows, seen = [], set()
    for i, instrument in enumerate(chosen):
        account = accounts[i % len(accounts)]
        if (account.pk, instrument.pk) in seen:
            account = next(a for a in accounts if (a.pk, instrument.pk) not in seen)
        seen.add((account.pk, instrument.pk))
        rows.append(
            VenuePosition(
                account=account,
                instrument=instrument,
                size=Decimal(rng.choice([-1, 1]) * rng.randint(1, 50)) / 10,
                average_price=Decimal(rng.randint(5, 500)) / 10000,
                reported_at=now,
            )
        )
    VenuePosition.objects.bulk_create(rows)


def bench_risk(positions: int, runs: int) -> None:
    import numpy as np

    from apps.risk.engine import book_evaluate
    from apps.risk.models import RiskLimit
    from apps.risk.services.book import _book_input, _load_positions
    from apps.risk.services.evaluation import risk_evaluate
    from apps.venues.models import Instrument, VenuePosition

    make_book(positions)
    n = VenuePosition.objects.count()
    unds = sorted(set(VenuePosition.objects.values_list("instrument__underlying", flat=True)))
    for i, (scope, target) in enumerate(
        [("global", ""), ("account", "SIM-A"), ("account", "SIM-B"), ("underlying", "BTC")]
    ):
        for metric in ("net_delta_usd", "vega_usd", "worst_scenario_loss_usd"):
            RiskLimit.objects.create(
                name=f"bench-{i}-{metric}",
                scope=scope,
                target=target,
                metric=metric,
                threshold=1e15,
            )
    risk_evaluate(publish_results=True)  # warm: numba kernels, connections
    totals, cpu, stages = [], [], {}
    for _ in range(runs):
        cpu_started = time.process_time()
        result = risk_evaluate(publish_results=True)
        cpu.append((time.process_time() - cpu_started) * 1000)
        totals.append(result.timings["total"] * 1000)
        for stage, seconds in result.timings.items():
            stages.setdefault(stage, []).append(seconds * 1000)
    listed = Instrument.objects.filter(kind="option").count()
    print(
        f"\nrisk_evaluate: {n} positions in 4 accounts on {', '.join(unds)} "
        f"({listed} listed options), 12 limits, {runs} runs"
    )
    print_table(
        "Stages (ms)",
        ["stage", "median", "p95"],
        [[k, statistics.median(v), percentile(v, 95)] for k, v in stages.items()],
    )

    # The pure engine alone, on the same book and markets.
    from apps.risk.market import market_data_load
    from apps.venues.models import Venue

    loaded = _load_positions()
    venues = list(Venue.objects.all())
    needed = {(p.instrument_venue, p.underlying) for p in loaded}
    markets = market_data_load(
        needed, venue_priority=[(v.name, list(v.underlyings), 10.0) for v in venues]
    )
    order = [(m.venue, m.underlying) for m in markets.values()]
    book = _book_input(loaded, markets, order)
    market_list = [markets[key].market for key in order]
    engine_ms = []
    for _ in range(runs):
        started = time.perf_counter()
        risk = book_evaluate(book, market_list)
        engine_ms.append((time.perf_counter() - started) * 1000)
    cells = risk.pnl.shape[1] * risk.pnl.shape[2]
    print_table(
        "Summary (ms)",
        ["what", "median", "p95"],
        [
            ["full risk_evaluate (wall)", statistics.median(totals), percentile(totals, 95)],
            ["risk_evaluate CPU (this process)", statistics.median(cpu), percentile(cpu, 95)],
            [
                f"engine only ({n} x {cells} revaluations + Greeks)",
                statistics.median(engine_ms),
                percentile(engine_ms, 95),
            ],
        ],
    )
    assert np.isfinite(risk.pnl).all()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--positions", type=int, default=500)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    setup_django()
    print(f"Breakers and risk benchmark ({machine_note()})")
    with scratch_database():
        import redis
        from django.conf import settings

        redis.Redis.from_url(settings.REDIS_URL).flushdb()
        from apps.venues.services.polling import venue_poll_chain
        from tests.venues.factories import make_account, make_sim_venue

        venue = make_sim_venue(
            "SIM",
            underlyings=("BTC", "ETH"),
            config={"strikes_per_expiry": 24, "max_expiries": None, "bad_quote_rate": 0.01},
        )
        for label in ("SIM-A", "SIM-B", "SIM-C", "SIM-D"):
            make_account(venue, label)
        assert venue_poll_chain(venue_id=venue.pk).ok
        bench_breakers(args.calls)
        bench_risk(args.positions, args.runs)


if __name__ == "__main__":
    main()
