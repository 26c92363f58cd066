"""`make soak`: the real stack under mixed load for SOAK_SECONDS (default 600), then a verdict.

What runs: ``scripts/run.py`` itself (the `make run` supervisor: ``config.serve``, uvicorn with 2
workers on their own sockets and the bounded-send websocket protocol, a prefork Celery worker
with 2 children, Celery beat) on a scratch database (``bench/_harness.scratch_database``) and
this run's Redis database, with DEBUG=0. PostgreSQL/Redis are DATABASE_URL/REDIS_URL, or
embedded servers under .local/soak/.

Load, all at once:
- orders: POST /api/v1/orders at 100/s, open loop, latency measured from each order's scheduled
  send time (``bench/gateway.paced_load``); passive IOC limits, so the book never grows;
- 200 websocket clients (one signed-in trader's sessions, written as ``bench/realtime`` does),
  each following breakers, risk, alerts, surface:BTC and positions:SIM-A;
- venue polling: beat dispatches a chain poll of the simulated venue every 2 s (its
  ``quote_interval_seconds``), whose surface reaches every client.

What counts as an error (any one fails the run):
- an order answered 5xx, or not answered (connection refused/reset/closed, or > 10 s);
- an order answered anything but 201. The load is valid and nothing in it should trip a
  check, so no reject is expected: a 422 (printed by reject code) means a breaker tripped or
  market data went stale under load, e.g. venue polling fell more than 10 s behind;
- a websocket that failed to connect or subscribe, or closed before the end;
- a missed websocket message: every client must receive every message published on its topics
  after it subscribed (counted against the topics' sequence numbers in Redis);
- a server or Celery process that died or was replaced, or venue polling that stalled.

Memory: RSS of every process, printed each minute. The verdict compares a warmed-up baseline
(taken after the first minute, or half the run if shorter) with the end: growth must stay under
10% per process. For PostgreSQL processes the private part (RSS minus touched shared buffers)
is compared, since a backend's RSS grows as it touches more of the shared buffer pool. The
warm-up ends with a CHECKPOINT: PostgreSQL's first timed one comes only after 5 minutes, and
the checkpointer's private memory (its table of files to fsync) is allocated by the first, so
without it the baseline would be taken before the checkpointer had ever done its work. Redis'
key count and used memory are printed with each report (what grows there, if anything).

    make soak                     # 10 minutes
    SOAK_SECONDS=90 make soak     # a short run while developing

Exit status 0 when the verdict holds, 1 otherwise.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
# Embedded servers (when the URLs are unset) and beat's schedule live under .local/soak/.
os.environ.setdefault("BREAKWATER_PROFILE", "soak")

import gateway as bench_gateway  # noqa: E402  (bench/gateway.py; sets Django up on import)
import psutil  # noqa: E402
from _harness import LoadResult, machine_note, print_table, scratch_database  # noqa: E402
from realtime import _session_cookie  # noqa: E402  (bench/realtime.py)

SOAK_SECONDS = int(os.environ.get("SOAK_SECONDS", "600"))
ORDER_RATE = 100.0
WS_CLIENTS = 200
TOPICS = ("breakers", "risk", "alerts", "surface:BTC", "positions:SIM-A")
REPORT_EVERY_S = 60
WARMUP_S = min(60, SOAK_SECONDS // 2)
MAX_GROWTH = 0.10
POLL_INTERVAL_S = 2.0


def log(message: str) -> None:
    print(f"[soak] {message}", flush=True)


# --- websocket clients ------------------------------------------------------------------------


@dataclass
class Follower:
    """One websocket client: counts messages per topic and remembers why it closed."""

    received: Counter[str] = field(default_factory=Counter)
    last_seq: dict[str, int] = field(default_factory=dict)
    # Per topic, messages with start < seq <= end, for the missed-message count.
    in_window: Counter[str] = field(default_factory=Counter)
    window_start: dict[str, int] | None = None
    subscribed: set[str] = field(default_factory=set)
    refused: list[str] = field(default_factory=list)
    closed: str | None = None
    task: asyncio.Task[None] | None = None

    async def run(self, ws, stopping: asyncio.Event) -> None:
        import websockets

        try:
            async for raw in ws:
                m = json.loads(raw)
                kind = m["type"]
                if kind == "message":
                    topic, seq = m["topic"], m["seq"]
                    self.received[topic] += 1
                    self.last_seq[topic] = max(seq, self.last_seq.get(topic, 0))
                    if self.window_start is not None and seq > self.window_start[topic]:
                        self.in_window[topic] += 1
                elif kind == "subscribed":
                    self.subscribed.add(m["topic"])
                elif kind == "refused":
                    self.refused.append(f"{m['topic']}: {m.get('reason')}")
        except websockets.ConnectionClosed as exc:
            if not stopping.is_set():
                self.closed = f"closed {exc.rcvd.code if exc.rcvd else 'without a close frame'}"
            return
        if not stopping.is_set():
            self.closed = "closed by the server"


async def connect_followers(
    url: str, origin: str, cookies: list[str], stopping: asyncio.Event
) -> tuple[list[Follower], list, list[str]]:
    import websockets

    followers, sockets, failures = [], [], []
    for i, cookie in enumerate(cookies):
        try:
            ws = await websockets.connect(
                url, origin=origin, additional_headers={"Cookie": cookie}, open_timeout=30
            )
            hello = json.loads(await ws.recv())
            if hello.get("type") != "hello":
                raise RuntimeError(f"unexpected first message {hello}")
        except Exception as exc:  # a refused handshake is an error to report, not a crash
            failures.append(f"client {i}: {exc!r}")
            continue
        follower = Follower()
        followers.append(follower)
        sockets.append(ws)
        follower.task = asyncio.create_task(follower.run(ws, stopping))
        for topic in TOPICS:
            await ws.send(json.dumps({"type": "subscribe", "topic": topic}))
        if i % 50 == 49:
            await asyncio.sleep(0.05)  # let the server breathe while the crowd arrives
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if all(len(f.subscribed) + len(f.refused) == len(TOPICS) for f in followers):
            break
        await asyncio.sleep(0.2)
    for i, f in enumerate(followers):
        if f.refused or len(f.subscribed) != len(TOPICS):
            failures.append(f"client {i}: subscribed {sorted(f.subscribed)}, refused {f.refused}")
    return followers, sockets, failures


def checkpoint() -> None:
    """Have PostgreSQL run a checkpoint now (see the module docstring: the warm-up's end)."""
    from django.db import connection, connections

    try:
        with connection.cursor() as c:
            c.execute("CHECKPOINT")
    finally:
        connections.close_all()  # this pool thread's connection: teardown drops the database


def redis_census() -> str:
    """Keys by kind (ids folded) and used memory of this run's Redis database."""
    import re

    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    kinds: Counter[str] = Counter()
    for key in client.scan_iter(count=1000):
        kinds[re.sub(rb"[0-9a-f]{8}-[0-9a-f-]{27}|\d+", b"*", key).decode(errors="replace")] += 1
    used = client.info("memory")["used_memory"] / 2**20
    top = ", ".join(f"{k} {n}" for k, n in kinds.most_common(6))
    return f"{sum(kinds.values())} keys, used_memory {used:.2f} MiB; most: {top}"


def topic_seqs() -> dict[str, int]:
    from apps.realtime.publish import topic_seq_current

    return {t: topic_seq_current(topic=t) for t in TOPICS}


# --- processes and memory ---------------------------------------------------------------------


@dataclass(frozen=True)
class Proc:
    label: str
    pid: int
    create_time: float
    private_only: bool  # PostgreSQL: compare RSS minus shared memory


def _postgres_procs(services) -> list[Proc]:
    """The embedded PostgreSQL's postmaster and its children (none for an external server)."""
    if services is None or services._pg is None:
        return []
    try:
        pid = int((services.directory / "pg" / "postmaster.pid").read_text().split()[0])
        master = psutil.Process(pid)
        procs = [(master, "postgres postmaster")]
        for child in master.children():
            title = " ".join(" ".join(child.cmdline()).split()).removeprefix("postgres: ")
            backend = "[local]" in title or "(" in title  # "<user> <db> <client> <state>"
            procs.append((child, f"postgres backend {child.pid}" if backend else f"pg {title}"))
        return [Proc(label, p.pid, p.create_time(), True) for p, label in procs]
    except (OSError, psutil.Error, ValueError, IndexError):
        return []


def stack_procs(supervisor_pid: int, services) -> list[Proc]:
    """Every process of the stack, labelled: run.py, uvicorn master/workers, Celery worker and
    its pool children, beat, and the embedded PostgreSQL/Redis."""
    procs: list[Proc] = []
    root = psutil.Process(supervisor_pid)
    procs.append(Proc("run.py supervisor", root.pid, root.create_time(), False))
    for child in root.children():
        cmd = " ".join(child.cmdline())
        if "config.serve" in cmd:
            name, kids = "web", "web worker"
        elif " worker" in cmd:
            name, kids = "celery worker", "celery child"
        elif " beat" in cmd:
            name, kids = "celery beat", "beat child"
        else:
            continue  # migrate, already finished
        procs.append(Proc(f"{name} (main)", child.pid, child.create_time(), False))
        n = 0
        for grandchild in sorted(child.children(), key=lambda p: p.pid):
            if "resource_tracker" in " ".join(grandchild.cmdline()):
                label = "web resource tracker"  # multiprocessing's helper, not a worker
            else:
                n += 1
                label = f"{kids} {n}"
            procs.append(Proc(label, grandchild.pid, grandchild.create_time(), False))
    if services is not None and services._redis is not None:
        redis_proc = psutil.Process(services._redis.pid)
        procs.append(Proc("redis (embedded)", redis_proc.pid, redis_proc.create_time(), False))
    return procs + _postgres_procs(services)


def memory_mib(proc: Proc) -> float | None:
    """RSS in MiB (PostgreSQL: RSS minus shared pages), or None if the process is gone."""
    try:
        p = psutil.Process(proc.pid)
        if p.create_time() != proc.create_time:
            return None
        info = p.memory_info()
        rss = info.rss - (info.shared if proc.private_only else 0)
        return rss / 2**20
    except psutil.Error:
        return None


# --- reporting --------------------------------------------------------------------------------


@dataclass
class Totals:
    chunks: list[LoadResult] = field(default_factory=list)

    def merged(self, chunks: list[LoadResult] | None = None) -> LoadResult:
        out = LoadResult()
        for c in self.chunks if chunks is None else chunks:
            out.latencies_ms.extend(c.latencies_ms)
            out.elapsed_s += c.elapsed_s
            for status, n in c.statuses.items():
                out.statuses[status] = out.statuses.get(status, 0) + n
            for name, n in c.failures.items():
                out.failures[name] = out.failures.get(name, 0) + n
        return out


def order_errors(statuses: dict[int, int]) -> int:
    return sum(n for s, n in statuses.items() if s != 201)


def describe_orders(r: LoadResult) -> str:
    sent = len(r.latencies_ms)
    errors = order_errors(r.statuses)
    rate = 100 * errors / sent if sent else 0.0
    statuses = ", ".join(
        f"{'no answer' if s == 0 else s}: {n}" for s, n in sorted(r.statuses.items())
    )
    failures = f" [no answer: {r.failures}]" if r.failures else ""
    return (
        f"{sent} orders ({statuses or '-'}){failures}, errors {errors} ({rate:.2f}%), "
        f"p50 {r.p50:.1f} ms, p99 {r.percentile(99):.1f} ms"
    )


def describe_ws(followers: list[Follower]) -> str:
    total: Counter[str] = Counter()
    for f in followers:
        total.update(f.received)
    open_now = sum(1 for f in followers if f.closed is None)
    per_topic = ", ".join(f"{t} {total[t]}" for t in TOPICS)
    return f"{open_now}/{WS_CLIENTS} open, {sum(total.values())} messages ({per_topic})"


def snapshot(
    title: str, totals: Totals, last: LoadResult | None, followers, procs, seqs0, seqs
) -> dict[int, float | None]:
    mem = {p.pid: memory_mib(p) for p in procs}
    log(title)
    if last is not None:
        print(f"  orders, last period: {describe_orders(last)}")
    print(f"  orders, cumulative:  {describe_orders(totals.merged())}")
    from apps.gateway.services.counters import reject_counts_live

    print(f"  rejects (422) by code: {reject_counts_live() or 'none'}")
    print(f"  websockets: {describe_ws(followers)}")
    published = {t: seqs[t] - seqs0[t] for t in TOPICS}
    print(f"  published since start: {published}")
    # Three significant figures: tenths of a MiB hide the growth of a 0.6 MiB process.
    cells = [f"{p.label} {mem[p.pid]:.3g}" if mem[p.pid] else f"{p.label} gone" for p in procs]
    print("  memory MiB (RSS; postgres: private): " + ", ".join(cells))
    print(f"  redis: {redis_census()}", flush=True)
    return mem


def verdict_rows(procs, baseline, end) -> tuple[list[list[object]], list[str]]:
    rows, problems = [], []
    for p in procs:
        b, e = baseline.get(p.pid), end.get(p.pid)
        if b is None or e is None:
            if not p.label.startswith(
                "postgres backend"
            ):  # backends come and go with the pools; our processes must not
                problems.append(f"{p.label} (pid {p.pid}) died or was replaced")
            rows.append([p.label, p.pid, b or float("nan"), e or float("nan"), "n/a", "not judged"])
            continue
        growth = (e - b) / b
        ok = growth < MAX_GROWTH
        if not ok:
            problems.append(f"{p.label} grew {growth:+.1%}")
        rows.append([p.label, p.pid, b, e, f"{growth:+.1%}", "ok" if ok else "FAIL"])
    return rows, problems


# --- the run ----------------------------------------------------------------------------------


def start_stack(log_path: Path, port: int) -> subprocess.Popen[bytes]:
    from tests.support.servers import child_env

    extra = {
        "DEBUG": "0",
        "DEMO": "0",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "CELERY_CONCURRENCY": "2",
        "LOG_LEVEL": "WARNING",  # a Celery INFO line per task would be most of the output
    }
    # The clients' sessions are never "active" over HTTP; keep them inside the idle limits.
    idle = str(max(1800, SOAK_SECONDS + 600))
    extra |= {"SESSION_IDLE_SECONDS": idle, "SESSION_IDLE_SECONDS_PRIVILEGED": idle}
    with open(log_path, "wb") as out:
        return subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "run.py")],
            cwd=ROOT,
            env=child_env(**extra),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_stack(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # run.py stops its children, then itself
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def wait_until(predicate, timeout: float, what: str, stack: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if stack.poll() is not None:
            raise RuntimeError(f"the stack exited while waiting for {what}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.5)


def reset_startup_trips() -> None:
    """The seed's in-process poll starts the staleness clock; a slow start-up (a loaded
    machine) can trip the venue breaker before the stack polls. Reset it, as bench/gateway
    does, so the soak starts active; any trip from here on fails the run."""
    from apps.breakers.models import Breaker
    from apps.breakers.services import breaker_reset_break_glass

    time.sleep(2 * POLL_INTERVAL_S)  # polling is live now: a stale condition has cleared
    for b in Breaker.objects.exclude(state="active"):
        log(f"breaker {b.label} is {b.state} after start-up ({b.reason}); resetting it")
        breaker_reset_break_glass(
            scope=b.scope, target=b.target, reason="soak start", operator="soak", to_state="active"
        )


def ready(base: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


async def drive(base: str, ws_url: str, flow, cookies, supervisor_pid: int, services) -> int:
    stopping = asyncio.Event()
    followers, sockets, failures = await connect_followers(
        f"{ws_url}/ws/live/", base, cookies, stopping
    )
    for failure in failures[:10]:
        log(f"websocket failure: {failure}")
    seqs0 = await asyncio.to_thread(topic_seqs)
    for f in followers:
        f.window_start = dict(seqs0)
    procs = await asyncio.to_thread(stack_procs, supervisor_pid, services)
    totals = Totals()
    start_mem = snapshot("t=0 s: start", totals, None, followers, procs, seqs0, seqs0)
    baseline: dict[int, float | None] | None = None
    # Planned period ends: every minute, the warm-up's end (the baseline) and the run's end.
    ends = sorted({*range(REPORT_EVERY_S, SOAK_SECONDS, REPORT_EVERY_S), WARMUP_S, SOAK_SECONDS})
    started = time.monotonic()
    previous = 0

    async def checkpoint_before_baseline() -> None:
        await asyncio.sleep(max(WARMUP_S - 10, 0))
        await asyncio.to_thread(checkpoint)
        log("CHECKPOINT done (the warm-up's end, before the memory baseline)")

    checkpointing = asyncio.create_task(checkpoint_before_baseline())
    for period_end in ends:
        result = await asyncio.to_thread(
            bench_gateway.paced_load,
            base,
            flow.headers,
            "/api/v1/orders",
            flow.order_body,
            ORDER_RATE,
            period_end - previous,
        )
        previous = period_end
        totals.chunks.append(result)
        elapsed = time.monotonic() - started
        seqs = await asyncio.to_thread(topic_seqs)
        mem = snapshot(f"t={elapsed:.0f} s", totals, result, followers, procs, seqs0, seqs)
        if period_end == WARMUP_S:
            await checkpointing
            baseline = mem
            log(f"memory baseline taken now (t={elapsed:.0f} s, after the warm-up)")

    # Every message published up to now must reach every client.
    seqs_end = await asyncio.to_thread(topic_seqs)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(
        f.last_seq.get(t, 0) < seqs_end[t] for f in followers if f.closed is None for t in TOPICS
    ):
        await asyncio.sleep(0.2)
    end_mem = {p.pid: memory_mib(p) for p in procs}
    stopping.set()
    missed = 0
    for f in followers:
        for t in TOPICS:
            expected = seqs_end[t] - seqs0[t]
            got = min(f.in_window[t], expected)  # messages published after seqs_end don't count
            missed += expected - got
    for ws in sockets:
        await ws.close()

    # The verdict.
    merged = totals.merged()
    disconnects = [f.closed for f in followers if f.closed]
    polls = seqs_end["surface:BTC"] - seqs0["surface:BTC"]
    poll_every = SOAK_SECONDS / polls if polls else float("inf")
    errors = {
        "orders not accepted (4xx incl. 422 rejects, 5xx, no answer)": order_errors(
            merged.statuses
        ),
        "websocket connect/subscribe failures": len(failures),
        "websocket disconnects": len(disconnects),
        "missed websocket messages": missed,
        "venue polling stalled (no poll for 2x its interval on average)": int(
            poll_every > 2 * POLL_INTERVAL_S
        ),
    }
    log(f"end after {time.monotonic() - started:.0f} s ({machine_note()})")
    print(f"  orders: {describe_orders(merged)}")
    from apps.breakers.models import Breaker

    def not_active() -> list[str]:
        from django.db import connections

        try:
            return [
                f"{b.label} {b.state}: {b.reason}" for b in Breaker.objects.exclude(state="active")
            ]
        finally:
            connections.close_all()  # this pool thread's connection: teardown drops the database

    tripped = await asyncio.to_thread(not_active)
    print(f"  breakers not active at the end: {tripped or 'none'}")
    print(f"  websockets: {describe_ws(followers)}; disconnects {Counter(disconnects) or 0}")
    print(f"  venue polls (surface pushes): {polls}, one per {poll_every:.2f} s (interval 2 s)")
    for name, n in errors.items():
        print(f"  errors: {name}: {n}")
    assert baseline is not None
    rows, problems = verdict_rows(procs, baseline, end_mem)
    print_table(
        f"Memory, MiB: warmed-up baseline (t={WARMUP_S} s) vs end; limit +{MAX_GROWTH:.0%} "
        "(postgres: RSS minus shared memory)",
        ["process", "pid", "start", "baseline", "end", "growth", "verdict"],
        [[r[0], r[1], start_mem.get(r[1]) or float("nan"), *r[2:]] for r in rows],
    )
    total_errors = sum(errors.values())
    problems = [f"{n} {name}" for name, n in errors.items() if n] + problems
    if total_errors == 0 and not problems:
        log("VERDICT: PASS (0 errors, every process grew < 10% from the warmed-up baseline)")
        return 0
    log("VERDICT: FAIL: " + "; ".join(problems))
    return 1


def main() -> int:
    # SIGTERM unwinds like Ctrl-C, so the stack, the scratch database and embedded servers stop.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    import redis
    from django.conf import settings

    from apps.accounts.roles import Role
    from config.local_services import owned_services
    from tests.accounts.factories import make_user
    from tests.support.servers import ARTIFACTS, free_port

    log(
        f"{SOAK_SECONDS} s: {ORDER_RATE:.0f} orders/s open loop, {WS_CLIENTS} websocket "
        f"clients on {len(TOPICS)} topics, venue polling every {POLL_INTERVAL_S:.0f} s"
    )
    # This run's Redis database only (TEST_REDIS_DB; 14 unless set): no breaker mirror, rate
    # bucket or sequence number left by an earlier run decides anything here.
    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    with scratch_database():
        flow = bench_gateway.seed_order_flow(far_expiry=True)
        trader = make_user("soak-trader", roles=(Role.TRADER,))
        flow.account.traders.add(trader)
        cookies = [_session_cookie(trader) for _ in range(WS_CLIENTS)]
        ARTIFACTS.mkdir(exist_ok=True)
        port = free_port()
        log_path = ARTIFACTS / f"soak-stack-{port}.log"
        stack = start_stack(log_path, port)
        log(f"stack starting (scripts/run.py, pid {stack.pid}); its log: {log_path}")
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until(lambda: ready(base), 120, "/readyz", stack)
            # Clients subscribe to a live system: beat and the worker have polled at least once.
            wait_until(lambda: topic_seqs()["surface:BTC"] > 0, 120, "the first venue poll", stack)
            reset_startup_trips()
            from django.db import connections

            connections.close_all()  # the pool's connections are not needed while we wait
            return asyncio.run(
                drive(base, f"ws://127.0.0.1:{port}", flow, cookies, stack.pid, owned_services())
            )
        finally:
            stop_stack(stack)
            from django.db import connections

            connections.close_all()


if __name__ == "__main__":
    sys.exit(main())
