"""The whole loop on a real Celery worker: dispatcher -> polls -> surface served by the API."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from celery.contrib.testing.worker import start_worker
from rest_framework.test import APIClient

from apps.venues.adapters.base import AccountRef, OrderRequest, Side
from apps.venues.adapters.simulated import SimulatedAdapter
from apps.venues.models import VenueHealth, VenuePosition
from apps.venues.services import store
from apps.venues.tasks import poll_due_venues
from config.celery import app
from tests.apikeys.factories import issue
from tests.venues.factories import make_account, make_sim_venue

pytestmark = pytest.mark.django_db(transaction=True)


def beat_until(predicate, timeout: float = 90.0) -> None:
    """Send the dispatcher every second, as beat does, until ``predicate()`` holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        poll_due_venues.delay()
        time.sleep(1.0)


def test_beat_runs_the_dispatcher_every_second():
    entry = app.conf.beat_schedule["venues.poll_due"]
    assert entry["task"] == "venues.poll_due" and entry["schedule"] == 1.0


def test_a_poll_on_a_real_worker_produces_a_surface_served_by_the_api(redis_client):
    venue = make_sim_venue(underlyings=("BTC", "ETH"))
    account = make_account(venue, "SIM-A")
    sim = SimulatedAdapter(venue)
    sim.fetch_chain("BTC")
    symbol = str(sim.fetch_chain("BTC").symbol[30])
    filled = sim.place_order(
        AccountRef(account.external_id),
        OrderRequest(symbol, Side.BUY, Decimal("1"), order_type="market"),
    )
    assert filled.filled_quantity > 0
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        # The worker runs the dispatcher, which enqueues the due polls, which the worker runs.
        beat_until(lambda: store.surface_read("SIM", "ETH") and store.surface_read("SIM", "BTC"))
        beat_until(lambda: VenuePosition.objects.filter(account=account).exists())
    health = VenueHealth.objects.get(venue=venue)
    assert (
        health.last_chain_ok_at and health.last_positions_ok_at and health.consecutive_errors == 0
    )

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue(scopes=['market:read']).plaintext}")
    body = client.get("/api/v1/surfaces/BTC").json()
    assert body["venue"] == "SIM" and body["stale"] is False and len(body["slices"]) >= 4
    position = VenuePosition.objects.get(account=account)
    assert position.instrument.symbol == symbol and position.size == filled.filled_quantity
