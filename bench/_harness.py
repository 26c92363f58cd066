"""Shared benchmark plumbing: a scratch database, real server processes, an HTTP load loop.

Benchmarks print figures; they never fail on timing. Run one with
``.venv/bin/python bench/<name>.py`` (uses DATABASE_URL/REDIS_URL, or embedded servers).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django() -> None:
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would skew timing
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    os.environ.setdefault("TEST_REDIS_DB", "14")  # never the demo's or the tests' Redis db
    import django

    django.setup()


@contextmanager
def scratch_database() -> Iterator[None]:
    """A fresh, migrated test_* database for the benchmark, dropped afterwards."""
    from django.test.utils import setup_databases, teardown_databases

    state = setup_databases(verbosity=0, interactive=False)
    try:
        yield
    finally:
        teardown_databases(state, verbosity=0)


@dataclass
class LoadResult:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    # Requests that got no answer (counted as status 0), by exception name.
    failures: dict[str, int] = field(default_factory=dict)

    @property
    def requests_per_second(self) -> float:
        return len(self.latencies_ms) / self.elapsed_s if self.elapsed_s else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")


async def _load(
    url: str,
    headers: dict[str, str],
    concurrency: int,
    duration_s: float,
    method: str = "GET",
    json_body_factory=None,
) -> LoadResult:
    import httpx

    result = LoadResult()
    deadline = time.perf_counter() + duration_s
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=10) as client:

        async def worker() -> None:
            while time.perf_counter() < deadline:
                body = json_body_factory() if json_body_factory else None
                started = time.perf_counter()
                response = await client.request(method, url, json=body)
                result.latencies_ms.append((time.perf_counter() - started) * 1000)
                result.statuses[response.status_code] = (
                    result.statuses.get(response.status_code, 0) + 1
                )

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.elapsed_s = time.perf_counter() - started
    return result


def http_load(
    url: str,
    *,
    headers: dict[str, str] | None = None,
    concurrency: int = 8,
    duration_s: float = 5.0,
    method: str = "GET",
    json_body_factory=None,
) -> LoadResult:
    """Closed-loop load: ``concurrency`` connections each sending back-to-back requests."""
    return asyncio.run(
        _load(url, headers or {}, concurrency, duration_s, method, json_body_factory)
    )


def print_table(title: str, header: list[str], rows: list[list[object]]) -> None:
    cells = [header] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(str(row[i])) for row in cells) for i in range(len(header))]
    print(f"\n{title}")
    print("  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print("  ".join(str(v).rjust(w) for v, w in zip(row, widths, strict=True)))


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "n/a"
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.3f}"
    return str(value)


def machine_note() -> str:
    return f"{os.cpu_count()} cores, Python {sys.version.split()[0]}"
