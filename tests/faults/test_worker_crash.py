"""A Celery worker killed with SIGKILL in the middle of a venue poll and of a cancel-on-halt:
the work completes exactly once afterwards, and a task that kills its worker every time is
dropped after a few deliveries (docs/operations.md "Task delivery and worker crashes").

Real worker and beat processes, a real uvicorn server, the real broker (Redis) and database.
"In the middle" is made deterministic at the simulated venue's edge: the test holds a row lock
on the venue's own table (its market, or its order book), so the task's transaction at the
venue waits exactly there until the test has killed the worker. PostgreSQL shows the waiting
backend (pg_stat_activity), which is how the test knows the task is in flight.
"""

from __future__ import annotations

import ast
import json
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import psutil
import psycopg
import pytest
from celery.result import AsyncResult
from django.conf import settings
from django.db import connection
from django.db.models import Count
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.audit.models import AuditEvent
from apps.gateway.models import Order
from apps.venues.models import SimMarket, SimOrder, SurfaceSnapshot, Venue, VenueHealth
from config.celery import DELIVERY_KEY_PREFIX, app
from tests.apikeys.factories import issue
from tests.gateway.conftest import make_bot, make_market, passive_buy_price
from tests.support.celery_processes import CeleryProcesses, celery_processes_in
from tests.support.servers import test_database_url as database_url
from tests.support.waiting import wait_for
from tests.venues.factories import make_account

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

VISIBILITY_TIMEOUT = 6  # seconds, for the processes under test (production: 120)
WORKER_ENV = {"CELERY_VISIBILITY_TIMEOUT_SECONDS": str(VISIBILITY_TIMEOUT)}


@pytest.fixture
def celery_processes(tmp_path) -> Iterator[CeleryProcesses]:
    with celery_processes_in(tmp_path) as processes:
        yield processes


@contextmanager
def venue_rows_locked(sql: str, params: tuple) -> Iterator[None]:
    """Hold ``SELECT ... FOR UPDATE`` on rows of the simulated venue from a connection of our
    own until the block ends: whoever needs those rows waits at the venue."""
    with psycopg.connect(database_url(), autocommit=False) as conn:
        conn.execute(sql, params)
        yield
        conn.rollback()


def lock_waiters(table: str) -> int:
    """Backends of the test database waiting for a row lock on ``table``."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query ILIKE %s",
            [f"%{table}%"],
        )
        return int(cursor.fetchone()[0])


def deliveries(redis_client, task_id: str, attempt: int = 0) -> int:
    return int(redis_client.get(f"{DELIVERY_KEY_PREFIX}{task_id}:{attempt}") or 0)


def task_outcome(processes, log_name: str, task_name: str, task_id: str) -> Any:
    """What the run of ``task_id`` returned, read from the worker's success log line (beat's
    dispatched polls store no result; docs/operations.md)."""
    marker = f"Task {task_name}[{task_id}] succeeded in "
    found: list[str] = []

    def logged() -> bool:
        found[:] = [line for line in processes.log(log_name).splitlines() if marker in line]
        return bool(found)

    wait_for(logged, 60, f"{task_name}[{task_id}] to succeed")
    return ast.literal_eval(found[0].split(marker, 1)[1].split(": ", 1)[1])


def unacked_task_ids(redis_client, task_name: str) -> list[str]:
    """Ids of ``task_name`` messages a worker took from the broker and has not acked."""
    ids = []
    for raw in redis_client.hvals("unacked"):
        message = json.loads(raw)[0]
        if message["headers"]["task"] == task_name:
            ids.append(message["headers"]["id"])
    return ids


def pool_child(worker: psutil.Popen | Any) -> int:
    """The pid of a prefork worker's one pool process, once it is up."""
    children = psutil.Process(worker.pid).children()
    return children[0].pid if children else 0


def sim_venue(**fields: Any) -> Venue:
    """A simulated venue whose market exists, polled rarely enough that beat dispatches one
    chain poll (now) during the test and no other."""
    market = make_market()
    venue = market.venue
    Venue.objects.filter(pk=venue.pk).update(quote_interval_seconds=600, **fields)
    now = timezone.now()
    VenueHealth.objects.update_or_create(
        venue=venue,
        defaults={"next_chain_at": now, "next_positions_at": now + timedelta(days=1)},
    )
    return venue


def market_step(venue: Venue) -> int:
    return SimMarket.objects.get(venue=venue, underlying="BTC").step


LOCK_MARKET = "SELECT 1 FROM venues_simmarket WHERE venue_id = %s FOR UPDATE"


def test_every_task_is_acked_before_the_visibility_timeout():
    """A healthy worker holds a message at most its countdown + hard time limit; past the
    visibility timeout the broker would hand it to a second worker while the first still runs.
    """
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] == 120
    assert app.conf.task_acks_late and app.conf.task_reject_on_worker_lost
    app.loader.import_default_modules()  # what a worker imports: every app's tasks module
    ours = {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}
    assert {"venues.poll_chain", "gateway.cancel_on_halt", "venues.prune_snapshots"} <= set(ours)
    for name, task in ours.items():
        limit = task.time_limit or app.conf.task_time_limit
        countdown = 30 if name == "gateway.cancel_on_halt" else 2  # capped retry backoff
        assert limit + countdown < 120, name


def test_a_poll_killed_mid_poll_is_redelivered_and_completes_once(
    live_server_process, celery_processes, redis_client
):
    venue = sim_venue()
    step_before = market_step(venue)
    celery_processes.env.update(WORKER_ENV)
    with venue_rows_locked(LOCK_MARKET, (venue.pk,)):
        worker = celery_processes.worker("faults-poll-worker", pool="prefork")
        celery_processes.beat()
        # Beat's dispatcher enqueues the due chain poll; it takes the poll lock, fetches the
        # chain and waits at the venue for the market row.
        wait_for(lambda: lock_waiters("venues_simmarket"), 60, "the poll to wait at the venue")
        task_id = redis_client.get(f"bw:venues:lock:chain:{venue.pk}").decode()
        assert deliveries(redis_client, task_id) == 1
        killed_at = timezone.now()
        killed = pool_child(worker)
        os.kill(killed, signal.SIGKILL)
        # The parent requeues the message at once (reject on worker lost) and starts a new
        # pool process, which takes the message again and waits at the venue in its turn.
        wait_for(lambda: pool_child(worker) not in (0, killed), 30, "a new pool process")
        wait_for(lambda: deliveries(redis_client, task_id) == 2, 60, "the redelivery")

    result = task_outcome(celery_processes, "faults-poll-worker", "venues.poll_chain", task_id)
    assert result["ran"] and result["ok"], result  # it took over the dead run's poll lock
    assert market_step(venue) == step_before + 1  # the killed run's step rolled back
    per_bucket = SurfaceSnapshot.objects.values("underlying", "bucket").annotate(n=Count("id"))
    assert per_bucket and all(row["n"] == 1 for row in per_bucket)
    assert deliveries(redis_client, task_id) == 0  # the count went with the acked message
    log = celery_processes.log("faults-poll-worker")
    assert "WorkerLostError" in log and "taken over by a redelivery" in log
    assert log.count(f"venues.poll_chain[{task_id}] succeeded") == 1

    # What a bot sees: a fresh surface, computed after the crash.
    key = issue(scopes=["market:read"]).plaintext
    body = httpx.get(
        f"{live_server_process.base_url}/api/v1/surfaces/BTC",
        headers={"Authorization": f"Bearer {key}"},
    ).json()
    assert body["stale"] is False and body["venue"] == "SIM", body
    assert parse_datetime(body["as_of"]) > killed_at


def test_a_task_that_kills_its_worker_every_time_is_dropped_after_its_deliveries(
    celery_processes, redis_client
):
    venue = sim_venue()
    step_before = market_step(venue)
    # Two deliveries instead of the default three: one pool restart less on a busy machine.
    celery_processes.env.update(WORKER_ENV, CELERY_TASK_MAX_DELIVERIES="2")
    with venue_rows_locked(LOCK_MARKET, (venue.pk,)):
        worker = celery_processes.worker("faults-cap-worker", pool="prefork")
        celery_processes.beat()
        task_id = ""
        for delivery in (1, 2):
            wait_for(lambda d=delivery: lock_waiters("venues_simmarket") >= d, 60, "the poll")
            if not task_id:
                task_id = redis_client.get(f"bw:venues:lock:chain:{venue.pk}").decode()
            assert deliveries(redis_client, task_id) == delivery
            killed = pool_child(worker)
            os.kill(killed, signal.SIGKILL)
            wait_for(lambda k=killed: pool_child(worker) not in (0, k), 30, "a new pool process")
        result = task_outcome(celery_processes, "faults-cap-worker", "venues.poll_chain", task_id)
    assert result == {"dropped": "max_deliveries", "deliveries": 2}
    assert market_step(venue) == step_before  # never ran a third time
    log = celery_processes.log("faults-cap-worker")
    assert f"task dropped after 2 deliveries: venues.poll_chain[{task_id}]" in log
    alerts = [json.loads(a) for a in redis_client.lrange("bw:realtime:alerts", 0, -1)]
    assert [a["kind"] for a in alerts if a["kind"] == "task.dropped"] == ["task.dropped"]


def test_a_cancel_on_halt_killed_mid_cancel_completes_once_on_a_new_worker(
    live_server_process, celery_processes, redis_client
):
    market = make_market()
    make_account(market.venue, "SIM-B")
    bot = make_bot(live_server_process, accounts=["SIM-A", "SIM-B"])
    symbol = market.symbols[0]
    price = passive_buy_price(market, symbol)
    ours = [bot.order(symbol, price=price).json()["id"] for _ in range(3)]
    other = bot.order(symbol, price=price, account="SIM-B").json()["id"]
    assert Order.objects.filter(pk__in=[*ours, other], status="open").count() == 4
    celery_processes.env.update(WORKER_ENV)
    lock_book = "SELECT 1 FROM venues_simorder WHERE account_ref = %s FOR UPDATE"
    with venue_rows_locked(lock_book, ("sim-a",)):
        first = celery_processes.worker("faults-cancel-worker-1")
        celery_processes.beat()
        tripped = bot.http.post(
            "/breakers/trip", json={"scope": "account", "target": "SIM-A", "reason": "test"}
        )
        assert tripped.status_code == 200, tripped.text
        wait_for(
            lambda: (
                lock_waiters("venues_simorder")
                and unacked_task_ids(redis_client, "gateway.cancel_on_halt")
            ),
            60,
            "the cancel to wait at the venue",
        )
        (task_id,) = unacked_task_ids(redis_client, "gateway.cancel_on_halt")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        killed_at = time.monotonic()
    # Nothing was cancelled by the dead run (its transaction at the venue rolled back), and
    # the message is still in the broker, unacked.
    assert Order.objects.filter(pk__in=ours, status="open").count() == 3
    assert unacked_task_ids(redis_client, "gateway.cancel_on_halt") == [task_id]

    celery_processes.worker("faults-cancel-worker-2")
    wait_for(
        lambda: not Order.objects.filter(pk__in=ours).working().exists(),
        VISIBILITY_TIMEOUT + 40,
        "the orders cancelled after the redelivery",
    )
    recovered_s = time.monotonic() - killed_at
    assert recovered_s > VISIBILITY_TIMEOUT * 0.9  # redelivered by the timeout, not earlier
    print(f"\ncancel-on-halt done {recovered_s:.1f} s after SIGKILL (timeout {VISIBILITY_TIMEOUT})")
    assert AsyncResult(task_id, app=app).get(timeout=30) == {"cancelled": 3, "remaining": 0}

    # Exactly once: three cancels at the venue, one pass that cancelled them, one later sweep
    # that found nothing; the other account's order untouched.
    events = lambda: list(  # noqa: E731
        AuditEvent.objects.filter(action="orders.cancelled_on_halt").order_by("sequence")
    )
    wait_for(lambda: len(events()) >= 2, 20, "the later sweep")
    time.sleep(1.0)
    assert [e.details["cancelled"] for e in events()] == [3, 0]
    assert set(Order.objects.filter(pk__in=ours).values_list("status", flat=True)) == {"cancelled"}
    assert SimOrder.objects.filter(account_ref="sim-a", status="cancelled").count() == 3
    assert Order.objects.get(pk=other).status == "open"
    assert deliveries(redis_client, task_id) == 0  # the count went with the acked message
    log = celery_processes.log("faults-cancel-worker-2")
    assert log.count(f"gateway.cancel_on_halt[{task_id}] succeeded") == 1
    bot.close()
