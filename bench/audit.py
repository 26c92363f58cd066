"""Audit log write throughput: events/s and per-event latency, hash chain on vs plain INSERT.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/audit.py

Uses a scratch database (bw_bench_audit) on the server in DATABASE_URL, or on the embedded test
server when DATABASE_URL is unset; it is created, migrated and dropped by this script. Each
writer is a separate process (the chain's lock is across processes, so threads would prove
nothing), and every event is its own transaction, as when a service audits one action.

"plain" inserts the same rows into a copy of the table with the same indexes but no chain
(no advisory lock, no head read, no hashing, no triggers), so chain/plain is the chain's cost.
Figures are noisy on a shared machine; compare ratios from the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
SCRATCH_DB = "bw_bench_audit"
EVENTS_ONE_WRITER = 1000
EVENTS_PER_CONCURRENT_WRITER = 500
CONCURRENT_WRITERS = 4

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")


# --- worker process -------------------------------------------------------------------------


def worker(mode: str, name: str, count: int) -> None:
    """Append ``count`` events in ``mode`` after a 'go' line; print latencies as JSON."""
    import django

    django.setup()
    from django.db import connection

    from apps.audit.actions import AuditAction
    from apps.audit.actors import Actor
    from apps.audit.details import details_sanitise
    from apps.audit.services import audit_record

    connection.ensure_connection()
    actor = Actor.system(name)
    print("ready", flush=True)
    sys.stdin.readline()

    def chained(i: int) -> None:
        audit_record(
            action=AuditAction.KEY_IP_DENIED,
            actor=actor,
            target=("apikeys.apikey", f"{name}-{i}"),
            details={"key_id": f"{name}-{i}", "client_ip": "192.0.2.10", "attempt": i},
        )

    def plain(i: int) -> None:
        details = details_sanitise(
            {"key_id": f"{name}-{i}", "client_ip": "192.0.2.10", "attempt": i}
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO bench_plain (sequence, version, occurred_at, actor_kind, actor_id, "
                "actor_label, action, target_type, target_id, details, client_ip, user_agent, "
                "prev_hash, hash) VALUES (nextval('bench_plain_seq'), 1, clock_timestamp(), "
                "%s, %s, %s, %s, %s, %s, %s, NULL, '', %s, %s)",
                [
                    actor.kind,
                    actor.id,
                    actor.label,
                    AuditAction.KEY_IP_DENIED.value,
                    "apikeys.apikey",
                    f"{name}-{i}",
                    json.dumps(details),
                    secrets.token_hex(32),
                    secrets.token_hex(32),
                ],
            )

    write = chained if mode == "chain" else plain
    latencies = []
    for i in range(count):
        started = time.perf_counter()
        write(i)
        latencies.append(time.perf_counter() - started)
    print(json.dumps(latencies), flush=True)


# --- coordinator ----------------------------------------------------------------------------


def server_url() -> tuple[str, str]:
    """(URL of the server's maintenance database, REDIS_URL) from the test settings."""
    import django

    django.setup()
    from django.conf import settings

    db = settings.DATABASES["default"]
    host = db.get("HOST") or "127.0.0.1"
    if host.startswith("/"):
        host = quote(host, safe="")
    port = f":{db['PORT']}" if db.get("PORT") else ""
    auth = db.get("USER") or "postgres"
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{auth}@{host}{port}/postgres", settings.REDIS_URL


def run_writers(mode: str, writers: int, count: int, env: dict[str, str]) -> dict[str, float]:
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", mode, f"bench-{n}", str(count)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(writers)
    ]
    for proc in procs:
        line = proc.stdout.readline().strip()
        if line != "ready":
            raise SystemExit(f"writer failed to start: {line!r}")
    started = time.perf_counter()
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    latencies: list[float] = []
    for proc in procs:
        out, _ = proc.communicate(timeout=600)
        if proc.returncode != 0:
            raise SystemExit(f"writer exited with {proc.returncode}")
        latencies += json.loads(out.strip().splitlines()[-1])
    elapsed = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "events": len(latencies),
        "rate": len(latencies) / elapsed,
        "p50_ms": cuts[49] * 1000,
        "p99_ms": cuts[98] * 1000,
    }


def main() -> int:
    import psycopg

    admin_url, redis_url = server_url()
    scratch_url = admin_url.rsplit("/", 1)[0] + f"/{SCRATCH_DB}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": scratch_url,
        "REDIS_URL": redis_url,
        "TEST_REDIS_DB": redis_url.rsplit("/", 1)[-1],
        "PYTHONUNBUFFERED": "1",
    }
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {SCRATCH_DB}")
        admin.execute(f"CREATE DATABASE {SCRATCH_DB}")
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        with psycopg.connect(scratch_url, autocommit=True) as db:
            # Same columns, indexes and constraints; no triggers, no chain.
            db.execute("CREATE TABLE bench_plain (LIKE audit_auditevent INCLUDING ALL)")
            db.execute("CREATE SEQUENCE bench_plain_seq")
            server = db.execute("SHOW server_version").fetchone()[0]

        print(f"audit log write benchmark (PostgreSQL {server}, {os.cpu_count()} CPUs)")
        print("each event is one transaction; writers are separate processes")
        print(f"{'mode':<7}{'writers':>8}{'events':>8}{'events/s':>11}{'p50 ms':>9}{'p99 ms':>9}")
        results: dict[tuple[str, int], dict[str, float]] = {}
        for writers, count in ((1, EVENTS_ONE_WRITER), (4, EVENTS_PER_CONCURRENT_WRITER)):
            for mode in ("plain", "chain"):
                r = run_writers(mode, writers, count, env)
                results[(mode, writers)] = r
                print(
                    f"{mode:<7}{writers:>8}{r['events']:>8}{r['rate']:>11.0f}"
                    f"{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}"
                )
        for writers in (1, CONCURRENT_WRITERS):
            chain, plain = results[("chain", writers)], results[("plain", writers)]
            speed = chain["rate"] / plain["rate"]
            slowdown = chain["p50_ms"] / plain["p50_ms"]
            print(
                f"chain/plain with {writers} writer(s): throughput x{speed:.2f}, "
                f"p50 latency x{slowdown:.2f}"
            )
        verified = subprocess.run(
            [sys.executable, "manage.py", "verify_audit"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        print(f"verify_audit after the run: {(verified.stdout or verified.stderr).strip()}")
        if verified.returncode != 0:
            return 1
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "manage.py", "verify_audit"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            check=True,
        )
        total = sum(r["events"] for (mode, _), r in results.items() if mode == "chain")
        print(f"verify_audit wall time for {total} events: {time.perf_counter() - started:.2f} s")
        return 0
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {SCRATCH_DB} WITH (FORCE)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=3, metavar=("MODE", "NAME", "COUNT"))
    args = parser.parse_args()
    if args.worker:
        mode, name, count = args.worker
        worker(mode, name, int(count))
        raise SystemExit(0)
    raise SystemExit(main())
