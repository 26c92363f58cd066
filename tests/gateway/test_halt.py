"""Cancel-on-halt and the dead man's switch, with a real Celery worker and a real server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings

from apps.audit.models import AuditEvent
from apps.breakers.models import Breaker
from apps.gateway.models import Order
from apps.gateway.tasks import (
    HALT_RESEND_AT_MOST_EVERY_SECONDS,
    dead_mans_switch_sweep_task,
    halt_sweep_task,
)
from apps.venues.models import SimOrder
from config.celery import app
from tests.apikeys.factories import issue
from tests.breakers.factories import trip
from tests.gateway.conftest import Bot, make_bot, passive_buy_price
from tests.venues.factories import make_account

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker(market) -> Iterator[None]:
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        yield


def rest(bot: Bot, market, n: int, account: str = "SIM-A") -> list[str]:
    ids = []
    for _ in range(n):
        symbol = market.symbols[0]
        r = bot.order(symbol, account=account, price=passive_buy_price(market, symbol))
        assert r.status_code == 201 and r.json()["status"] == "open", r.text
        ids.append(r.json()["id"])
    return ids


def wait_until(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def test_cancel_on_halt_leaves_no_working_order_in_the_scope(live_server_process, market, worker):
    make_account(market.venue, "SIM-B")
    bot = make_bot(live_server_process, accounts=["SIM-A", "SIM-B"])
    in_scope = rest(bot, market, 3)
    outside = rest(bot, market, 1, account="SIM-B")
    bot.close()
    trip("account", "SIM-A")  # the on_halted hook enqueues gateway.cancel_on_halt
    assert wait_until(lambda: not Order.objects.filter(pk__in=in_scope).working().exists())
    assert set(Order.objects.filter(pk__in=in_scope).values_list("status", flat=True)) == {
        "cancelled"
    }
    assert not SimOrder.objects.filter(account_ref="sim-a", status="open").exists()
    assert Order.objects.get(pk=outside[0]).status == "open"
    assert SimOrder.objects.filter(account_ref="sim-b", status="open").count() == 1
    event = AuditEvent.objects.filter(action="orders.cancelled_on_halt").first()
    assert event is not None and event.details["cancelled"] == 3


def test_a_lost_cancel_on_halt_is_sent_again_by_the_sweep(live_server_process, market):
    bot = make_bot(live_server_process)
    ids = rest(bot, market, 2)
    bot.close()
    breaker = trip("account", "SIM-A").breaker  # cancel-on-halt is queued, no worker runs it...
    app.control.purge()  # ...and it is lost, as when Redis dies with the message queued
    assert Order.objects.filter(pk__in=ids).working().count() == 2
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        assert halt_sweep_task.delay().get(timeout=20) == []  # a redelivery may still come
    grace = settings.CELERY_VISIBILITY_TIMEOUT_SECONDS + HALT_RESEND_AT_MOST_EVERY_SECONDS
    Breaker.objects.filter(pk=breaker.pk).update(
        changed_at=breaker.changed_at - timedelta(seconds=grace + 1)
    )
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        assert halt_sweep_task.delay().get(timeout=20) == [breaker.pk]
        assert wait_until(lambda: not Order.objects.filter(pk__in=ids).working().exists())
        assert halt_sweep_task.delay().get(timeout=20) == []  # nothing left to cancel
    assert not SimOrder.objects.filter(account_ref="sim-a", status="open").exists()


def test_dead_mans_switch_fires_after_the_interval_and_not_before(
    live_server_process, market, worker
):
    bot = make_bot(live_server_process)
    other = make_bot(live_server_process)  # same account, no switch: unaffected
    armed = bot.http.post("/heartbeat", json={"interval_seconds": 3})
    assert armed.status_code == 200 and armed.json()["armed"], armed.text
    start = time.monotonic()
    mine = rest(bot, market, 2)
    theirs = rest(other, market, 1)

    def sweep() -> list[str]:
        return dead_mans_switch_sweep_task.delay().get(timeout=20)

    time.sleep(max(0.0, 1.5 - (time.monotonic() - start)))
    assert sweep() == []
    assert bot.http.post("/heartbeat", json={}).json()["armed"]  # re-arms: 3 s from now
    beat = time.monotonic()
    time.sleep(2.0)
    assert sweep() == [], "fired before the interval since the last heartbeat"
    assert not Breaker.objects.filter(scope="api_key", target=bot.key.key_id).exists()
    time.sleep(max(0.0, 3.3 - (time.monotonic() - beat)))
    assert sweep() == [bot.key.key_id]
    assert sweep() == []  # one silence fires once
    assert Breaker.objects.get(scope="api_key", target=bot.key.key_id).state == "halted"
    assert wait_until(lambda: not Order.objects.filter(pk__in=mine).working().exists())
    assert Order.objects.get(pk=theirs[0]).status == "open"
    symbol = market.symbols[0]
    refused = bot.order(symbol, price=passive_buy_price(market, symbol))
    assert refused.status_code == 422 and refused.json()["code"] == "breaker_halted"
    bot.close()
    other.close()


def test_heartbeat_without_a_switch_and_disarming(live_server_process, market):
    issued = issue(accounts=["SIM-A"])
    bot = Bot(live_server_process.base_url, issued.plaintext, issued.api_key)
    assert bot.http.post("/heartbeat", json={}).json() == {
        "armed": False,
        "interval_seconds": None,
        "deadline": None,
    }
    assert bot.http.post("/heartbeat", json={"interval_seconds": 5}).json()["armed"]
    assert not bot.http.post("/heartbeat", json={"interval_seconds": 0}).json()["armed"]
    bot.close()
