"""Creating, changing and deleting risk limits: risk managers only, audited old -> new.

The callers (pages) have checked a recent second factor (``sensitive_action``); these services
check the role and validate, then write the change and its ``limit.changed`` audit event in one
transaction. Disabling or deleting a limit withdraws its condition from its breaker (the breaker
itself stays as it is: only a person resets it).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.audit.actions import AuditAction
from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.breakers.services import breaker_condition_clear
from apps.realtime.publish import publish
from apps.risk.models import LimitScope, LimitUtilisation, RiskLimit

__all__ = ["limit_create", "limit_delete", "limit_update"]

CHANGE_LIMITS = "accounts.change_limits"
FIELDS = (
    "name",
    "scope",
    "target",
    "metric",
    "threshold",
    "warning_fraction",
    "action",
    "confirmations_required",
    "enabled",
)


def _require(user: Any) -> None:
    if not user.has_perm(CHANGE_LIMITS):
        raise PermissionDenied("only risk managers change limits")


def _validate_target(limit: RiskLimit) -> None:
    from apps.breakers.services import BreakerTargetUnknown, breaker_target_validate

    if limit.scope == LimitScope.UNDERLYING:
        limit.target = limit.target.strip().upper()
    try:
        _, limit.target = breaker_target_validate(scope=limit.scope, target=limit.target)
    except BreakerTargetUnknown as exc:
        raise ValidationError({"target": str(exc)}) from None


def _save(limit: RiskLimit) -> None:
    limit.full_clean()
    limit.save()


def _audit(
    *,
    limit: RiskLimit,
    user: Any,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    request: HttpRequest | None,
) -> None:
    audit_record(
        action=AuditAction.LIMIT_CHANGED,
        actor=Actor.user(user),
        target=("risk.risklimit", str(limit.pk)),
        details={
            "change": "created" if before is None else "deleted" if after is None else "updated",
            "before": before,
            "after": after,
        },
        request=request,
    )
    publish("risk", {"type": "limit.changed", "limit": limit.pk, "after": after})


def limit_create(*, user: Any, request: HttpRequest | None = None, **fields: Any) -> RiskLimit:
    """A new limit (evaluated from the next risk evaluation on)."""
    _require(user)
    limit = RiskLimit(**{k: v for k, v in fields.items() if k in FIELDS})
    _validate_target(limit)
    with transaction.atomic():
        _save(limit)
        _audit(limit=limit, user=user, before=None, after=limit.snapshot(), request=request)
    return limit


def limit_update(
    *, limit: RiskLimit, user: Any, request: HttpRequest | None = None, **fields: Any
) -> RiskLimit:
    """Change a limit's fields; a change with no difference writes nothing."""
    _require(user)
    with transaction.atomic():
        limit = RiskLimit.objects.select_for_update().get(pk=limit.pk)
        before = limit.snapshot()
        for name, value in fields.items():
            if name in FIELDS:
                setattr(limit, name, value)
        _validate_target(limit)
        after = limit.snapshot()
        if after == before:
            return limit
        limit.updated_at = timezone.now()
        _save(limit)
        scope_changed = (before["scope"], before["target"]) != (limit.scope, limit.target)
        if scope_changed or not limit.enabled:
            _withdraw(limit, scope=str(before["scope"]), target=str(before["target"]))
        _audit(limit=limit, user=user, before=before, after=after, request=request)
    return limit


def _withdraw(limit: RiskLimit, *, scope: str, target: str) -> None:
    """The limit no longer judges this scope: its condition leaves the breaker."""
    breaker_condition_clear(scope=scope, target=target, condition=limit.condition_key)
    LimitUtilisation.objects.filter(limit=limit).update(tripped=False, consecutive_breaches=0)


def limit_delete(*, limit: RiskLimit, user: Any, request: HttpRequest | None = None) -> None:
    _require(user)
    with transaction.atomic():
        limit = RiskLimit.objects.select_for_update().get(pk=limit.pk)
        before = limit.snapshot()
        _withdraw(limit, scope=limit.scope, target=limit.target)
        _audit(limit=limit, user=user, before=before, after=None, request=request)
        limit.delete()
