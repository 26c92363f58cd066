"""Automatic venue breakers: stale market data and adapter errors trip; clearing never resets."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.actions import AuditAction
from apps.audit.models import AuditEvent
from apps.breakers.models import Breaker
from apps.breakers.services.venues import (
    ADAPTER_ERRORS_CONDITION,
    STALE_CONDITION,
    venue_conditions_check,
)
from apps.breakers.tasks import breakers_maintain
from apps.venues.models import VenueHealth
from apps.venues.services.health import poll_success_record, venues_staleness_sweep
from tests.venues.factories import make_sim_venue

pytestmark = pytest.mark.django_db


@pytest.fixture
def venue():
    return make_sim_venue("SIM", stale_after_seconds=10)


def last_chain(venue, seconds_ago: float) -> None:
    VenueHealth.objects.update_or_create(
        venue=venue,
        defaults={
            "last_chain_ok_at": timezone.now() - timedelta(seconds=seconds_ago),
            "market_data_stale": False,
        },
    )


def venue_breaker():
    return Breaker.objects.filter(scope="venue", target="SIM").first()


def test_stale_market_data_makes_the_venue_reduce_only_via_the_venues_signal(
    venue, django_capture_on_commit_callbacks
):
    last_chain(venue, 60)
    with django_capture_on_commit_callbacks(execute=True):
        venues_staleness_sweep()  # the venues app notices and signals after its commit
    breaker = venue_breaker()
    assert breaker.state == "reduce_only" and breaker.source == "automatic"
    assert breaker.trip_condition == STALE_CONDITION
    assert breaker.reason.startswith("market data for SIM stale: last good chain 6")
    assert breaker.reason.endswith("s ago (threshold 10 s)")
    event = AuditEvent.objects.get(action=AuditAction.BREAKER_TRIPPED)
    assert event.actor_label == "breakers.venues"


def test_the_periodic_sweep_trips_once_and_a_fresh_chain_only_marks_it_cleared(
    venue, django_capture_on_commit_callbacks
):
    last_chain(venue, 60)
    for _ in range(3):
        breakers_maintain()
    assert venue_breaker().state == "reduce_only"
    assert AuditEvent.objects.filter(action=AuditAction.BREAKER_TRIPPED).count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        poll_success_record(venue=venue, job="chain", at=timezone.now())
    breakers_maintain()
    breaker = venue_breaker()
    assert breaker.state == "reduce_only"  # never resets itself
    assert breaker.conditions == {} and breaker.condition_cleared_at is not None


def test_a_venue_never_polled_is_not_tripped_as_stale(venue):
    VenueHealth.objects.create(venue=venue)
    assert venue_conditions_check(venue=venue) == {
        STALE_CONDITION: False,
        ADAPTER_ERRORS_CONDITION: False,
    }
    assert venue_breaker() is None


def test_repeated_adapter_errors_halt_the_venue(venue, settings):
    settings.BREAKER_VENUE_ERROR_THRESHOLD = 3
    last_chain(venue, 1)
    VenueHealth.objects.filter(venue=venue).update(
        consecutive_errors=2, last_error="VenueUnavailable: 502"
    )
    venue_conditions_check(venue=venue)
    assert venue_breaker() is None
    VenueHealth.objects.filter(venue=venue).update(consecutive_errors=3)
    venue_conditions_check(venue=venue)
    breaker = venue_breaker()
    assert breaker.state == "halted" and breaker.trip_condition == ADAPTER_ERRORS_CONDITION
    assert "3 polls failed in a row (threshold 3): VenueUnavailable: 502" in breaker.reason


def test_a_disabled_venue_is_not_judged(venue):
    last_chain(venue, 600)
    venue.enabled = False
    venue.save()
    venue_conditions_check(venue=venue)
    assert venue_breaker() is None
