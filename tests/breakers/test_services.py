"""Trips, resets, four-eyes, automatic conditions and their audit trail (services level)."""

from __future__ import annotations

import pytest

from apps.accounts.roles import Role
from apps.audit.actions import AuditAction
from apps.audit.models import AuditEvent
from apps.breakers import hooks
from apps.breakers.enforcement import breaker_effective_state
from apps.breakers.mirror import MIRROR_KEY, MirrorValue
from apps.breakers.models import Breaker, BreakerResetRequest, BreakerTransition
from apps.breakers.services import (
    BreakerNotPermitted,
    BreakerTargetUnknown,
    FourEyesRequired,
    InvalidBreakerChange,
    breaker_auto_trip,
    breaker_condition_clear,
    breaker_reset,
    breaker_reset_approve,
    breaker_reset_request,
)
from tests.accounts.factories import make_user
from tests.breakers.factories import state_of, trip
from tests.venues.factories import make_account, make_sim_venue

pytestmark = pytest.mark.django_db


@pytest.fixture
def sim():
    venue = make_sim_venue("SIM")
    make_account(venue, "SIM-A")
    return venue


def events(action):
    return list(AuditEvent.objects.filter(action=action).order_by("sequence"))


def mirrored(redis_client, field):
    raw = redis_client.hget(MIRROR_KEY, field)
    return MirrorValue.decode(raw) if raw else None


def test_a_manual_trip_is_stored_mirrored_audited_and_kept_in_history(sim, redis_client):
    change = trip("account", "SIM-A", state="halted", reason="fat finger")
    breaker = change.breaker
    assert change.changed and change.previous_state == "active"
    assert (breaker.state, breaker.reason, breaker.source) == ("halted", "fat finger", "manual")
    assert breaker.changed_by_label == "tests" and breaker.tripped_at is not None
    # Written to Redis before the commit (this test's transaction never commits).
    assert mirrored(redis_client, "account:SIM-A").state == "halted"
    (event,) = events(AuditAction.BREAKER_TRIPPED)
    assert event.details["from"] == "active" and event.details["to"] == "halted"
    assert event.details["reason"] == "fat finger" and event.target_id == str(breaker.pk)
    (transition,) = BreakerTransition.objects.filter(breaker=breaker)
    assert (transition.from_state, transition.to_state, transition.version) == (
        "active",
        "halted",
        breaker.version,
    )


def test_tripping_again_or_to_a_milder_state_changes_nothing(sim):
    trip("venue", "SIM", state="halted")
    again = trip("venue", "SIM", state="halted", reason="again")
    milder = trip("venue", "SIM", state="reduce_only", reason="milder")
    assert not again.changed and not milder.changed
    assert state_of("venue", "SIM") == "halted"
    assert len(events(AuditAction.BREAKER_TRIPPED)) == 1


def test_reduce_only_can_be_tightened_to_halted(sim):
    trip("venue", "SIM", state="reduce_only")
    assert trip("venue", "SIM", state="halted").changed
    assert len(events(AuditAction.BREAKER_TRIPPED)) == 2


@pytest.mark.parametrize(
    ("scope", "target"),
    [("venue", "NOPE"), ("account", "SIM-a"), ("underlying", "DOGE"), ("api_key", "x"),
     ("global", "SIM"), ("account", ""), ("planet", "x")],
)  # fmt: skip
def test_a_trip_must_name_something_that_exists(sim, scope, target):
    with pytest.raises(BreakerTargetUnknown):
        trip(scope, target)
    assert not Breaker.objects.exists()


def test_a_trip_needs_a_reason(sim):
    with pytest.raises(InvalidBreakerChange):
        trip("global", "", reason="   ")


def test_a_risk_manager_resets_with_a_reason_and_it_is_audited(sim, redis_client):
    rm = make_user("rita", roles=(Role.RISK_MANAGER,))
    breaker = trip("account", "SIM-A").breaker
    change = breaker_reset(breaker=breaker, user=rm, reason="checked with the desk")
    assert change.changed and change.breaker.state == "active"
    (event,) = events(AuditAction.BREAKER_RESET)
    assert event.actor_label == "rita" and event.details["reason"] == "checked with the desk"
    assert [t.to_state for t in BreakerTransition.objects.order_by("at", "pk")] == [
        "halted",
        "active",
    ]


def test_halted_can_be_relaxed_to_reduce_only_so_traders_can_exit(sim):
    rm = make_user("rita", roles=(Role.RISK_MANAGER,))
    breaker = trip("account", "SIM-A").breaker
    change = breaker_reset(breaker=breaker, user=rm, reason="let them exit", to_state="reduce_only")
    assert change.breaker.state == "reduce_only"


def test_only_risk_managers_reset_and_only_tripped_breakers(sim):
    trader = make_user("tom", roles=(Role.TRADER,))
    admin = make_user("ada", roles=(Role.ADMIN,))
    rm = make_user("rita", roles=(Role.RISK_MANAGER,))
    breaker = trip("account", "SIM-A").breaker
    for user in (trader, admin):
        with pytest.raises(BreakerNotPermitted):
            breaker_reset(breaker=breaker, user=user, reason="please")
    breaker_reset(breaker=breaker, user=rm, reason="ok")
    with pytest.raises(InvalidBreakerChange):
        breaker_reset(breaker=Breaker.objects.get(pk=breaker.pk), user=rm, reason="again")
    with pytest.raises(InvalidBreakerChange):
        breaker_reset(breaker=Breaker.objects.get(pk=breaker.pk), user=rm, reason="")
    assert state_of("account", "SIM-A") == "active"


def test_the_global_breaker_needs_a_second_risk_manager(sim):
    alice = make_user("alice", roles=(Role.RISK_MANAGER,))
    bob = make_user("bob", roles=(Role.RISK_MANAGER,))
    breaker = trip("global", "").breaker
    with pytest.raises(FourEyesRequired):
        breaker_reset(breaker=breaker, user=alice, reason="all clear")
    reset_request = breaker_reset_request(breaker=breaker, user=alice, reason="all clear")
    assert state_of() == "halted"
    with pytest.raises(BreakerNotPermitted):
        breaker_reset_approve(reset_request=reset_request, user=alice)
    assert state_of() == "halted"
    change = breaker_reset_approve(reset_request=reset_request, user=bob, reason="agreed")
    assert change.breaker.state == "active"
    reset_request.refresh_from_db()
    assert reset_request.status == "approved" and reset_request.decided_by == bob
    transition = BreakerTransition.objects.filter(to_state="active").get()
    assert (transition.actor_label, transition.requested_by_label) == ("bob", "alice")
    assert [e.actor_label for e in events(AuditAction.BREAKER_RESET_REQUESTED)] == ["alice"]
    assert [e.actor_label for e in events(AuditAction.BREAKER_RESET_APPROVED)] == ["bob"]
    assert events(AuditAction.BREAKER_RESET)[0].details["requested_by"] == "alice"


def test_one_pending_request_and_a_new_trip_supersedes_it(sim):
    alice = make_user("alice", roles=(Role.RISK_MANAGER,))
    bob = make_user("bob", roles=(Role.RISK_MANAGER,))
    breaker = trip("global", "", state="reduce_only").breaker
    pending = breaker_reset_request(breaker=breaker, user=alice, reason="all clear")
    with pytest.raises(InvalidBreakerChange):
        breaker_reset_request(breaker=breaker, user=bob, reason="me too")
    trip("global", "", state="halted", reason="worse now")
    pending.refresh_from_db()
    assert pending.status == BreakerResetRequest.Status.SUPERSEDED
    with pytest.raises(InvalidBreakerChange):
        breaker_reset_approve(reset_request=pending, user=bob)
    assert state_of() == "halted"


def test_four_eyes_can_be_switched_off(sim, settings):
    settings.BREAKER_GLOBAL_FOUR_EYES = False
    alice = make_user("alice", roles=(Role.RISK_MANAGER,))
    breaker = trip("global", "").breaker
    assert breaker_reset(breaker=breaker, user=alice, reason="alone").breaker.state == "active"


def auto(condition="limit:1", state="halted", reason="limit x: vega 1.2M > 1.0M"):
    return breaker_auto_trip(
        scope="account",
        target="SIM-A",
        state=state,
        condition=condition,
        reason=reason,
        component="risk.limits",
    )


def test_an_automatic_trip_is_idempotent_while_the_condition_holds(sim):
    first = auto()
    assert first.changed and first.breaker.source == "automatic"
    assert first.breaker.trip_condition == "limit:1"
    for _ in range(3):
        assert not auto().changed
    assert len(events(AuditAction.BREAKER_TRIPPED)) == 1
    assert BreakerTransition.objects.count() == 1
    assert events(AuditAction.BREAKER_TRIPPED)[0].actor_label == "risk.limits"


def test_an_automatic_trip_never_resets_itself(sim):
    auto()
    assert breaker_condition_clear(scope="account", target="SIM-A", condition="limit:1")
    breaker = Breaker.objects.get(scope="account", target="SIM-A")
    assert breaker.state == "halted"  # still tripped
    assert breaker.conditions == {} and breaker.condition_cleared_at is not None
    assert not breaker_condition_clear(scope="account", target="SIM-A", condition="limit:1")
    # The condition returns: the clearance is withdrawn, still without a second trip.
    auto()
    breaker.refresh_from_db()
    assert breaker.condition_cleared_at is None and "limit:1" in breaker.conditions
    assert len(events(AuditAction.BREAKER_TRIPPED)) == 1


def test_after_a_human_reset_a_condition_that_still_holds_trips_again(sim):
    rm = make_user("rita", roles=(Role.RISK_MANAGER,))
    breaker = auto().breaker
    breaker_reset(breaker=breaker, user=rm, reason="trader is flattening")
    assert auto().changed  # a new episode, not a duplicate
    assert len(events(AuditAction.BREAKER_TRIPPED)) == 2


def test_on_halted_hooks_run_after_commit_with_the_breaker_id(
    sim, django_capture_on_commit_callbacks
):
    seen: list[int] = []
    hooks.on_halted(seen.append)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            breaker = trip("account", "SIM-A", state="reduce_only").breaker
        assert seen == []  # reduce_only cancels nothing
        with django_capture_on_commit_callbacks(execute=False) as pending:
            trip("account", "SIM-A", state="halted")
        assert seen == []  # not before the commit
        for callback in pending:
            callback()
        assert seen == [breaker.pk]
    finally:
        hooks.unregister(seen.append)


def test_a_failing_hook_does_not_undo_the_trip(sim, django_capture_on_commit_callbacks):
    def broken(breaker_id: int) -> None:
        raise RuntimeError("gateway bug")

    hooks.on_halted(broken)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            trip("account", "SIM-A")
    finally:
        hooks.unregister(broken)
    assert state_of("account", "SIM-A") == "halted"


def test_a_change_that_fails_before_commit_leaves_the_mirror_as_it_was(sim, redis_client):
    from django.db import DataError

    from apps.breakers.enforcement import breaker_mirror_resync

    breaker_mirror_resync()
    # A real failure after the pre-commit mirror write: the condition id is longer than the
    # trip_condition column, so PostgreSQL refuses the UPDATE and the transaction rolls back.
    with pytest.raises(DataError):
        breaker_auto_trip(
            scope="venue",
            target="SIM",
            state="halted",
            condition="c" * 150,
            reason="r",
            component="tests",
        )
    assert redis_client.hget(MIRROR_KEY, "venue:SIM") is None  # the write was undone
    result = breaker_effective_state(venue="SIM")
    assert (result.state, result.source) == ("active", "redis")
