"""Celery tasks for market data. Thin: take ids, re-read, call a service.

Beat runs ``venues.poll_due`` every second (registered here, so settings stay untouched). The
dispatcher claims each venue whose ``next_chain_at`` / ``next_positions_at`` has passed with a
conditional UPDATE (exactly one dispatcher wins, even with two beats by mistake), moves it one
interval ahead and enqueues the poll. Polls expire from the queue after a few intervals, so a
backlog behind a busy worker never turns into a burst of outdated polls.

Redelivery (docs/operations.md "Task delivery and worker crashes"): a poll whose worker died
is delivered again; it takes over the poll lock its dead first run holds under the same task
id, and a second run stores nothing twice (one surface snapshot per bucket, positions upserted).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery.signals import worker_process_init
from django.conf import settings
from django.utils import timezone

from apps.venues.models import Venue, VenueHealth
from apps.venues.services.health import venues_staleness_sweep
from apps.venues.services.polling import (
    POLL_LOCK_SECONDS,
    describe_timings,
    venue_poll_chain,
    venue_poll_positions,
)
from apps.venues.services.snapshots import surface_snapshots_prune
from config.celery import app

DISPATCH_EVERY_SECONDS = 1.0
PRUNE_EVERY_SECONDS = 3600.0
DEFAULT_SNAPSHOT_RETENTION_DAYS = 30
# Nobody waits for a dispatched poll: its outcome is in VenueHealth and the worker log (a stored
# result per poll piled up in Redis for CELERY_RESULT_EXPIRES). A .delay() caller still gets one.
DISPATCHED = {"ignore_result": True}


@app.task(
    name="venues.poll_chain",
    bind=True,
    time_limit=POLL_LOCK_SECONDS,
    soft_time_limit=POLL_LOCK_SECONDS - 5,
)
def poll_venue_chain(self: Any, venue_id: int) -> dict[str, Any]:
    outcome = venue_poll_chain(venue_id=venue_id, owner=self.request.id)
    return {
        "ran": outcome.ran,
        "ok": outcome.ok,
        "skipped": outcome.skipped,
        "error": outcome.error,
        "timings_ms": describe_timings(outcome.results),
    }


@app.task(
    name="venues.poll_positions",
    bind=True,
    time_limit=POLL_LOCK_SECONDS,
    soft_time_limit=POLL_LOCK_SECONDS - 5,
)
def poll_venue_positions(self: Any, venue_id: int) -> dict[str, Any]:
    outcome = venue_poll_positions(venue_id=venue_id, owner=self.request.id)
    return {
        "ran": outcome.ran,
        "ok": outcome.ok,
        "skipped": outcome.skipped,
        "error": outcome.error,
    }


def _claim(health_id: int, field: str, now: Any, interval: float) -> bool:
    """Move the venue's next poll time one interval ahead iff it is due; True if we did."""
    return bool(
        VenueHealth.objects.filter(pk=health_id, **{f"{field}__lte": now}).update(
            **{field: now + timedelta(seconds=interval)}
        )
    )


def poll_due_venues_dispatch() -> dict[str, list[int]]:
    """Enqueue the polls that are due and sweep staleness (the body of ``venues.poll_due``)."""
    now = timezone.now()
    enqueued: dict[str, list[int]] = {"chain": [], "positions": []}
    for venue in Venue.objects.filter(enabled=True):
        health, _ = VenueHealth.objects.get_or_create(
            venue=venue, defaults={"next_chain_at": now, "next_positions_at": now}
        )
        if _claim(health.pk, "next_chain_at", now, venue.quote_interval_seconds):
            poll_venue_chain.apply_async(
                (venue.pk,), expires=max(3 * venue.quote_interval_seconds, 5.0), **DISPATCHED
            )
            enqueued["chain"].append(venue.pk)
        if _claim(health.pk, "next_positions_at", now, venue.position_interval_seconds):
            poll_venue_positions.apply_async(
                (venue.pk,), expires=max(3 * venue.position_interval_seconds, 5.0), **DISPATCHED
            )
            enqueued["positions"].append(venue.pk)
    venues_staleness_sweep(now=now)
    return enqueued


@app.task(name="venues.poll_due", time_limit=10, soft_time_limit=8, ignore_result=True)
def poll_due_venues() -> dict[str, list[int]]:
    return poll_due_venues_dispatch()


# Below the broker's visibility timeout (settings), like every task: an hourly prune deletes
# about an hour of rows.
@app.task(name="venues.prune_snapshots", time_limit=90, soft_time_limit=80)
def prune_surface_snapshots() -> int:
    days = getattr(settings, "VENUES_SNAPSHOT_RETENTION_DAYS", DEFAULT_SNAPSHOT_RETENTION_DAYS)
    return surface_snapshots_prune(older_than=timedelta(days=days))


@worker_process_init.connect
def _warm_up_pricing(**_: Any) -> None:
    """Load the pricing kernels (numba) when a worker process starts, not in its first poll."""
    from apps.venues.services.analytics import warm_up

    warm_up()


# Registered from code (not CELERY_BEAT_SCHEDULE) so the app owns its schedule; add_periodic_task
# defers itself until the app is configured, and beat imports this module through
# autodiscovery before it reads the schedule.
app.add_periodic_task(
    DISPATCH_EVERY_SECONDS,
    poll_due_venues.s(),
    name="venues.poll_due",
    expires=DISPATCH_EVERY_SECONDS * 2,
)
app.add_periodic_task(PRUNE_EVERY_SECONDS, prune_surface_snapshots.s(), name="venues.prune")
