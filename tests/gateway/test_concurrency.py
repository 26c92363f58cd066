"""Idempotency under concurrency, a breaker tripped under load, and failing closed, each against
real uvicorn processes (two workers) on the test database and Redis."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal

import httpx
import pytest
from django.db import transaction
from django.utils import timezone

from apps.gateway.models import Fill, Order
from apps.venues.models import SimOrder
from tests.breakers.factories import OPERATOR
from tests.gateway.conftest import make_bot, marketable_buy_price, passive_buy_price
from tests.support.servers import uvicorn_server

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def two_workers(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), uvicorn_server(workers=2) as server:
        yield server


def test_twenty_concurrent_submissions_of_one_client_order_id_trade_once(two_workers, market):
    bot = make_bot(two_workers)
    symbol = market.symbols[0]
    price = marketable_buy_price(market, symbol)
    barrier = threading.Barrier(20)

    def submit(_: int) -> httpx.Response:
        with httpx.Client(base_url=str(bot.http.base_url), headers=bot.http.headers) as http:
            barrier.wait()
            return http.post(
                "/orders",
                json={
                    "account": "SIM-A",
                    "instrument": symbol,
                    "side": "buy",
                    "type": "limit",
                    "quantity": "1",
                    "price": price,
                    "client_order_id": "same-id-20",
                },
            )

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(submit, range(20)))
    bot.close()
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 19 + [201], [r.text for r in responses if r.status_code >= 300]
    assert len({r.json()["id"] for r in responses}) == 1
    replays = [r for r in responses if r.status_code == 200]
    assert all(r.headers["Idempotent-Replayed"] == "true" and r.json()["replayed"] for r in replays)
    # Replays return the original as it ended (never a half-routed order).
    assert {r.json()["status"] for r in responses} == {"filled"}
    assert Order.objects.count() == 1
    assert SimOrder.objects.count() == 1  # one venue placement
    assert Fill.objects.count() == SimOrder.objects.get().fills.count()


def test_trip_during_load_no_order_arriving_after_the_commit_is_accepted(two_workers, market):
    bots = [make_bot(two_workers) for _ in range(4)]
    symbol = market.symbols[0]
    price = passive_buy_price(market, symbol)  # ioc below the bid: accepted, then dies
    stop = threading.Event()

    def load(bot) -> int:
        sent = 0
        while not stop.is_set():
            r = bot.order(symbol, price=price, time_in_force="ioc")
            assert r.status_code in (201, 422), r.text
            sent += 1
        return sent

    committed: list[datetime] = []
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(load, b) for b in bots]
        time.sleep(1.5)
        from apps.breakers.services import breaker_trip

        with transaction.atomic():
            # Registered first, so it runs first after the commit: its time is the earliest
            # moment the trip is known to be committed.
            transaction.on_commit(lambda: committed.append(timezone.now()))
            breaker_trip(scope="global", reason="load test", actor=OPERATOR)
        time.sleep(1.5)
        stop.set()
        sent = sum(f.result() for f in futures)
    for b in bots:
        b.close()
    commit = committed[0]
    accepted_after = Order.objects.exclude(status="rejected").filter(arrived_at__gt=commit)
    assert accepted_after.count() == 0, list(accepted_after.values("arrived_at", "decided_at"))
    accepted_before = Order.objects.exclude(status="rejected").filter(arrived_at__lt=commit)
    halted = Order.objects.filter(reject_code="breaker_halted").order_by("decided_at")
    assert accepted_before.exists() and halted.exists()
    assert (
        not Order.objects.filter(status="rejected").exclude(reject_code="breaker_halted").exists()
    )
    first_reject_ms = (halted.first().decided_at - commit).total_seconds() * 1000
    print(
        f"\ntrip during load: {sent} orders from 4 clients, {accepted_before.count()} accepted "
        f"before the commit, {halted.count()} halted rejects; commit -> first reject "
        f"{first_reject_ms:.2f} ms"
    )


def test_redis_down_is_503_and_nothing_reaches_the_venue(market, settings):
    from rest_framework.test import APIClient

    from apps.gateway.checks import GatewayUnavailable
    from apps.gateway.services.orders import OrderInput, order_submit
    from tests.apikeys.factories import issue

    symbol = market.symbols[0]
    price = marketable_buy_price(market, symbol)
    issued = issue(accounts=["SIM-A"])
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # nothing listens there
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    body = {"account": "SIM-A", "instrument": symbol, "side": "buy", "quantity": "1"}
    r = client.post("/api/v1/orders", {**body, "price": price}, format="json")
    assert r.status_code == 503, r.content
    assert r.json()["code"] == "dependency_unavailable"
    # Past the key's own limiter too: the pipeline's Redis reads fail closed by themselves.
    with pytest.raises(GatewayUnavailable):
        order_submit(
            api_key=issued.api_key,
            data=OrderInput(
                "SIM-A", symbol, "buy", "limit", Decimal(1), Decimal(price), "gtc", False, "x1"
            ),
            arrived_at=timezone.now(),
        )
    assert not Order.objects.exists()
    assert not SimOrder.objects.exists()
