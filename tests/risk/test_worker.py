"""The risk and breaker tasks on a real Celery worker, and their place in beat's schedule."""

from __future__ import annotations

import time

import pytest
from celery.contrib.testing.worker import start_worker

from apps.breakers.models import Breaker
from apps.risk.services.evaluation import risk_evaluate_soon
from apps.risk.snapshots import snapshot_read
from config.celery import app
from tests.risk.factories import make_limit, sim_world

pytestmark = pytest.mark.django_db(transaction=True)


def test_beat_runs_the_evaluation_every_two_seconds_and_the_breaker_upkeep_every_three():
    app.loader.import_default_modules()  # what beat and workers do at start (autodiscovery)
    schedule = app.conf.beat_schedule
    assert schedule["risk.evaluate"]["task"] == "risk.evaluate"
    assert schedule["risk.evaluate"]["schedule"] == 2.0
    assert schedule["breakers.maintain"]["task"] == "breakers.maintain"
    assert schedule["breakers.maintain"]["schedule"] == 3.0


def test_an_evaluation_asked_for_after_a_commit_runs_on_a_worker_and_trips(redis_client):
    world = sim_world(underlyings=("BTC",), accounts=("SIM-A",))
    world.hold("SIM-A", world.instrument("BTC", "call", 1.05), 5, 0.02)
    make_limit(name="tiny-notional", metric="gross_notional_usd", threshold=1.0)
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        risk_evaluate_soon()  # autocommit: enqueued at once
        deadline = time.monotonic() + 60
        while snapshot_read() is None and time.monotonic() < deadline:
            time.sleep(0.2)
    snapshot = snapshot_read()
    assert snapshot is not None and snapshot["accounts"]["SIM-A"]["positions"] == 1
    breaker = Breaker.objects.get(scope="account", target="SIM-A")
    assert breaker.state == "reduce_only"
    assert breaker.reason.startswith("limit tiny-notional: gross notional ")
