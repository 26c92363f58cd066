"""Four-eyes resets of the global breaker: one risk manager asks, a different one approves.

Both people act from the browser with a recent second factor (the views are
``sensitive_action``); the reset is applied at approval, in the approval's transaction, with
both names on the transition and an audit event for each step. A request is tied to the
breaker version it was made for: if the breaker changed meanwhile (tripped again, reset by
the break-glass command) the request is superseded and approval is refused.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.audit.actions import AuditAction
from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.breakers.models import Breaker, BreakerResetRequest, BreakerState, more_restrictive
from apps.breakers.services.alerts import breaker_alert_reset_requested
from apps.breakers.services.changes import (
    RESET_PERMISSION,
    BreakerChange,
    _clean_reason,
    _publish,
    _relax,
)
from apps.breakers.services.errors import BreakerNotPermitted, InvalidBreakerChange

__all__ = [
    "breaker_reset_approve",
    "breaker_reset_request",
    "reset_request_ttl",
    "reset_requests_expire",
]

DEFAULT_REQUEST_TTL_SECONDS = 3600


def reset_request_ttl() -> timedelta:
    seconds = getattr(settings, "BREAKER_RESET_REQUEST_TTL_SECONDS", DEFAULT_REQUEST_TTL_SECONDS)
    return timedelta(seconds=float(seconds))


def reset_requests_expire(*, now: Any = None) -> int:
    """Mark pending requests older than the TTL as expired; returns how many."""
    now = now or timezone.now()
    return BreakerResetRequest.objects.filter(
        status=BreakerResetRequest.Status.PENDING, requested_at__lt=now - reset_request_ttl()
    ).update(status=BreakerResetRequest.Status.EXPIRED, decided_at=now)


def _require_reset_role(user: Any) -> None:
    if not user.has_perm(RESET_PERMISSION):
        raise BreakerNotPermitted("only risk managers reset breakers")


def breaker_reset_request(
    *,
    breaker: Breaker,
    user: Any,
    reason: str,
    to_state: str = BreakerState.ACTIVE,
    request: HttpRequest | None = None,
) -> BreakerResetRequest:
    """Ask for a reset that a second risk manager must approve. One pending request per
    breaker; the breaker must be tripped and ``to_state`` less restrictive than it is now."""
    _require_reset_role(user)
    reason = _clean_reason(reason)
    if to_state not in (BreakerState.ACTIVE, BreakerState.REDUCE_ONLY):
        raise InvalidBreakerChange("reset to active or reduce_only", code="invalid_state")
    reset_requests_expire()
    try:
        with transaction.atomic():
            locked = Breaker.objects.select_for_update().get(pk=breaker.pk)
            if not more_restrictive(locked.state, to_state):
                raise InvalidBreakerChange(
                    f"{locked.label} is {locked.state}; nothing to reset", code="not_tripped"
                )
            reset_request = BreakerResetRequest.objects.create(
                breaker=locked,
                breaker_version=locked.version,
                to_state=to_state,
                reason=reason,
                requested_by=user,
            )
            _publish(locked, "breaker.reset_requested")
            breaker_alert_reset_requested(
                locked, requested_by=user.get_username(), to_state=to_state
            )
            audit_record(
                action=AuditAction.BREAKER_RESET_REQUESTED,
                actor=Actor.user(user),
                target=locked,
                details={
                    "scope": locked.scope,
                    "target": locked.target,
                    "state": locked.state,
                    "to": to_state,
                    "reason": reason,
                    "request_id": reset_request.pk,
                    "version": locked.version,
                },
                request=request,
            )
    except IntegrityError:
        raise InvalidBreakerChange(
            "a reset of this breaker is already waiting for approval", code="already_requested"
        ) from None
    return reset_request


def breaker_reset_approve(
    *,
    reset_request: BreakerResetRequest,
    user: Any,
    reason: str = "",
    request: HttpRequest | None = None,
) -> BreakerChange:
    """A second risk manager approves: the reset is applied now. Refused for the requester
    themself, for a request no longer pending or expired, and if the breaker changed since."""
    _require_reset_role(user)
    reset_requests_expire()
    with transaction.atomic():
        pending = BreakerResetRequest.objects.select_for_update().get(pk=reset_request.pk)
        if pending.status != BreakerResetRequest.Status.PENDING:
            raise InvalidBreakerChange(
                f"this request is {pending.status}, not pending", code="request_not_pending"
            )
        if pending.requested_by_id == user.pk:
            raise BreakerNotPermitted(
                "a different risk manager must approve this reset", code="four_eyes_same_person"
            )
        note = " ".join((reason or "").split())[:200]
        approver = Actor.user(user)
        pending.status = BreakerResetRequest.Status.APPROVED
        pending.decided_by = user
        pending.decided_at = timezone.now()
        pending.decision_reason = note
        pending.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
        requester = pending.requested_by
        change = _relax(
            breaker=pending.breaker,
            to_state=pending.to_state,
            reason=pending.reason,
            actor=approver,
            requested_by=requester.get_username(),
            expect_version=pending.breaker_version,
            request=request,
            extra_audit=[
                (
                    AuditAction.BREAKER_RESET_APPROVED,
                    approver,
                    {
                        "request_id": pending.pk,
                        "requested_by": requester.get_username(),
                        "reason": pending.reason,
                        "note": note,
                    },
                )
            ],
        )
    return change
