"""Order gateway throughput and latency through the whole pipeline into the simulated venue.

Prints, for one real uvicorn server (2 workers) on a scratch database:
  * /api/ping (bare DRF, no key), /api/v1/me (bare authenticated DRF) and POST /api/v1/orders
    (auth + scope + key rate limit + every pre-trade check + INSERT + simulated venue + fills)
    under closed-loop load: requests/s, p50, p99, and the orders/me overhead ratio;
  * POST /api/v1/orders paced (open loop) at 200 orders/s: achieved rate, p50, p99;
  * the time from a breaker trip's commit to the first order rejected by it, under load from
    4 client threads (3 trips).

Orders are passive IOC limits: accepted, sent to the venue, unfilled remainder cancelled, so
the book does not grow during the run. Figures are noisy on a shared 2-core machine; compare
the ratios measured in the same run, and the CPU per request (server workers, PostgreSQL, this
load generator), which other load on the machine disturbs far less than latency.

The load generator shares the cores with the server, so it is kept lean: a minimal HTTP/1.1
keep-alive client (asyncio streams, httptools' C parser) costs a fraction of httpx's CPU per
request. Open-loop latency is measured from each request's scheduled send time, so a late
sender (a busy client loop) shows up as latency instead of hiding it.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import resource
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from _harness import LoadResult, machine_note, print_table, scratch_database, setup_django

setup_django()

from tests.support.servers import uvicorn_server  # noqa: E402

DURATION_S = 6.0
PACED_RATE = 200.0
# Longer than the closed-loop phases: p99 of 3,000 orders rests on 30 samples, not 12.
PACED_DURATION_S = 15.0
REQUEST_TIMEOUT_S = 10.0
IDLE_REUSE_S = 4.0  # < uvicorn's --timeout-keep-alive (5 s)


class _Connection:
    """One keep-alive HTTP/1.1 connection; one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self._body: list[bytes] = []
        self._complete = False
        self.idle_since = time.monotonic()

    # httptools callbacks
    def on_headers_complete(self) -> None:
        self._keep_alive = self._parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._complete = True

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        import httptools

        self._body, self._complete, self._keep_alive = [], False, False
        self._parser = parser = httptools.HttpResponseParser(self)
        self.writer.write(raw)
        while not self._complete:
            chunk = await self.reader.read(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            parser.feed_data(chunk)
        if not self._keep_alive:
            raise ConnectionError("server did not keep the connection alive")
        return parser.get_status_code(), b"".join(self._body)


class LeanClient:
    """Up to ``connections`` keep-alive connections to one server (like httpx's pool limits:
    a request waits for a free connection), with fixed headers."""

    def __init__(self, base_url: str, headers: dict[str, str], connections: int) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.limit = connections
        self._idle: list[_Connection] = []
        self._opened = 0
        self._free = asyncio.Condition()

    async def _acquire(self) -> _Connection:
        async with self._free:
            while not self._idle and self._opened >= self.limit:
                await self._free.wait()
            # Close connections idle for longer than uvicorn's keep-alive timeout (5 s): the
            # server may be closing them right now, and reusing one would fail the request.
            now = time.monotonic()
            while self._idle and now - self._idle[0].idle_since > IDLE_REUSE_S:
                self._idle.pop(0).writer.close()
                self._opened -= 1
            if self._idle:
                return self._idle.pop()
            self._opened += 1
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return _Connection(reader, writer)

    async def _release(self, conn: _Connection | None) -> None:
        async with self._free:
            if conn is None:
                self._opened -= 1
            else:
                conn.idle_since = time.monotonic()
                self._idle.append(conn)
            self._free.notify()

    async def request(self, method: str, path: str, body: dict | None = None) -> int:
        payload = json.dumps(body).encode() if body is not None else b""
        raw = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self.head}"
            + (
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
                if body is not None
                else ""
            )
            + "\r\n"
        ).encode() + payload
        conn = await self._acquire()
        try:
            status, _ = await conn.request(raw)
        except BaseException:
            conn.writer.close()
            await self._release(None)
            raise
        await self._release(conn)
        return status

    async def close(self) -> None:
        for conn in self._idle:
            conn.writer.close()


class CpuMeter:
    """CPU time (ms) of the server's worker processes, the PostgreSQL backends of the scratch
    database and this process, between ``start()`` and ``per_request(n)``."""

    def __init__(self, server_pid: int, database: str) -> None:
        self.server_pid, self.database = server_pid, database

    @staticmethod
    def _cpu_ms(pid: str) -> float:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")

    def _pids(self) -> tuple[list[str], list[str]]:
        workers, backends = [], []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/stat") as f:
                    ppid = f.read().rsplit(")", 1)[1].split()[1]
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if ppid == str(self.server_pid) and "resource_tracker" not in cmdline:
                workers.append(pid)  # (multiprocessing's resource tracker serves no request)
            elif cmdline.startswith("postgres:") and f" {self.database} " in cmdline:
                backends.append(pid)
        return workers, backends

    def start(self) -> None:
        self._workers, self._backends = self._pids()
        self._each0 = {p: self._cpu_ms(p) for p in self._workers}
        self._w0 = sum(self._each0.values())
        self._b0 = {p: self._cpu_ms(p) for p in self._backends}
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self._c0 = (usage.ru_utime + usage.ru_stime) * 1000

    def per_request(self, n: int) -> tuple[float, float, float]:
        _, backends = self._pids()
        workers = sum(self._cpu_ms(p) for p in self._workers) - self._w0
        # Backends opened during the run count from zero (their start-up is real work).
        pg = sum(self._cpu_ms(p) - self._b0.get(p, 0.0) for p in backends)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        client = (usage.ru_utime + usage.ru_stime) * 1000 - self._c0
        n = max(n, 1)
        return workers / n, pg / n, client / n

    def worker_split(self) -> str:
        """Each server worker's share of the workers' CPU since ``start()``, e.g. "51/49": the
        kernel assigns each connection to a worker by hash, so a few connections may share
        unevenly (with 4: all on one worker 1 time in 8), which shows here."""
        used = [self._cpu_ms(p) - self._each0[p] for p in sorted(self._workers, key=int)]
        total = sum(used) or 1.0
        return "/".join(f"{100 * u / total:.0f}" for u in used)


@dataclass
class OrderFlow:
    """A simulated venue with one polled BTC chain, account SIM-A and a bot key for it."""

    venue: Any
    account: Any
    issued: Any  # apps.apikeys.services.IssuedKey
    symbol: str
    price: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issued.plaintext}"}

    def order_body(self) -> dict:
        # A passive IOC limit (10% under the bid): accepted, sent to the venue, the unfilled
        # rest cancelled, so neither the book nor the position grows however long the load runs.
        return {
            "account": self.account.label,
            "instrument": self.symbol,
            "side": "buy",
            "type": "limit",
            "quantity": "1",
            "price": self.price,
            "time_in_force": "ioc",
            "client_order_id": uuid.uuid4().hex,
        }


def seed_order_flow(
    *, stale_after_seconds: float | None = None, far_expiry: bool = False
) -> OrderFlow:
    """Seed the venue, account, limits and key the order load needs (also used by
    scripts/soak.py). ``stale_after_seconds`` None keeps the venue's default staleness.
    ``far_expiry`` picks the option from the last expiry: under live polling a near-expiry
    in-the-money option drops out of some chains (no mark), a long-dated one does not."""
    from datetime import datetime

    from django.contrib.auth import get_user_model

    from apps.apikeys.services import key_issue
    from apps.gateway.models import GatewayLimits
    from apps.venues.models import AdapterKind, TradingAccount, Venue
    from apps.venues.services.polling import venue_poll_chain
    from apps.venues.services.store import chain_read

    extra = {} if stale_after_seconds is None else {"stale_after_seconds": stale_after_seconds}
    venue = Venue.objects.create(
        name="SIM",
        adapter=AdapterKind.SIMULATED,
        underlyings=["BTC"],
        config={"seed": 7, "bad_quote_rate": 0.0},
        **extra,
    )
    account = TradingAccount.objects.create(venue=venue, label="SIM-A", external_id="sim-a")
    GatewayLimits.objects.create(account=account, max_orders_per_second=1e6, order_burst=10**6)
    assert venue_poll_chain(venue_id=venue.pk).ok
    c = chain_read("SIM", "BTC").columns
    quoted = [
        (str(s), float(b))
        for s, b, a in zip(c["symbol"], c["bid"], c["ask"], strict=True)
        if b == b and a == a and b > 0.005 and a > b
    ]
    if far_expiry:  # BTC-18DEC26-120000-C: the stable sort keeps the chain's order per expiry
        quoted.sort(key=lambda q: datetime.strptime(q[0].split("-")[1], "%d%b%y"), reverse=True)
    symbol, bid = quoted[0]
    owner = get_user_model().objects.create_user("bench-owner")
    issued = key_issue(
        owner=owner,
        name="bench",
        scopes=["orders:write", "orders:read"],
        actor=owner,
        rate_per_second=1e6,
        burst=1_000_000,
        accounts=[account],
    )
    price = f"{bid * 0.9:.4f}"
    print(f"chain of {len(c['symbol'])} options; orders: buy 1 {symbol} @ {price} ioc")
    return OrderFlow(venue, account, issued, symbol, price)


@contextmanager
def no_gc_pauses() -> Iterator[None]:
    """This process's garbage collector off while measuring: a full collection of the bench's
    heap (Django, the ORM, thousands of pending tasks) paused the client ~90 ms at the end of
    each open-loop run, which counted as the server's latency. The server freezes its own
    start-up heap (config/asgi.py); this is only the load generator's, and only around the
    bench's own phases (scripts/soak.py runs paced_load for minutes beside other work)."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


def closed_loop(
    base: str,
    headers: dict[str, str],
    path: str,
    *,
    concurrency: int,
    duration_s: float,
    method: str = "GET",
    body_factory=None,
) -> LoadResult:
    """``concurrency`` connections, each sending its next request as soon as the previous
    answer arrived."""

    async def run() -> LoadResult:
        result = LoadResult()
        client = LeanClient(base, headers, concurrency)
        deadline = time.perf_counter() + duration_s

        async def worker() -> None:
            while time.perf_counter() < deadline:
                body = body_factory() if body_factory else None
                started = time.perf_counter()
                status = await client.request(method, path, body)
                result.latencies_ms.append((time.perf_counter() - started) * 1000)
                result.statuses[status] = result.statuses.get(status, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.elapsed_s = time.perf_counter() - started
        await client.close()
        return result

    return asyncio.run(run())


def paced_load(
    base: str, headers: dict[str, str], path: str, body_factory, rate: float, duration_s: float
) -> LoadResult:
    """Open loop: one request every 1/rate s regardless of answers, over at most 8 connections
    (the PostgreSQL server is shared; more would exhaust its clients). Latency runs from the
    request's scheduled send time: queueing in the server, and in the client for a free
    connection, counts, as a bot sending at that rate would see it. A request that got no
    answer (refused, reset or closed, or nothing within REQUEST_TIMEOUT_S) counts as status 0."""

    async def run() -> LoadResult:
        result = LoadResult()
        client = LeanClient(base, headers, 8)

        async def one(due: float) -> None:
            try:
                status = await asyncio.wait_for(
                    client.request("POST", path, body_factory()), REQUEST_TIMEOUT_S
                )
            except (OSError, TimeoutError) as exc:  # refused, reset, closed early, no answer
                status = 0
                name = f"{type(exc).__name__}: {exc}".rstrip(": ")
                result.failures[name] = result.failures.get(name, 0) + 1
            result.latencies_ms.append((time.perf_counter() - due) * 1000)
            result.statuses[status] = result.statuses.get(status, 0) + 1

        tasks = []
        start = time.perf_counter()
        for i in range(int(rate * duration_s)):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(due)))
        await asyncio.gather(*tasks)
        result.elapsed_s = time.perf_counter() - start
        await client.close()
        return result

    return asyncio.run(run())


def main() -> None:
    print(f"Order gateway benchmark ({machine_note()})")
    import redis
    from django.conf import settings

    # The bench's own Redis db (TEST_REDIS_DB, 14 by default): a breaker mirror or rate bucket
    # left by an earlier run on another database must not decide this run's orders.
    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    with scratch_database():
        from django.db import connection, transaction
        from django.utils import timezone

        from apps.audit.actors import Actor
        from apps.breakers.services import breaker_reset_break_glass, breaker_trip
        from apps.gateway.models import Order

        flow = seed_order_flow(stale_after_seconds=3600)
        venue, account, issued, symbol, price = (
            flow.venue, flow.account, flow.issued, flow.symbol, flow.price
        )  # fmt: skip
        headers, order_body = flow.headers, flow.order_body

        from apps.breakers.models import Breaker

        for b in Breaker.objects.exclude(state="active"):
            print(
                f"breaker {b.scope}:{b.target} is {b.state} ({b.reason}); resetting for the bench"
            )
            breaker_reset_break_glass(
                scope=b.scope, target=b.target, reason="bench", operator="bench", to_state="active"
            )
        # In process, no HTTP: the gateway's own cost beside the simulated venue's.
        from decimal import Decimal

        from apps.gateway.services.orders import OrderInput, order_submit
        from apps.venues.adapters.base import OrderRequest, Side
        from apps.venues.adapters.registry import adapter_for
        from apps.venues.services.credentials import account_ref_for

        def submit_once() -> None:
            order_submit(
                api_key=issued.api_key,
                data=OrderInput(
                    "SIM-A",
                    symbol,
                    "buy",
                    "limit",
                    Decimal(1),
                    Decimal(price),
                    "ioc",
                    False,
                    uuid.uuid4().hex,
                ),
                arrived_at=timezone.now(),
            )

        adapter, ref = adapter_for(venue), account_ref_for(account)

        def venue_once() -> None:
            adapter.place_order(
                ref,
                OrderRequest(symbol, Side.BUY, Decimal(1), "limit", Decimal(price), "ioc"),
            )

        in_process = []
        for name, fn in (("order_submit (pipeline + venue)", submit_once),
                         ("simulated venue place_order alone", venue_once)):  # fmt: skip
            for _ in range(5):
                fn()
            samples = []
            for _ in range(100):
                started = time.perf_counter()
                fn()
                samples.append((time.perf_counter() - started) * 1000)
            samples.sort()
            in_process.append([name, samples[50], samples[98]])
        print_table("In process (no HTTP), 100 calls", ["call", "p50 ms", "p99 ms"], in_process)
        statuses = Counter(Order.objects.values_list("status", flat=True))
        print(f"in-process orders by status: {dict(statuses)}")

        with uvicorn_server(workers=2) as server:
            base = server.base_url
            meter = CpuMeter(server.process.pid, connection.settings_dict["NAME"])
            orders = {"method": "POST", "body_factory": order_body}
            # Warm-up over 8 connections, as many as the open-loop run uses: both workers
            # serve some (the kernel does not share connections evenly), so neither meets its
            # first requests (new pool connections, first-call costs) inside a measurement.
            for path, kw in (("/api/ping", {}), ("/api/v1/me", {}), ("/api/v1/orders", orders)):
                closed_loop(base, headers, path, concurrency=8, duration_s=1.5, **kw)
            rows = []
            results = {}
            for name, path, kw in (
                ("GET /api/ping (bare DRF)", "/api/ping", {}),
                ("GET /api/v1/me (bare authenticated)", "/api/v1/me", {}),
                ("POST /api/v1/orders (whole pipeline)", "/api/v1/orders", orders),
            ):
                meter.start()
                with no_gc_pauses():
                    r = closed_loop(base, headers, path, concurrency=4, duration_s=DURATION_S, **kw)
                cpu = meter.per_request(len(r.latencies_ms))
                results[name] = r
                rows.append(
                    [name, r.requests_per_second, r.p50, r.percentile(99), *cpu,
                     meter.worker_split(), dict(r.statuses)]
                )  # fmt: skip
            print_table(
                "Closed loop, 4 connections (CPU: ms per request; split: each worker's % of it)",
                ["endpoint", "req/s", "p50 ms", "p99 ms", "cpu server", "cpu pg", "cpu client",
                 "split", "statuses"],
                rows,
            )  # fmt: skip
            from apps.gateway.services.counters import reject_counts

            print(f"rejects so far by code: {reject_counts()}")
            me = results["GET /api/v1/me (bare authenticated)"]
            placed = results["POST /api/v1/orders (whole pipeline)"]
            print(
                f"overhead ratio orders/me: p50 {placed.p50 / me.p50:.2f}x, "
                f"p99 {placed.percentile(99) / me.percentile(99):.2f}x, "
                f"throughput {me.requests_per_second / placed.requests_per_second:.2f}x, "
                f"server CPU {rows[2][4] / rows[1][4]:.2f}x"
            )

            meter.start()
            with no_gc_pauses():
                paced = paced_load(
                    base, headers, "/api/v1/orders", order_body, PACED_RATE, PACED_DURATION_S
                )
            cpu = meter.per_request(len(paced.latencies_ms))
            print_table(
                f"Open loop at {PACED_RATE:.0f} orders/s for {PACED_DURATION_S:.0f} s "
                "(latency from the scheduled send time)",
                ["accepted/s", "p50 ms", "p99 ms", "max ms", "cpu server", "cpu pg", "cpu client",
                 "split", "statuses"],
                [
                    [
                        paced.statuses.get(201, 0) / paced.elapsed_s,
                        paced.p50,
                        paced.percentile(99),
                        max(paced.latencies_ms),
                        *cpu,
                        meter.worker_split(),
                        dict(paced.statuses),
                    ]
                ],
            )  # fmt: skip

            # Trip during load: commit -> first reject.
            import httpx

            trip_rows = []
            for attempt in range(3):
                stop = threading.Event()

                def client_loop(stop: threading.Event = stop) -> None:
                    with httpx.Client(base_url=base, headers=headers, timeout=10) as http:
                        while not stop.is_set():
                            http.post("/api/v1/orders", json=order_body())

                threads = [threading.Thread(target=client_loop) for _ in range(4)]
                for t in threads:
                    t.start()
                time.sleep(1.0)
                committed: list = []
                with transaction.atomic():
                    transaction.on_commit(lambda c=committed: c.append(timezone.now()))
                    breaker_trip(scope="global", reason="bench", actor=Actor.system("bench"))
                time.sleep(1.0)
                stop.set()
                for t in threads:
                    t.join()
                commit = committed[0]
                late = (
                    Order.objects.exclude(status="rejected").filter(arrived_at__gt=commit).count()
                )
                first = (
                    Order.objects.filter(reject_code="breaker_halted", decided_at__gte=commit)
                    .order_by("decided_at")
                    .values_list("decided_at", flat=True)
                    .first()
                )
                trip_rows.append(
                    [
                        attempt + 1,
                        (first - commit).total_seconds() * 1000 if first else float("nan"),
                        late,
                    ]
                )
                breaker_reset_break_glass(
                    scope="global", reason="bench", operator="bench", to_state="active"
                )
            print_table(
                "Trip during load (4 client threads, 2 server workers)",
                ["trip", "commit -> first reject ms", "accepted after commit"],
                trip_rows,
            )


if __name__ == "__main__":
    main()
