"""Per-venue health: successes, errors with exponential backoff, and market-data staleness.

For the breakers (and anyone else) this module is the contract:

* :func:`venue_market_data_stale` -> bool, :func:`venue_last_good_chain_at` and
  :func:`venue_adapter_error_count` read the state;
* :data:`market_data_stale_changed` is a signal sent once per transition (fresh -> stale and
  back), after the transaction that recorded it commits, with ``venue``, ``stale`` and
  ``last_good_at``. Connect a receiver to trip a breaker automatically. Transitions are detected
  by a conditional UPDATE, so exactly one process sends each, however many workers run.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q
from django.dispatch import Signal
from django.utils import timezone

from apps.realtime.alerts import alert_raise
from apps.realtime.publish import publish
from apps.venues.models import Venue, VenueHealth

__all__ = [
    "MAX_BACKOFF_SECONDS",
    "market_data_stale_changed",
    "poll_failure_record",
    "poll_success_record",
    "venue_adapter_error_count",
    "venue_health",
    "venue_last_good_chain_at",
    "venue_market_data_stale",
    "venues_staleness_sweep",
]

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 60.0
ERROR_TEXT_MAX = 500

# Sent with sender=Venue, venue=<Venue>, stale=<bool>, last_good_at=<datetime | None>.
market_data_stale_changed = Signal()


def venue_health(venue: Venue) -> VenueHealth:
    health, _ = VenueHealth.objects.get_or_create(venue=venue)
    return health


def venue_last_good_chain_at(venue: Venue) -> datetime | None:
    """When the venue last delivered a chain that was validated and computed."""
    return (
        VenueHealth.objects.filter(venue=venue).values_list("last_chain_ok_at", flat=True).first()
    )


def venue_market_data_stale(venue: Venue, *, now: datetime | None = None) -> bool:
    """True when the last good chain is older than ``venue.stale_after_seconds`` (or there was
    none yet). Computed from the timestamp, so it is right even between sweeps."""
    last = venue_last_good_chain_at(venue)
    return last is None or (now or timezone.now()) - last > venue.stale_after


def venue_adapter_error_count(venue: Venue) -> int:
    """Chain polls failed in a row (0 once one succeeds)."""
    return (
        VenueHealth.objects.filter(venue=venue).values_list("consecutive_errors", flat=True).first()
        or 0
    )


def backoff_seconds(interval: float, consecutive_errors: int) -> float:
    """Exponential backoff: interval * 2^errors, at most MAX_BACKOFF_SECONDS."""
    return min(interval * (2.0 ** min(consecutive_errors, 16)), MAX_BACKOFF_SECONDS)


def _alert(venue: Venue, *, stale: bool, last_good_at: datetime | None) -> None:
    """The alert feed's item for a staleness transition (``venue.stale`` / ``venue.fresh``)."""
    since = f"{last_good_at:%H:%M:%S} UTC" if last_good_at else "never"
    if stale:
        alert_raise(
            kind="venue.stale",
            severity="warning",
            title=f"{venue.name} market data stale",
            detail=(
                f"no good chain for more than {venue.stale_after_seconds:g} s (last good: {since})"
            ),
        )
    else:
        alert_raise(
            kind="venue.fresh",
            severity="info",
            title=f"{venue.name} market data fresh again",
            detail=f"good chain at {since}",
        )


def _announce(
    venue: Venue, *, stale: bool, last_good_at: datetime | None, first_chain: bool = False
) -> None:
    def send() -> None:
        market_data_stale_changed.send(
            sender=Venue, venue=venue, stale=stale, last_good_at=last_good_at
        )

    transaction.on_commit(send)
    if not first_chain:  # a venue's very first chain is no news for the alert feed
        _alert(venue, stale=stale, last_good_at=last_good_at)
    for underlying in venue.underlyings:
        publish(
            f"surface:{underlying}",
            {
                "type": "surface.stale" if stale else "surface.fresh",
                "venue": venue.name,
                "underlying": underlying,
                "stale": stale,
                "last_good_at": last_good_at.isoformat() if last_good_at else None,
            },
        )


def poll_success_record(*, venue: Venue, job: str, at: datetime) -> None:
    """Record a successful poll (``job`` is ``chain`` or ``positions``); a chain success makes
    stale market data fresh again (and announces it)."""
    first_chain = venue_health(venue).last_chain_ok_at is None
    with transaction.atomic():
        if job == "chain":
            VenueHealth.objects.filter(venue=venue).update(
                last_chain_ok_at=at, last_attempt_at=at, consecutive_errors=0
            )
            became_fresh = VenueHealth.objects.filter(venue=venue, market_data_stale=True).update(
                market_data_stale=False, stale_since=None
            )
            if became_fresh:
                _announce(venue, stale=False, last_good_at=at, first_chain=first_chain)
        else:
            VenueHealth.objects.filter(venue=venue).update(
                last_positions_ok_at=at, positions_consecutive_errors=0
            )


def poll_failure_record(*, venue: Venue, job: str, error: str, at: datetime) -> datetime:
    """Record a failed poll and push the next attempt back exponentially; returns that time.

    ``error`` must already be free of secrets (see services.polling.error_text)."""
    health = venue_health(venue)
    with transaction.atomic():
        health = VenueHealth.objects.select_for_update().get(pk=health.pk)
        health.error_count = F("error_count") + 1
        health.last_error = error[:ERROR_TEXT_MAX]
        health.last_error_job = job
        health.last_error_at = at
        if job == "chain":
            health.consecutive_errors += 1
            health.last_attempt_at = at
            delay = backoff_seconds(venue.quote_interval_seconds, health.consecutive_errors)
            health.next_chain_at = at + timedelta(seconds=delay)
            next_at = health.next_chain_at
        else:
            health.positions_consecutive_errors += 1
            delay = backoff_seconds(
                venue.position_interval_seconds, health.positions_consecutive_errors
            )
            health.next_positions_at = at + timedelta(seconds=delay)
            next_at = health.next_positions_at
        health.save()
    logger.warning("venue %s %s poll failed (%s); next try in %.1f s", venue, job, error, delay)
    return next_at


def venues_staleness_sweep(*, now: datetime | None = None) -> list[tuple[Venue, bool]]:
    """Mark venues whose last good chain is older than their ``stale_after`` as stale.

    Called by the dispatcher every second; returns the transitions it made (fresh -> stale).
    Becoming fresh is recorded by the successful poll itself."""
    now = now or timezone.now()
    changes: list[tuple[Venue, bool]] = []
    for venue in Venue.objects.filter(enabled=True).select_related("health"):
        health = getattr(venue, "health", None)
        if health is None or health.market_data_stale:
            continue
        if not health.is_stale(venue.stale_after, now):
            continue
        with transaction.atomic():
            # Conditional on the timestamp too: a poll that succeeded since we read it wins.
            flipped = (
                VenueHealth.objects.filter(venue=venue, market_data_stale=False)
                .filter(
                    Q(last_chain_ok_at__isnull=True)
                    | Q(last_chain_ok_at__lt=now - venue.stale_after)
                )
                .update(market_data_stale=True, stale_since=now)
            )
            if flipped:
                _announce(venue, stale=True, last_good_at=health.last_chain_ok_at)
                changes.append((venue, True))
    return changes
