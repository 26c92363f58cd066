"""What the alert feed says about breakers (apps.realtime.alerts stores and delivers it).

Raised inside the change's transaction, so a rolled-back change raises nothing:

- a trip (``breaker.tripped``): ``critical`` for halted, ``warning`` for reduce-only;
- a reset (``breaker.reset``): ``info``;
- a four-eyes reset request (``breaker.reset_requested``): ``info``, naming the requester.
"""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse

from apps.breakers.models import Breaker, BreakerState, more_restrictive
from apps.realtime.alerts import alert_raise

__all__ = ["breaker_alert_changed", "breaker_alert_reset_requested"]


def _link(breaker: Breaker) -> str:
    try:
        return reverse("breakers:detail", args=[breaker.pk])
    except NoReverseMatch:  # pages not mounted (a worker with another URLconf)
        return ""


def _title(breaker: Breaker) -> str:
    return f"{breaker.label} {BreakerState(breaker.state).label.upper()}"


def breaker_alert_changed(breaker: Breaker, previous: str) -> None:
    """Alert for a committed state change of ``breaker`` (from ``previous``)."""
    tripped = more_restrictive(breaker.state, previous)
    if tripped:
        severity = "critical" if breaker.state == BreakerState.HALTED else "warning"
        kind = "breaker.tripped"
    else:
        severity, kind = "info", "breaker.reset"
    by = breaker.changed_by_label or breaker.changed_by_kind
    alert_raise(
        kind=kind,
        severity=severity,
        title=_title(breaker),
        detail=f"{breaker.reason} (by {by}, was {previous})" if breaker.reason else f"by {by}",
        link=_link(breaker),
    )


def breaker_alert_reset_requested(breaker: Breaker, *, requested_by: str, to_state: str) -> None:
    """Alert for a four-eyes reset request waiting for a second risk manager."""
    alert_raise(
        kind="breaker.reset_requested",
        severity="info",
        title=f"{breaker.label}: reset to {to_state} requested",
        detail=f"by {requested_by}; a second risk manager must approve it",
        link=_link(breaker),
    )
