"""Redis stopped and restarted under order flow, polling and live websockets.

Everything runs for real: a uvicorn server, a Celery worker and beat polling the simulated
venue every 2 s, bots posting orders, a browser-like websocket client following the protocol
of docs/realtime.md. They all use a private redis-server (tests/support/redis_process.py) that
the test kills (SIGKILL, no persistence: every key is lost, as when the Redis machine dies) and
starts again, empty, on the same port. No process under test is restarted.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import pytest
import websockets

from apps.accounts.roles import Role
from apps.gateway.models import Fill, Order
from apps.venues.models import SimOrder
from tests.accounts.factories import make_user
from tests.apikeys.factories import issue
from tests.support.auth import http_sign_in
from tests.support.celery_processes import celery_processes_in
from tests.support.redis_process import RedisProcess, redis_process
from tests.support.servers import RunningServer, uvicorn_server
from tests.support.waiting import wait_for
from tests.venues.factories import make_account, make_sim_venue

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

RESUME_WITHIN_S = 30.0  # orders accepted again, and live pushes again, within this after restart


@dataclass
class LiveTab:
    """A websocket client that behaves like static/js/live.js: subscribe, snapshot, apply
    messages in sequence order, resync on a gap, reconnect with backoff when the socket closes
    (or goes silent), re-subscribe and resync. Runs in a thread of its own."""

    url: str
    origin: str
    cookie: str
    topic: str
    events: list[tuple[float, str, Any]] = field(default_factory=list)  # (time, kind, detail)
    last_seq: int = 0
    synced: bool = False
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _log(self, kind: str, detail: Any = None) -> None:
        self.events.append((time.monotonic(), kind, detail))

    def applied_since(self, since: float) -> list[int]:
        return [d for t, k, d in self.events if k == "applied" and t >= since]

    async def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                async with websockets.connect(
                    self.url,
                    origin=self.origin,
                    additional_headers={"Cookie": self.cookie},
                    open_timeout=5,
                ) as ws:
                    self._log("connected")
                    backoff = 0.5
                    await self._session(ws)
            except (OSError, websockets.WebSocketException, TimeoutError) as exc:
                self._log("disconnected", type(exc).__name__)
            self.synced = False
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 4.0)

    async def _session(self, ws: Any) -> None:
        await ws.send(json.dumps({"type": "subscribe", "topic": self.topic}))
        silent_since = time.monotonic()
        while not self._stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), 1.0)
            except TimeoutError:
                if time.monotonic() - silent_since > 15:  # live.js: silent 15 s -> reopen
                    self._log("silent")
                    return
                if not self.synced:  # a snapshot not answered: ask again (live.js: 3 s)
                    await ws.send(json.dumps({"type": "snapshot", "topic": self.topic}))
                continue
            silent_since = time.monotonic()
            message = json.loads(raw)
            kind = message["type"]
            if kind == "subscribed":
                await ws.send(json.dumps({"type": "snapshot", "topic": self.topic}))
            elif kind == "snapshot":
                self.synced = True
                self.last_seq = message["seq"]
                self._log("snapshot", (message["seq"], message["available"]))
            elif kind == "message" and self.synced:
                seq = message["seq"]
                if seq <= self.last_seq:
                    continue  # already covered
                if seq != self.last_seq + 1:
                    self._log("gap", (self.last_seq, seq))
                    self.synced = False
                    await ws.send(json.dumps({"type": "snapshot", "topic": self.topic}))
                self.last_seq = seq
                self._log("applied", seq)


@dataclass
class Desk:
    server: RunningServer
    redis: RedisProcess
    bot: httpx.Client
    symbol: str
    processes: list[Any]  # the uvicorn server, the worker and beat: none may be restarted


def place(desk: Desk) -> httpx.Response:
    """A marketable buy (it fills at once at the simulated venue) at the current ask."""
    chain = desk.bot.get(f"/chains/BTC?venue=SIM&symbol={desk.symbol}")
    body = {
        "account": "SIM-A",
        "instrument": desk.symbol,
        "side": "buy",
        "type": "limit",
        "quantity": "1",
        "time_in_force": "ioc",
    }
    # The symbol may be missing from one poll's chain (the simulated venue sends some bad
    # quotes, which validation drops): then a passive price, and the caller tries again.
    quotes = chain.json()["quotes"] if chain.status_code == 200 else []
    quote = next((q for q in quotes if q["symbol"] == desk.symbol and q["ask"]), None)
    body["price"] = str(Decimal(str(quote["ask"])) * Decimal("1.05")) if quote else "0.05"
    return desk.bot.post("/orders", json=body)


@pytest.fixture
def desk(tmp_path, settings) -> Iterator[Desk]:
    venue = make_sim_venue(stale_after_seconds=600)
    make_account(venue, "SIM-A")
    with redis_process(tmp_path) as redis:
        env = {"REDIS_URL": redis.url(), "TEST_REDIS_DB": "0"}
        with uvicorn_server(**env) as server, celery_processes_in(tmp_path) as celery:
            celery.env.update(env)
            celery.worker("faults-redis-worker")
            celery.beat("faults-redis-beat")
            key = issue(accounts=["SIM-A"]).plaintext
            bot = httpx.Client(
                base_url=f"{server.base_url}/api/v1",
                headers={"Authorization": f"Bearer {key}"},
                timeout=15,
            )
            surface = wait_for(
                lambda: (r := bot.get("/chains/BTC?venue=SIM")).status_code == 200 and r.json(),
                90,
                "the worker's first chain poll",
            )
            liquid = [q for q in surface["quotes"] if q["bid"] and q["ask"] and q["bid"] > 0.001]
            processes = [server.process, *celery.started]
            yield Desk(server, redis, bot, liquid[0]["symbol"], processes)
            bot.close()


def test_orders_fail_closed_while_redis_is_down_and_everything_resumes_by_itself(desk):
    server, redis = desk.server, desk.redis
    trader = make_user("outage-trader", roles=(Role.TRADER,))
    browser = http_sign_in(server.base_url, trader)
    tab = LiveTab(
        f"{server.ws_url}/ws/live/",
        server.base_url,
        f"sessionid={browser.cookies['sessionid']}",
        "surface:BTC",
    )
    tab.start()
    try:
        wait_for(lambda: len(tab.applied_since(0)) >= 2, 30, "live surface pushes")

        before = [place(desk) for _ in range(5)]
        assert [r.status_code for r in before] == [201] * 5, [r.text for r in before]
        accepted = {r.json()["id"]: r.json() for r in before}
        fills_before = {
            str(order_id): list(
                Fill.objects.filter(order_id=order_id).values_list(
                    "venue_fill_id", "quantity", "price"
                )
            )
            for order_id in accepted
        }
        assert all(fills_before.values()), "marketable orders fill at once"
        venue_orders = SimOrder.objects.count()

        redis.stop()
        down_at = time.monotonic()
        during = []
        while time.monotonic() - down_at < 3:
            during.append(place(desk))
        codes = {r.status_code for r in during}
        assert codes == {503}, [(r.status_code, r.text[:200]) for r in during]
        assert {r.json()["code"] for r in during} == {"dependency_unavailable"}
        assert SimOrder.objects.count() == venue_orders  # nothing reached the venue
        assert httpx.get(f"{server.base_url}/readyz").status_code == 503

        redis.start()
        up_at = time.monotonic()
        # Accepted and filled again: the chain is back in Redis (the next poll) and the
        # gateway's Redis reads work again. Before that an order is refused or, priced
        # without a chain, accepted and not filled.
        wait_for(
            lambda: (r := place(desk)).status_code == 201 and r.json()["status"] == "filled",
            RESUME_WITHIN_S,
            "an order filled again",
        )
        resumed_s = time.monotonic() - up_at
        assert httpx.get(f"{server.base_url}/readyz").status_code == 200
        # The websocket client resynchronises and receives live pushes again.
        wait_for(lambda: len(tab.applied_since(up_at)) >= 2, RESUME_WITHIN_S, "live pushes")
        live_s = next(t for t, k, _ in tab.events if k == "applied" and t >= up_at) - up_at
        # It got there by the protocol: the socket closed in the outage, the tab reconnected,
        # and a snapshot (the resync) came before the first message it applied.
        after = [k for t, k, _ in tab.events if t >= down_at]
        assert "disconnected" in after
        assert after.index("snapshot") < after.index("applied")
        print(
            f"\nredis outage: {len(during)} orders refused (503) in 3 s; orders accepted "
            f"{resumed_s:.1f} s and live pushes {live_s:.1f} s after the restart; "
            f"tab events: {[(k, d) for t, k, d in tab.events if t >= down_at - 1]}"
        )
    finally:
        tab.stop()
    # ...by itself: the same server, worker and beat processes throughout.
    assert all(process.poll() is None for process in desk.processes)

    # No data lost in PostgreSQL: every order accepted before the outage, with its fills.
    for order_id, body in accepted.items():
        order = Order.objects.get(pk=order_id)
        assert (order.status, str(order.filled_quantity)) == (
            body["status"],
            str(Decimal(body["filled_quantity"])),
        )
        fills = list(order.fills.values_list("venue_fill_id", "quantity", "price"))
        assert fills == fills_before[str(order_id)]
    assert not Order.objects.filter(status="unknown").exists()
