"""Automatic venue breakers: market data stale beyond the venue's threshold, adapter errors.

Read through the venues app's health contract (``apps.venues.services.health``). Both
conditions trip the *venue* breaker and never reset it; when a condition clears, the breaker
records the time (the board says a reset looks safe). Run from the venues' staleness signal
(at once, on each fresh -> stale transition) and from the periodic ``breakers.maintain`` task
(which also catches transitions whose signal was lost with a crashed worker).

States (settings, read with defaults): stale market data makes the venue ``reduce_only``
(``BREAKER_STALE_DATA_STATE``): without fresh prices nothing new should be risked, but exits
must stay possible. Repeated adapter errors (``BREAKER_VENUE_ERROR_THRESHOLD`` chain polls in
a row, default 5) make it ``halted`` (``BREAKER_VENUE_ERROR_STATE``): the venue is not
answering as it should.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone

from apps.breakers.models import BreakerScope, BreakerState
from apps.breakers.services.changes import breaker_auto_trip, breaker_condition_clear

if TYPE_CHECKING:
    from apps.venues.models import Venue

__all__ = [
    "ADAPTER_ERRORS_CONDITION",
    "STALE_CONDITION",
    "venue_conditions_check",
    "venues_conditions_sweep",
]

STALE_CONDITION = "venue:market_data_stale"
ADAPTER_ERRORS_CONDITION = "venue:adapter_errors"
COMPONENT = "breakers.venues"


def _stale_state() -> str:
    return str(getattr(settings, "BREAKER_STALE_DATA_STATE", BreakerState.REDUCE_ONLY))


def _error_state() -> str:
    return str(getattr(settings, "BREAKER_VENUE_ERROR_STATE", BreakerState.HALTED))


def _error_threshold() -> int:
    return int(getattr(settings, "BREAKER_VENUE_ERROR_THRESHOLD", 5))


def venue_conditions_check(*, venue: Venue, now: datetime | None = None) -> dict[str, bool]:
    """Trip or clear the venue's automatic conditions from its health now; returns which hold.

    Stale data counts only once the venue has delivered a chain (a venue that was never
    polled is not "stale": it has no data to trade on, which the gateway refuses anyway)."""
    from apps.venues.models import VenueHealth

    now = now or timezone.now()
    health = VenueHealth.objects.filter(venue=venue).first()
    holds = {STALE_CONDITION: False, ADAPTER_ERRORS_CONDITION: False}
    if health is not None and venue.enabled:
        last = health.last_chain_ok_at
        if last is not None and health.is_stale(venue.stale_after, now):
            holds[STALE_CONDITION] = True
            age = (now - last).total_seconds()
            breaker_auto_trip(
                scope=BreakerScope.VENUE,
                target=venue.name,
                state=_stale_state(),
                condition=STALE_CONDITION,
                reason=(
                    f"market data for {venue.name} stale: last good chain {age:.0f} s ago "
                    f"(threshold {venue.stale_after_seconds:g} s)"
                ),
                component=COMPONENT,
            )
        threshold = _error_threshold()
        if health.consecutive_errors >= threshold:
            holds[ADAPTER_ERRORS_CONDITION] = True
            breaker_auto_trip(
                scope=BreakerScope.VENUE,
                target=venue.name,
                state=_error_state(),
                condition=ADAPTER_ERRORS_CONDITION,
                reason=(
                    f"{venue.name} adapter: {health.consecutive_errors} polls failed in a row "
                    f"(threshold {threshold}): {health.last_error[:160]}"
                ),
                component=COMPONENT,
            )
    for condition, held in holds.items():
        if not held:
            breaker_condition_clear(
                scope=BreakerScope.VENUE, target=venue.name, condition=condition
            )
    return holds


def venues_conditions_sweep(*, now: datetime | None = None) -> dict[str, dict[str, bool]]:
    """:func:`venue_conditions_check` for every venue; returns {venue name: conditions}."""
    from apps.venues.models import Venue

    return {
        venue.name: venue_conditions_check(venue=venue, now=now) for venue in Venue.objects.all()
    }
