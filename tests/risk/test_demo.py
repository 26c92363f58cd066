"""The demo's limits: seeded once, SIM-B's trips now and then in the simulated market while
SIM-A and the book stay within theirs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.roles import Role
from apps.breakers.models import Breaker
from apps.breakers.services.changes import breaker_reset
from apps.risk.demo import DEMO_LIMITS, risk_seed_demo
from apps.risk.models import RiskLimit
from apps.risk.services.evaluation import risk_evaluate
from apps.venues.demo import venues_seed_demo
from apps.venues.models import SimMarket, Venue
from apps.venues.services.polling import venue_poll_chain
from tests.accounts.factories import make_user

pytestmark = pytest.mark.django_db

WALL_SECONDS_PER_STEP = 60  # one chain poll per simulated wall-clock minute
MAX_STEPS = 120


def test_seeding_is_idempotent_and_never_changes_an_edited_limit(redis_client):
    venues_seed_demo()
    first = risk_seed_demo()
    assert first.startswith(f"{len(DEMO_LIMITS)} demo limits created")
    edited = RiskLimit.objects.get(name="sim-a-net-delta")
    edited.threshold = 123.0
    edited.save()
    assert risk_seed_demo() == f"{len(DEMO_LIMITS)} demo limits present"
    assert RiskLimit.objects.get(name="sim-a-net-delta").threshold == 123.0
    assert RiskLimit.objects.count() == len(DEMO_LIMITS)


def _step_until_sim_b_trips(venue) -> int | None:
    """Step the simulated market a wall-clock minute at a time (time_scale 20) until SIM-B's
    limit trips; every other limit must stay within meanwhile. Returns the step or None."""
    for step in range(MAX_STEPS):
        SimMarket.objects.filter(venue=venue).update(
            stepped_at=timezone.now() - timedelta(seconds=WALL_SECONDS_PER_STEP)
        )
        assert venue_poll_chain(venue_id=venue.pk).ok
        result = risk_evaluate()
        for limit in result.snapshot["limits"]:
            if limit["name"] != "sim-b-net-delta":
                assert limit["status"] in ("ok", "warning"), (step, limit)
        if any(c.breaker.target == "SIM-B" for c in result.trips):
            return step
    return None


def test_sim_b_trips_now_and_then_while_sim_a_and_the_book_stay_within(redis_client):
    venues_seed_demo()
    risk_seed_demo()
    venue = Venue.objects.get(name="SIM")
    risk = make_user("demo-risk-test", roles=(Role.RISK_MANAGER,))
    trips_at = []
    for _ in range(2):  # trips, a person resets, and it trips again later
        step = _step_until_sim_b_trips(venue)
        assert step is not None, f"SIM-B's limit never tripped (after {trips_at})"
        trips_at.append(step)
        breaker = Breaker.objects.get(scope="account", target="SIM-B")
        assert breaker.state == "reduce_only"
        assert breaker.reason.startswith("limit sim-b-net-delta: net delta ")
        breaker_reset(breaker=breaker, user=risk, reason="demo: reviewed")
    assert not Breaker.objects.filter(target="SIM-A").exists()


def test_the_seed_demo_command_seeds_the_limits_from_the_live_book(settings, redis_client):
    """`make run` seeds through the command: the limits must come with it, set from the book."""
    import io

    from django.core.management import call_command

    settings.DEMO = True
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    assert f"{len(DEMO_LIMITS)} demo limits created" in out.getvalue()
    sim_b = RiskLimit.objects.get(name="sim-b-net-delta")
    # Set from the seeded book (just above today's delta), not the no-market-data fallback.
    assert sim_b.threshold != DEMO_LIMITS["sim-b-net-delta"][-1]
    call_command("seed_demo", stdout=out)
    assert RiskLimit.objects.count() == len(DEMO_LIMITS)
