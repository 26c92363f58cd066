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
the ratios measured in the same run.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import Counter

from _harness import http_load, machine_note, print_table, scratch_database, setup_django

setup_django()

from tests.support.servers import uvicorn_server  # noqa: E402

DURATION_S = 6.0
PACED_RATE = 200.0


def paced_load(url: str, headers: dict[str, str], body_factory, rate: float, duration_s: float):
    """Open loop: one request every 1/rate s regardless of answers (latency includes queueing
    in the server, as a bot sending at that rate would see it)."""
    import httpx
    from _harness import LoadResult

    async def run() -> LoadResult:
        result = LoadResult()
        # Few connections: the PostgreSQL server is shared; more would exhaust its clients.
        limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
        async with httpx.AsyncClient(headers=headers, limits=limits, timeout=10) as client:

            async def one() -> None:
                started = time.perf_counter()
                response = await client.post(url, json=body_factory())
                result.latencies_ms.append((time.perf_counter() - started) * 1000)
                result.statuses[response.status_code] = (
                    result.statuses.get(response.status_code, 0) + 1
                )

            tasks = []
            start = time.perf_counter()
            n = int(rate * duration_s)
            for i in range(n):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one()))
            await asyncio.gather(*tasks)
            result.elapsed_s = time.perf_counter() - start
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
        from django.contrib.auth import get_user_model
        from django.db import transaction
        from django.utils import timezone

        from apps.apikeys.services import key_issue
        from apps.audit.actors import Actor
        from apps.breakers.services import breaker_reset_break_glass, breaker_trip
        from apps.gateway.models import GatewayLimits, Order
        from apps.venues.models import AdapterKind, TradingAccount, Venue
        from apps.venues.services.polling import venue_poll_chain
        from apps.venues.services.store import chain_read

        venue = Venue.objects.create(
            name="SIM",
            adapter=AdapterKind.SIMULATED,
            underlyings=["BTC"],
            config={"seed": 7, "bad_quote_rate": 0.0},
            stale_after_seconds=3600,
        )
        account = TradingAccount.objects.create(venue=venue, label="SIM-A", external_id="sim-a")
        GatewayLimits.objects.create(account=account, max_orders_per_second=1e6, order_burst=10**6)
        assert venue_poll_chain(venue_id=venue.pk).ok
        c = chain_read("SIM", "BTC").columns
        symbol, bid = next(
            (str(s), float(b))
            for s, b, a in zip(c["symbol"], c["bid"], c["ask"], strict=True)
            if b == b and a == a and b > 0.005 and a > b
        )
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
        headers = {"Authorization": f"Bearer {issued.plaintext}"}
        price = f"{bid * 0.9:.4f}"
        print(f"chain of {len(c['symbol'])} options; orders: buy 1 {symbol} @ {price} ioc")

        def order_body() -> dict:
            return {
                "account": "SIM-A",
                "instrument": symbol,
                "side": "buy",
                "type": "limit",
                "quantity": "1",
                "price": price,
                "time_in_force": "ioc",
                "client_order_id": uuid.uuid4().hex,
            }

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
            http_load(f"{base}/api/v1/me", headers=headers, concurrency=4, duration_s=1.0)
            http_load(
                f"{base}/api/v1/orders",
                headers=headers,
                concurrency=4,
                duration_s=1.0,
                method="POST",
                json_body_factory=order_body,
            )
            rows = []
            results = {}
            for name, url, kw in (
                ("GET /api/ping (bare DRF)", f"{base}/api/ping", {}),
                ("GET /api/v1/me (bare authenticated)", f"{base}/api/v1/me", {}),
                (
                    "POST /api/v1/orders (whole pipeline)",
                    f"{base}/api/v1/orders",
                    {"method": "POST", "json_body_factory": order_body},
                ),
            ):
                r = http_load(url, headers=headers, concurrency=4, duration_s=DURATION_S, **kw)
                results[name] = r
                rows.append(
                    [name, r.requests_per_second, r.p50, r.percentile(99), dict(r.statuses)]
                )
            print_table(
                "Closed loop, 4 connections",
                ["endpoint", "req/s", "p50 ms", "p99 ms", "statuses"],
                rows,
            )
            from apps.gateway.services.counters import reject_counts

            print(f"rejects so far by code: {reject_counts()}")
            me = results["GET /api/v1/me (bare authenticated)"]
            orders = results["POST /api/v1/orders (whole pipeline)"]
            print(
                f"overhead ratio orders/me: p50 {orders.p50 / me.p50:.2f}x, "
                f"p99 {orders.percentile(99) / me.percentile(99):.2f}x, "
                f"throughput {me.requests_per_second / orders.requests_per_second:.2f}x"
            )

            paced = paced_load(f"{base}/api/v1/orders", headers, order_body, PACED_RATE, DURATION_S)
            print_table(
                f"Open loop at {PACED_RATE:.0f} orders/s for {DURATION_S:.0f} s",
                ["accepted/s", "p50 ms", "p99 ms", "max ms", "statuses"],
                [
                    [
                        paced.statuses.get(201, 0) / paced.elapsed_s,
                        paced.p50,
                        paced.percentile(99),
                        max(paced.latencies_ms),
                        dict(paced.statuses),
                    ]
                ],
            )

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
