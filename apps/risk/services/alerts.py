"""What the alert feed says about risk limits (apps.realtime.alerts stores and delivers it).

One alert per change of a limit's status between evaluations, never one per evaluation:

- into ``warning`` from ``ok``, ``unknown`` or ``disabled`` (``limit.warning``, ``warning``);
- into ``breach`` from anything else (``limit.breach``, ``critical``); the limit's breaker,
  when the breach is confirmed, raises its own ``breaker.tripped`` alert;
- out of ``breach`` back to ``ok`` or ``warning`` on complete data (``limit.recovered``,
  ``info``).

Moving into ``unknown`` or ``disabled`` raises nothing (the limits table shows them).
"""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse

from apps.realtime.alerts import alert_raise
from apps.risk.models import METRIC_SHORT, LimitStatus, LimitUtilisation, RiskLimit

__all__ = ["limit_alert_status_changed"]


def _scope(limit: RiskLimit) -> str:
    return "global" if limit.scope == "global" else f"{limit.scope} {limit.target}"


def _link() -> str:
    try:
        return reverse("dashboard:overview") + "#limits"
    except NoReverseMatch:
        return ""


def limit_alert_status_changed(limit: RiskLimit, previous: str, row: LimitUtilisation) -> None:
    """Raise the alert (if any) for ``limit`` moving from status ``previous`` to ``row.status``."""
    from apps.risk.services.evaluation import format_amount

    status = row.status
    if status == previous:
        return
    value = format_amount(row.value, limit.metric) if row.value is not None else "no data"
    threshold = format_amount(limit.threshold, limit.metric)
    metric = METRIC_SHORT.get(limit.metric, limit.metric)
    what = f"{metric} {value} of {threshold} ({_scope(limit)})"
    if status == LimitStatus.BREACH:
        confirm = (
            f" after {limit.confirmations_required} evaluations"
            if limit.confirmations_required > 1
            else ""
        )
        alert_raise(
            kind="limit.breach",
            severity="critical",
            title=f"limit {limit.name} breached",
            detail=f"{what}; breaker goes {limit.action}{confirm}",
            link=_link(),
        )
    elif status == LimitStatus.WARNING and previous != LimitStatus.BREACH:
        alert_raise(
            kind="limit.warning",
            severity="warning",
            title=f"limit {limit.name} at warning level",
            detail=what,
            link=_link(),
        )
    elif previous == LimitStatus.BREACH and status in (LimitStatus.OK, LimitStatus.WARNING):
        alert_raise(
            kind="limit.recovered",
            severity="info",
            title=f"limit {limit.name} back below its threshold",
            detail=f"{what}; a tripped breaker stays tripped until a person resets it",
            link=_link(),
        )
