"""Reads for the breakers board, its detail page and the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Prefetch
from django.utils import timezone

from apps.breakers.models import (
    SCOPE_ORDER,
    Breaker,
    BreakerResetRequest,
    BreakerScope,
    BreakerSource,
    BreakerState,
)
from apps.breakers.services.changes import four_eyes_applies
from apps.breakers.services.four_eyes import reset_request_ttl

__all__ = ["BoardRow", "breaker_board", "breaker_condition_text", "breakers_for_api_key"]

# Colours: the word is always shown too (colour is never the only signal).
STATE_COLOUR = {
    BreakerState.ACTIVE: "status-active",  # green
    BreakerState.REDUCE_ONLY: "status-expired",  # amber
    BreakerState.HALTED: "status-revoked",  # red
}


def age_text(when: datetime | None, now: datetime) -> str:
    """``"12 s ago"``, ``"4 min ago"``, ``"3 h ago"``; ``"never"`` for None."""
    if when is None:
        return "never"
    seconds = max(0, int((now - when).total_seconds()))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def breaker_condition_text(breaker: Breaker, *, now: datetime | None = None) -> tuple[str, bool]:
    """What the board says about the tripping condition, and whether a reset looks safe."""
    now = now or timezone.now()
    if not breaker.is_tripped:
        if breaker.conditions:
            return "condition holds: " + "; ".join(
                str(c.get("reason", k)) for k, c in sorted(breaker.conditions.items())
            ), False
        return "", False
    if breaker.conditions:
        reasons = "; ".join(str(c.get("reason", k)) for k, c in sorted(breaker.conditions.items()))
        return f"still holds: {reasons}", False
    if breaker.source == BreakerSource.AUTOMATIC and breaker.condition_cleared_at:
        cleared = breaker.condition_cleared_at
        return (
            f"cleared {cleared:%H:%M:%S} UTC ({age_text(cleared, now)}): a reset looks safe",
            True,
        )
    if breaker.condition_cleared_at:
        return (
            f"no automatic condition since {breaker.condition_cleared_at:%H:%M:%S} UTC; "
            "manual trip: reset when its cause is dealt with",
            False,
        )
    return "manual trip: reset when its cause is dealt with", False


@dataclass(frozen=True)
class BoardRow:
    breaker: Breaker | None
    scope: str
    target: str
    label: str
    state: str
    state_label: str
    colour: str
    reason: str
    source: str
    since: str
    by: str
    condition: str
    reset_looks_safe: bool
    four_eyes: bool
    pending_request: BreakerResetRequest | None


def _row(breaker: Breaker, now: datetime) -> BoardRow:
    condition, safe = breaker_condition_text(breaker, now=now)
    pending = next(
        (
            r
            for r in breaker.pending_requests  # type: ignore[attr-defined]
            if r.requested_at >= now - reset_request_ttl()
        ),
        None,
    )
    return BoardRow(
        breaker=breaker,
        scope=breaker.scope,
        target=breaker.target,
        label=breaker.label,
        state=breaker.state,
        state_label=BreakerState(breaker.state).label.upper(),
        colour=STATE_COLOUR[BreakerState(breaker.state)],
        reason=breaker.reason,
        source=(
            f"automatic ({breaker.trip_condition})"
            if breaker.source == BreakerSource.AUTOMATIC and breaker.trip_condition
            else breaker.source
        ),
        since=f"{breaker.changed_at:%Y-%m-%d %H:%M:%S} UTC ({age_text(breaker.changed_at, now)})",
        by=breaker.changed_by_label or "-",
        condition=condition,
        reset_looks_safe=safe,
        four_eyes=four_eyes_applies(breaker),
        pending_request=pending,
    )


def breaker_board() -> list[BoardRow]:
    """Every breaker (tripped first, then by scope breadth), the global one always listed."""
    now = timezone.now()
    breakers = list(
        Breaker.objects.prefetch_related(
            Prefetch(
                "reset_requests",
                queryset=BreakerResetRequest.objects.filter(
                    status=BreakerResetRequest.Status.PENDING
                ).select_related("requested_by"),
                to_attr="pending_requests",
            )
        )
    )
    rows = [_row(b, now) for b in breakers]
    if not any(b.scope == BreakerScope.GLOBAL for b in breakers):
        rows.append(
            BoardRow(
                breaker=None,
                scope=BreakerScope.GLOBAL,
                target="",
                label="global",
                state=BreakerState.ACTIVE,
                state_label="ACTIVE",
                colour=STATE_COLOUR[BreakerState.ACTIVE],
                reason="",
                source="",
                since="never tripped",
                by="-",
                condition="",
                reset_looks_safe=False,
                four_eyes=False,
                pending_request=None,
            )
        )
    rank = {scope: i for i, scope in enumerate(SCOPE_ORDER)}
    severity = {BreakerState.HALTED: 0, BreakerState.REDUCE_ONLY: 1, BreakerState.ACTIVE: 2}
    rows.sort(key=lambda r: (severity[BreakerState(r.state)], rank[r.scope], r.target))
    return rows


def breakers_for_api_key(api_key: Any) -> list[Breaker]:
    """The breakers a bot may see: global, venues and underlyings (they apply to everyone),
    its own accounts' and its own key's."""
    from django.db.models import Q

    labels = list(api_key.trading_accounts.values_list("label", flat=True))
    return list(
        Breaker.objects.filter(
            Q(scope__in=[BreakerScope.GLOBAL, BreakerScope.VENUE, BreakerScope.UNDERLYING])
            | Q(scope=BreakerScope.ACCOUNT, target__in=labels)
            | Q(scope=BreakerScope.API_KEY, target=api_key.key_id)
        ).order_by("scope", "target")
    )
