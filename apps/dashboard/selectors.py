"""The overview page's panels, composed from the owning apps' selectors and formatted once.

Each ``overview_*`` function returns plain display values (strings, booleans) for one panel, so
the page and its live fragments (``/overview/panels/<name>/``) render from the same data.
Access rules are the owning apps': book-wide risk figures (every limit, per-underlying risk)
only with ``view_all_positions`` (``apps.risk.selectors.risk_for_user``); the others see the
limits of accounts they may see. A data store that is down yields ``available: False``, never
an exception: the viewing path degrades.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.breakers.selectors import age_text, breaker_board
from apps.gateway.services.counters import reject_counts
from apps.realtime.alerts import alerts_recent
from apps.risk.models import METRIC_SHORT
from apps.risk.selectors import VIEW_ALL, risk_for_user
from apps.risk.services.evaluation import format_amount
from apps.venues.selectors import venues_health
from apps.venues.services.store import StoreUnavailable

__all__ = [
    "PANELS",
    "age_text",
    "overview_alerts",
    "overview_board",
    "overview_limits_and_risk",
    "overview_rejects",
    "overview_venues",
    "topic_seqs",
]

logger = logging.getLogger(__name__)

TRIP = "accounts.trip_breakers"
RESET = "accounts.reset_breakers"
PANELS = ("board", "limits", "risk", "venues", "rejects", "alerts")
NONE = "-"


def overview_board(user: Any) -> dict[str, Any]:
    """Every breaker (``apps.breakers.selectors.breaker_board``) and what ``user`` may do."""
    return {
        "rows": breaker_board(),
        "can_trip": user.has_perm(TRIP),
        "can_reset": user.has_perm(RESET),
    }


def _usd(value: float | None) -> str:
    return NONE if value is None else format_amount(value)


def _limit_row(limit: dict[str, Any]) -> dict[str, Any]:
    value, threshold = limit["value"], limit["threshold"]
    utilisation = limit["utilisation"]
    metric = limit["metric"]
    if value is None:
        distance = "no data"
    elif value <= threshold:
        distance = f"{format_amount(threshold - value, metric)} to limit"
    else:
        distance = f"over by {format_amount(value - threshold, metric)}"
    status = limit["status"] if limit["enabled"] else "disabled"
    return {
        "id": limit["id"],
        "name": limit["name"],
        "scope": "global" if limit["scope"] == "global" else f"{limit['scope']} {limit['target']}",
        "metric": METRIC_SHORT.get(metric, metric),
        "value": format_amount(value, metric) if value is not None else "no data",
        "threshold": format_amount(threshold, metric),
        "utilisation": f"{100 * utilisation:.0f}%" if utilisation is not None else NONE,
        # <meter> 0..120: past 100 is a breach; clipped so a huge breach still draws.
        "meter": min(120.0, max(0.0, round(100 * (utilisation or 0.0), 1))),
        "warning_at": round(100 * limit["warning_fraction"], 1),
        "distance": distance,
        "status": status,
        "tripped": limit["tripped"],
        "action": limit["action"],
        "detail": limit["detail"],
    }


def _underlying_row(name: str, data: dict[str, Any]) -> dict[str, Any]:
    totals = data.get("totals") or {}
    return {
        "underlying": name,
        "positions": data.get("positions", 0),
        "unpriced": data.get("unpriced", 0),
        "value": _usd(totals.get("value_usd")),
        "upnl": _usd(totals.get("upnl_usd")),
        "upnl_negative": (totals.get("upnl_usd") or 0) < 0,
        "delta": _usd(totals.get("delta_usd")),
        "gamma": _usd(totals.get("gamma_usd")),
        "vega": _usd(totals.get("vega_usd")),
        "theta": _usd(totals.get("theta_usd")),
        "worst": _usd(data.get("worst_scenario_loss_usd")),
    }


def overview_limits_and_risk(user: Any) -> dict[str, Any]:
    """Limit utilisation rows and the risk summary per underlying, from one snapshot read.

    ``limits_available`` / ``risk_available`` are False when the risk store is unreachable;
    ``book_wide`` says whether the person may see every limit and the per-underlying figures.
    """
    book_wide = bool(user.has_perm(VIEW_ALL))
    try:
        view = risk_for_user(user)
    except StoreUnavailable:
        return {"available": False, "book_wide": book_wide, "limits": [], "underlyings": []}
    evaluated_at = parse_datetime(view["evaluated_at"]) if view.get("evaluated_at") else None
    now = timezone.now()
    return {
        "available": True,
        "book_wide": book_wide,
        "evaluated_at": f"{evaluated_at:%H:%M:%S} UTC" if evaluated_at else "not yet",
        "evaluated_ago": age_text(evaluated_at, now) if evaluated_at else "",
        "limits": [_limit_row(limit) for limit in view["limits"]],
        "underlyings": [
            _underlying_row(name, data) for name, data in (view.get("underlyings") or {}).items()
        ],
    }


def overview_venues(*, now: datetime | None = None) -> list[dict[str, Any]]:
    """Data freshness per venue: status word, last good chain and its age, errors."""
    now = now or timezone.now()
    rows = []
    for row in venues_health(now=now):
        last = row.get("last_chain_ok_at")
        last_at = parse_datetime(last) if last else None
        rows.append(
            {
                "venue": row["venue"],
                "status": row["status"],
                "stale": row["stale"],
                "last_chain": f"{last_at:%H:%M:%S} UTC" if last_at else "never",
                "age": age_text(last_at, now),
                "errors": row.get("consecutive_errors", 0),
                "last_error": row.get("last_error") or "",
            }
        )
    return rows


def overview_rejects(*, now: datetime | None = None) -> list[dict[str, Any]]:
    """Rejected orders by code over the last hour and the last 24 hours (PostgreSQL truth),
    most frequent first."""
    now = now or timezone.now()
    hour = reject_counts(since=now - timedelta(hours=1))
    day = reject_counts(since=now - timedelta(hours=24))
    return [
        {"code": code, "hour": hour.get(code, 0), "day": count}
        for code, count in sorted(day.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def overview_alerts(*, limit: int = 20) -> dict[str, Any]:
    """The newest alerts (``apps.realtime.alerts``); ``available`` False when Redis is down."""
    try:
        items = alerts_recent(limit=limit)
    except Exception:
        logger.warning("alerts unavailable", exc_info=True)
        return {"available": False, "items": []}
    for item in items:
        at = parse_datetime(item.get("at", ""))
        item["time"] = f"{at:%H:%M:%S}" if at else ""
    return {"available": True, "items": items}


def topic_seqs(topics: list[str]) -> dict[str, int]:
    """Each topic's current sequence number, read *before* a page renders the topics' state,
    so the page's script can skip a snapshot that tells it nothing newer (docs/realtime.md);
    0 when Redis is unreachable (the script then simply refreshes)."""
    from apps.realtime.publish import topic_seq_current

    seqs = {}
    for topic in topics:
        try:
            seqs[topic] = topic_seq_current(topic=topic)
        except Exception:
            seqs[topic] = 0
    return seqs
