"""Changing breaker states: manual trips, resets, automatic trips and their conditions.

Every state change goes through :func:`_change`, which in one transaction locks the breaker
row, bumps its version, records the transition and the audit event, and keeps the Redis mirror
in step (more restrictive: before commit, undone on failure, and again after commit; relaxing:
after commit). Publishing to the ``breakers`` topic and the ``on_halted`` hooks run after commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.audit.actions import AuditAction
from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.breakers import hooks
from apps.breakers.enforcement import mirror_value_of
from apps.breakers.mirror import MirrorUnavailable, WriteReceipt, mirror_undo, mirror_write, now_ms
from apps.breakers.models import (
    Breaker,
    BreakerResetRequest,
    BreakerScope,
    BreakerSource,
    BreakerState,
    BreakerTransition,
    more_restrictive,
)
from apps.breakers.services.alerts import breaker_alert_changed
from apps.breakers.services.errors import (
    BreakerNotPermitted,
    FourEyesRequired,
    InvalidBreakerChange,
)
from apps.breakers.services.targets import breaker_target_normalise, breaker_target_validate
from apps.realtime.publish import publish

__all__ = [
    "BreakerChange",
    "breaker_auto_trip",
    "breaker_condition_clear",
    "breaker_payload",
    "breaker_reset",
    "breaker_reset_break_glass",
    "breaker_trip",
    "four_eyes_applies",
]

logger = logging.getLogger(__name__)

RESET_PERMISSION = "accounts.reset_breakers"
TRIP_PERMISSION = "accounts.trip_breakers"
REASON_MAX = 500
TRIP_STATES = (BreakerState.REDUCE_ONLY.value, BreakerState.HALTED.value)


@dataclass(frozen=True)
class BreakerChange:
    """The breaker after a service call and whether its state changed."""

    breaker: Breaker
    changed: bool
    previous_state: str


def four_eyes_applies(breaker: Breaker) -> bool:
    """Browser resets of the global breaker need a second risk manager (setting, default on)."""
    from django.conf import settings

    return breaker.scope == BreakerScope.GLOBAL and bool(
        getattr(settings, "BREAKER_GLOBAL_FOUR_EYES", True)
    )


def _clean_reason(reason: str) -> str:
    reason = " ".join((reason or "").split())
    if not reason:
        raise InvalidBreakerChange("a reason is required", code="reason_required")
    return reason[:REASON_MAX]


def breaker_payload(breaker: Breaker) -> dict[str, Any]:
    """The shape published on the ``breakers`` topic and served by the API."""
    return {
        "id": breaker.pk,
        "scope": breaker.scope,
        "target": breaker.target,
        "state": breaker.state,
        "reason": breaker.reason,
        "source": breaker.source,
        "condition": breaker.trip_condition,
        "changed_by": breaker.changed_by_label,
        "changed_at": breaker.changed_at.isoformat(),
        "tripped_at": breaker.tripped_at.isoformat() if breaker.tripped_at else None,
        "conditions": sorted(breaker.conditions),
        "condition_cleared_at": (
            breaker.condition_cleared_at.isoformat() if breaker.condition_cleared_at else None
        ),
        "version": breaker.version,
    }


def _publish(breaker: Breaker, kind: str) -> None:
    publish("breakers", {"type": kind, "breaker": breaker_payload(breaker)})


def _locked(scope: str, target: str) -> Breaker:
    breaker, _ = Breaker.objects.select_for_update().get_or_create(scope=scope, target=target)
    return breaker


def _mirror_after_commit(breaker: Breaker) -> None:
    value = mirror_value_of(breaker, written_ms=now_ms())

    def write() -> None:
        try:
            mirror_write(field=breaker.mirror_field, value=value)
        except MirrorUnavailable:
            # Readers that cannot reach Redis read PostgreSQL; the periodic resync repairs the
            # mirror for readers that can. A relaxing write lost here leaves the mirror *more*
            # restrictive than the truth, never less.
            logger.warning("breaker mirror write after commit failed for %s", breaker.label)

    transaction.on_commit(write)


def _supersede_pending(breaker: Breaker) -> None:
    BreakerResetRequest.objects.filter(
        breaker=breaker, status=BreakerResetRequest.Status.PENDING
    ).update(status=BreakerResetRequest.Status.SUPERSEDED, decided_at=timezone.now())


def _change(
    *,
    scope: str,
    target: str,
    to_state: str,
    reason: str,
    actor: Actor,
    source: str,
    audit_action: AuditAction,
    condition: str = "",
    requested_by: str = "",
    request: HttpRequest | None = None,
    expect_version: int | None = None,
    only_if_more_restrictive: bool = False,
    only_if_less_restrictive: bool = False,
    extra_audit: list[tuple[AuditAction, Actor, dict[str, Any]]] | None = None,
    record_condition: bool = False,
) -> BreakerChange:
    receipt: WriteReceipt | None = None
    try:
        with transaction.atomic():
            breaker = _locked(scope, target)
            previous = breaker.state
            if record_condition and condition not in breaker.conditions:
                breaker.conditions = {
                    **breaker.conditions,
                    condition: {"reason": reason, "since": timezone.now().isoformat()},
                }
                breaker.condition_cleared_at = None
                breaker.save(update_fields=["conditions", "condition_cleared_at"])
                _publish(breaker, "breaker.condition")
            if expect_version is not None and breaker.version != expect_version:
                raise InvalidBreakerChange(
                    "the breaker changed since the reset was requested; request it again",
                    code="breaker_changed",
                )
            if only_if_less_restrictive and not more_restrictive(previous, to_state):
                raise InvalidBreakerChange(
                    f"{breaker.label} is {previous}; a reset can only relax it",
                    code="not_tripped",
                )
            if to_state == previous or (
                only_if_more_restrictive and not more_restrictive(to_state, previous)
            ):
                return BreakerChange(breaker, False, previous)
            now = timezone.now()
            breaker.state = to_state
            breaker.reason = reason
            breaker.source = source
            breaker.trip_condition = condition
            breaker.changed_by_kind = actor.kind
            breaker.changed_by_id = actor.id
            breaker.changed_by_label = actor.label
            breaker.changed_at = now
            breaker.version += 1
            if to_state == BreakerState.ACTIVE:
                breaker.tripped_at = None
                breaker.condition_cleared_at = None
            elif previous == BreakerState.ACTIVE:
                breaker.tripped_at = now
            restricts = more_restrictive(to_state, previous)
            if restricts:
                # Before the commit: from this moment every reader already sees the new state.
                try:
                    receipt = mirror_write(
                        field=breaker.mirror_field,
                        value=mirror_value_of(breaker, written_ms=now_ms()),
                    )
                except MirrorUnavailable:
                    logger.warning(
                        "breaker mirror unreachable while tripping %s; PostgreSQL has it",
                        breaker.label,
                    )
            breaker.save()
            BreakerTransition.objects.create(
                breaker=breaker,
                from_state=previous,
                to_state=to_state,
                reason=reason,
                source=source,
                condition=condition,
                actor_kind=actor.kind,
                actor_id=actor.id,
                actor_label=actor.label,
                requested_by_label=requested_by,
                at=now,
                version=breaker.version,
            )
            _supersede_pending(breaker)
            _mirror_after_commit(breaker)
            _publish(breaker, "breaker.changed")
            breaker_alert_changed(breaker, previous)
            if to_state == BreakerState.HALTED:
                hooks.run_halted_on_commit(breaker.pk)
            for action, extra_actor, details in extra_audit or []:
                audit_record(action=action, actor=extra_actor, target=breaker, details=details)
            audit_record(
                action=audit_action,
                actor=actor,
                target=breaker,
                details={
                    "scope": breaker.scope,
                    "target": breaker.target,
                    "from": previous,
                    "to": to_state,
                    "reason": reason,
                    "source": source,
                    "condition": condition,
                    "requested_by": requested_by,
                    "version": breaker.version,
                },
                request=request,
            )
        return BreakerChange(breaker, True, previous)
    except BaseException:
        if receipt is not None:
            try:
                mirror_undo(receipt)
            except MirrorUnavailable:
                logger.warning("could not undo the mirror write of a failed breaker change")
        raise


def breaker_trip(
    *,
    scope: str,
    target: str = "",
    state: str = BreakerState.HALTED,
    reason: str,
    actor: Actor,
    request: HttpRequest | None = None,
) -> BreakerChange:
    """Trip a breaker by hand (a person, a bot for its own key/accounts, or the break-glass
    command). The target must exist. Never relaxes: tripping a breaker that is already as
    restrictive or more is a no-op (``changed=False``, no audit event)."""
    if state not in TRIP_STATES:
        raise InvalidBreakerChange("trip to reduce_only or halted", code="invalid_state")
    scope, target = breaker_target_validate(scope=scope, target=target)
    return _change(
        scope=scope,
        target=target,
        to_state=str(state),
        reason=_clean_reason(reason),
        actor=actor,
        source=BreakerSource.MANUAL,
        audit_action=AuditAction.BREAKER_TRIPPED,
        request=request,
        only_if_more_restrictive=True,
    )


def breaker_reset(
    *,
    breaker: Breaker,
    user: Any,
    reason: str,
    to_state: str = BreakerState.ACTIVE,
    request: HttpRequest | None = None,
) -> BreakerChange:
    """A risk manager resets (or relaxes halted to reduce_only) a tripped breaker.

    The caller has checked a recent second factor (``sensitive_action``); this service checks
    the role. The global breaker needs four-eyes (``breaker_reset_request`` then
    ``breaker_reset_approve``) unless BREAKER_GLOBAL_FOUR_EYES is off."""
    if not user.has_perm(RESET_PERMISSION):
        raise BreakerNotPermitted("only risk managers reset breakers")
    if four_eyes_applies(breaker):
        raise FourEyesRequired(
            "resetting the global breaker needs a second risk manager's approval"
        )
    return _relax(
        breaker=breaker,
        to_state=to_state,
        reason=reason,
        actor=Actor.user(user),
        request=request,
    )


def _relax(
    *,
    breaker: Breaker,
    to_state: str,
    reason: str,
    actor: Actor,
    request: HttpRequest | None = None,
    requested_by: str = "",
    expect_version: int | None = None,
    extra_audit: list[tuple[AuditAction, Actor, dict[str, Any]]] | None = None,
) -> BreakerChange:
    if to_state not in (BreakerState.ACTIVE, BreakerState.REDUCE_ONLY):
        raise InvalidBreakerChange("reset to active or reduce_only", code="invalid_state")
    return _change(
        scope=breaker.scope,
        target=breaker.target,
        to_state=str(to_state),
        reason=_clean_reason(reason),
        actor=actor,
        source=BreakerSource.MANUAL,
        audit_action=AuditAction.BREAKER_RESET,
        request=request,
        requested_by=requested_by,
        expect_version=expect_version,
        only_if_less_restrictive=True,
        extra_audit=extra_audit,
    )


def breaker_reset_break_glass(
    *, scope: str, target: str = "", reason: str, operator: str, to_state: str = "active"
) -> BreakerChange:
    """Reset from the operator's shell (``manage.py breaker reset``): no browser, no four-eyes,
    audited as ``shell:<operating-system user>``."""
    scope, target = breaker_target_normalise(scope=scope, target=target)
    breaker = Breaker.objects.filter(scope=scope, target=target).first()
    if breaker is None:
        raise InvalidBreakerChange(f"no breaker {scope} {target!r} has ever tripped")
    return _relax(
        breaker=breaker,
        to_state=to_state,
        reason=reason,
        actor=Actor.system(f"shell:{operator}"),
    )


def breaker_auto_trip(
    *,
    scope: str,
    target: str,
    state: str,
    condition: str,
    reason: str,
    component: str,
) -> BreakerChange:
    """An automatic condition holds (a confirmed limit breach, stale market data, adapter
    errors): record it on the breaker and trip it to ``state`` unless it is already at least as
    restrictive. Idempotent: while the condition holds, calling again makes no transition, no
    audit event and (when nothing changed) no write at all. Never relaxes a breaker."""
    scope, target = breaker_target_normalise(scope=scope, target=target)
    existing = (
        Breaker.objects.filter(scope=scope, target=target)
        .values_list("state", "conditions")
        .first()
    )
    if (
        existing is not None
        and condition in (existing[1] or {})
        and not more_restrictive(state, existing[0])
    ):
        return BreakerChange(Breaker.objects.get(scope=scope, target=target), False, existing[0])
    return _change(
        scope=scope,
        target=target,
        to_state=state,
        reason=reason[:REASON_MAX],
        actor=Actor.system(component),
        source=BreakerSource.AUTOMATIC,
        audit_action=AuditAction.BREAKER_TRIPPED,
        condition=condition,
        only_if_more_restrictive=True,
        record_condition=True,
    )


def breaker_condition_clear(*, scope: str, target: str, condition: str) -> bool:
    """An automatic condition no longer holds. The breaker stays as it is (automatic trips
    never reset themselves); when no condition is left on a tripped breaker, the time is kept
    so the board can say a reset looks safe. Returns whether anything changed."""
    scope, target = breaker_target_normalise(scope=scope, target=target)
    if not Breaker.objects.filter(
        scope=scope, target=target, conditions__has_key=condition
    ).exists():
        return False
    with transaction.atomic():
        breaker = Breaker.objects.select_for_update().filter(scope=scope, target=target).first()
        if breaker is None or condition not in breaker.conditions:
            return False
        conditions = dict(breaker.conditions)
        conditions.pop(condition)
        breaker.conditions = conditions
        if not conditions and breaker.is_tripped:
            breaker.condition_cleared_at = timezone.now()
        breaker.save(update_fields=["conditions", "condition_cleared_at"])
        _publish(breaker, "breaker.condition")
    return True


def breaker_may_trip(user: Any) -> bool:
    return bool(user.has_perm(TRIP_PERMISSION))
