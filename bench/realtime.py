"""Websocket fan-out: N live clients on a real uvicorn server (issue 10's benchmark).

For N in 50, 200, 500 (``--clients``): N websocket connections, each subscribed to
``breakers`` and ``surface:BTC``, then

- breaker trips: real ``breaker_trip`` calls (account breakers, one per round, so every round
  is a real state change with its audit event and mirror); latency = a client receiving the
  ``breaker.changed`` message minus the moment the trip's transaction committed (an on-commit
  hook registered before the trip's own publish hook);
- surface at 1 Hz: ``publish("surface:BTC", ...)`` of a surface-summary-sized message once a
  second (the venues poller's publish step, without the poll itself); latency = receipt minus
  the publish call;
- memory per connection: RSS of the server process after all N subscribed, minus before, / N.

Sessions are written straight into the session store (the fields the two-step sign-in sets,
including django-otp's device marker), because signing 500 tabs in through the login pages
would test the login pages. All clients run in this one process (asyncio), so client-side
parsing is included in the figures; "gaps" counts messages a client saw out of sequence
(dropped or coalesced: they would trigger a snapshot in the browser).

Run: ``.venv/bin/python bench/realtime.py`` (DATABASE_URL / REDIS_URL as for the tests).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from _harness import machine_note, print_table, scratch_database, setup_django

TRIP_ROUNDS = 20
TRIP_SPACING_S = 0.25
SURFACE_SECONDS = 10


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def _fixtures(n_accounts: int):
    from apps.accounts.roles import Role
    from apps.venues.models import AdapterKind, TradingAccount, Venue
    from tests.accounts.factories import make_user

    user = make_user("bench-trader", roles=(Role.TRADER, Role.RISK_MANAGER))
    venue = Venue.objects.create(
        name="SIM", adapter=AdapterKind.SIMULATED, underlyings=["BTC"], config={}
    )
    for i in range(n_accounts):
        TradingAccount.objects.create(venue=venue, label=f"BENCH-{i:03d}", external_id=f"b{i}")
    return user


def _session_cookie(user) -> str:
    """A signed-in, second-factor-verified session, written directly to the session store."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django_otp import DEVICE_ID_SESSION_KEY

    from apps.accounts.models import TotpDevice
    from apps.accounts.services import sessions as s

    engine = __import__(settings.SESSION_ENGINE, fromlist=["SessionStore"])
    store = engine.SessionStore()
    now = time.time()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = s.AUTH_BACKEND
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store[DEVICE_ID_SESSION_KEY] = TotpDevice.objects.get(user=user).persistent_id
    store[s.AUTH_AT] = store[s.SEEN_AT] = store[s.MFA_AT] = now
    store[s.PRIVILEGED] = True
    store.create()
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}"


class Client:
    def __init__(self) -> None:
        self.breaker_received: dict[str, float] = {}
        self.surface_latencies: list[float] = []
        self.last_seq: dict[str, int] = {}
        self.gaps = 0

    async def run(self, ws, ready: asyncio.Event, subscribed_count: list[int], n: int) -> None:
        import websockets

        pending = {"breakers", "surface:BTC"}
        try:
            async for raw in ws:
                now = time.time()
                m = json.loads(raw)
                kind = m["type"]
                if kind == "subscribed":
                    pending.discard(m["topic"])
                    if not pending:
                        subscribed_count[0] += 1
                        if subscribed_count[0] == n:
                            ready.set()
                elif kind == "message":
                    topic, seq = m["topic"], m["seq"]
                    last = self.last_seq.get(topic)
                    if last is not None and seq != last + 1:
                        self.gaps += 1
                    self.last_seq[topic] = seq
                    payload = m["payload"]
                    if topic == "breakers" and payload.get("type") == "breaker.changed":
                        self.breaker_received.setdefault(payload["breaker"]["target"], now)
                    elif topic == "surface:BTC":
                        self.surface_latencies.append((now - payload["sent_at"]) * 1000)
        except websockets.ConnectionClosed:
            pass


async def _connect_all(url: str, origin: str, cookies: list[str]):
    import websockets

    clients, sockets, tasks = [], [], []
    ready = asyncio.Event()
    count = [0]
    n = len(cookies)
    for i, cookie in enumerate(cookies):
        ws = await websockets.connect(
            url, origin=origin, additional_headers={"Cookie": cookie}, open_timeout=30
        )
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello", hello
        client = Client()
        clients.append(client)
        sockets.append(ws)
        tasks.append(asyncio.create_task(client.run(ws, ready, count, n)))
        for topic in ("breakers", "surface:BTC"):
            await ws.send(json.dumps({"type": "subscribe", "topic": topic}))
        if i % 50 == 49:
            await asyncio.sleep(0.05)  # let the server breathe while the crowd arrives
    await asyncio.wait_for(ready.wait(), 120)
    return clients, sockets, tasks


def _surface_message(i: int) -> dict:
    # The size of venues.services.payloads.publish_message for ~8 expiries.
    return {
        "type": "surface.updated",
        "venue": "SIM",
        "underlying": "BTC",
        "as_of": "2026-11-22T03:00:00Z",
        "received_at": "2026-11-22T03:00:00Z",
        "stale": False,
        "index_price": 91234.5 + i,
        "dropped": 0,
        "smiles": [[1764000000000 + k * 86400000, 0.52, -0.013, 0.004] for k in range(8)],
        "sent_at": time.time(),
    }


async def _scenario(n: int, server, user, cookies: list[str], first_account: int) -> dict:
    import psutil
    from asgiref.sync import sync_to_async

    from apps.audit.actors import Actor
    from apps.breakers.services.changes import breaker_trip
    from apps.realtime.publish import publish_now

    process = psutil.Process(server.process.pid)
    rss_before = process.memory_info().rss
    clients, sockets, tasks = await _connect_all(
        f"{server.ws_url}/ws/live/", server.base_url, cookies
    )
    await asyncio.sleep(1.0)
    rss_after = process.memory_info().rss

    committed: dict[str, float] = {}

    def trip(label: str) -> None:
        from django.db import transaction

        with transaction.atomic():
            # Registered before breaker_trip's own hooks, so it runs first: the commit moment.
            transaction.on_commit(lambda: committed.__setitem__(label, time.time()))
            breaker_trip(scope="account", target=label, reason="bench", actor=Actor.user(user))

    for i in range(TRIP_ROUNDS):
        await sync_to_async(trip)(f"BENCH-{first_account + i:03d}")
        await asyncio.sleep(TRIP_SPACING_S)
    await asyncio.sleep(1.0)

    for i in range(SURFACE_SECONDS):
        await sync_to_async(publish_now)("surface:BTC", _surface_message(i))
        await asyncio.sleep(1.0)
    await asyncio.sleep(1.0)

    trip_latencies, missing = [], 0
    for client in clients:
        for label, at in committed.items():
            got = client.breaker_received.get(label)
            if got is None:
                missing += 1
            else:
                trip_latencies.append((got - at) * 1000)
    surface = [v for c in clients for v in c.surface_latencies]
    from django.db import connections

    await sync_to_async(connections.close_all)()  # the worker thread's connection, for teardown
    for ws in sockets:
        await ws.close()
    for task in tasks:
        task.cancel()
    return {
        "n": n,
        "trip": trip_latencies,
        "trip_missing": missing,
        "surface": surface,
        "surface_expected": n * SURFACE_SECONDS,
        "gaps": sum(c.gaps for c in clients),
        "rss_per_conn_kib": (rss_after - rss_before) / n / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="50,200,500")
    args = parser.parse_args()
    sizes = [int(x) for x in args.clients.split(",")]

    setup_django()
    from tests.support.servers import uvicorn_server

    results = []
    with scratch_database():
        user = _fixtures(TRIP_ROUNDS * len(sizes))
        for round_no, n in enumerate(sizes):
            cookies = [_session_cookie(user) for _ in range(n)]
            # A fresh server per size: RSS deltas and latencies of one size do not carry over.
            with uvicorn_server() as server:
                # Distinct account breakers per size: every trip is a real state change.
                first = round_no * TRIP_ROUNDS
                results.append(asyncio.run(_scenario(n, server, user, cookies, first)))

    rows = []
    for r in results:
        rows.append(
            [
                r["n"],
                _percentile(r["trip"], 50),
                _percentile(r["trip"], 99),
                max(r["trip"]) if r["trip"] else float("nan"),
                r["trip_missing"],
                _percentile(r["surface"], 50),
                _percentile(r["surface"], 99),
                f"{len(r['surface'])}/{r['surface_expected']}",
                r["gaps"],
                r["rss_per_conn_kib"],
            ]
        )
    print_table(
        f"Websocket fan-out, one uvicorn worker ({machine_note()}); ms unless stated",
        [
            "clients",
            "trip p50",
            "trip p99",
            "trip max",
            "trip missed",
            "surface p50",
            "surface p99",
            "surface recv",
            "seq gaps",
            "RSS/conn KiB",
        ],
        rows,
    )
    print(
        f"\n{TRIP_ROUNDS} breaker trips (commit -> client) and {SURFACE_SECONDS} surface "
        "publishes at 1 Hz per size; target: trip p99 < 250 ms at 200 clients."
    )


if __name__ == "__main__":
    main()
