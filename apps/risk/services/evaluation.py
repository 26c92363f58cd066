"""One risk evaluation: value the book, store and publish it, judge every limit, trip breakers.

:func:`risk_evaluate` runs after position polls and fills (``risk_evaluate_soon``) and every
few seconds (``risk.evaluate`` in Celery beat). Guarantees:

* never two evaluations at once (a Redis lock; a second caller returns ``None`` at once), so
  "K consecutive evaluations" means K in a row of the one evaluator;
* every limit's utilisation is stored (``LimitUtilisation``) and published on ``risk``;
* a breach confirmed ``confirmations_required`` times in a row trips the limit's breaker in the
  same evaluation, with a reason like ``limit sim-b-vega: vega 1.2M > 1.0M``; while it stays
  breached no further trip or audit event is made (apps.breakers: automatic trips are
  idempotent); a breaker is never reset by an evaluation, only its condition marked cleared;
* a scope whose positions could not all be priced never clears a breach (missing data is not
  evidence of safety), and a limit without data (order metrics with no provider) never trips;
* nothing is judged when the market-data store is unreachable: the evaluation is skipped.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from apps.breakers.services import BreakerChange, breaker_auto_trip, breaker_condition_clear
from apps.realtime.publish import publish
from apps.risk.models import (
    METRIC_SHORT,
    LimitMetric,
    LimitStatus,
    LimitUtilisation,
    RiskLimit,
)
from apps.risk.order_metrics import order_metrics_for
from apps.risk.services.alerts import limit_alert_status_changed
from apps.risk.services.book import BookComputation, ScopeMetrics, book_compute, num
from apps.risk.snapshots import snapshot_write
from apps.venues.services.store import StoreUnavailable, redis_client

__all__ = [
    "RiskEvaluation",
    "format_amount",
    "risk_evaluate",
    "risk_evaluate_soon",
]

logger = logging.getLogger(__name__)

LOCK_KEY = "bw:risk:evaluate:lock"
LOCK_SECONDS = 30
SOON_KEY = "bw:risk:evaluate:soon"
SOON_DEBOUNCE_MS = 500
COMPONENT = "risk.limits"
ORDER_METRICS = {LimitMetric.OPEN_ORDERS, LimitMetric.ORDER_RATE}


@dataclass
class RiskEvaluation:
    snapshot: dict[str, Any]
    trips: list[BreakerChange] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def format_amount(value: float, metric: str = "", *, digits: int = 3) -> str:
    """1.2M, 950K, 12.5: how risk managers read sizes (counts and rates stay plain)."""
    if metric in ORDER_METRICS:
        return f"{value:g}" if metric == LimitMetric.ORDER_RATE else f"{value:.0f}"
    magnitude = abs(value)
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if magnitude >= size:
            return f"{value / size:.{digits}g}{suffix}"
    return f"{value:.{digits}g}"


def format_breach(value: float, threshold: float, metric: str) -> str:
    """``"vega 1.2M > 1.0M"``'s numbers, with as many digits as it takes for the two to differ
    (a breach by a hair must not read ``128K > 128K``)."""
    for digits in range(3, 8):
        shown = format_amount(value, metric, digits=digits)
        limit = format_amount(threshold, metric, digits=digits)
        if shown != limit:
            break
    return f"{shown} > {limit}"


def _limit_value(
    limit: RiskLimit,
    metrics: dict[tuple[str, str], ScopeMetrics],
    order_values: dict[tuple[str, str], dict[str, float]],
) -> tuple[float | None, bool, str]:
    """(value, complete, note) of the limit's metric in its scope now."""
    key = (limit.scope, limit.target)
    if limit.metric in ORDER_METRICS:
        value = order_values.get(key, {}).get(limit.metric)
        if value is None:
            return None, False, "no order data (the gateway supplies it)"
        return float(value), True, ""
    scope_metrics = metrics.get(key)
    if scope_metrics is None:
        return 0.0, True, "no positions in scope"
    note = ""
    if not scope_metrics.complete:
        note = f"{scope_metrics.unpriced} of {scope_metrics.positions} positions unpriced"
    return scope_metrics.values[limit.metric], scope_metrics.complete, note


def _judge(
    limit: RiskLimit,
    row: LimitUtilisation,
    value: float | None,
    complete: bool,
    note: str,
    now: Any,
) -> tuple[bool, bool]:
    """Update ``row`` for this evaluation; returns (trip now, clear now)."""
    row.evaluated_at = now
    row.detail = note[:300]
    row.complete = complete
    if not limit.enabled:
        row.status = LimitStatus.DISABLED
        row.value = value
        row.utilisation = value / limit.threshold if value is not None else None
        row.consecutive_breaches = 0
        return False, row.tripped
    if value is None:
        row.status, row.value, row.utilisation = LimitStatus.UNKNOWN, None, None
        return False, False
    row.value = value
    row.utilisation = value / limit.threshold
    breached = value > limit.threshold
    if breached:
        row.consecutive_breaches += 1
        row.status = LimitStatus.BREACH
        return row.consecutive_breaches >= limit.confirmations_required, False
    if not complete:
        # Below the threshold on partial data proves nothing: keep the count and the trip.
        row.status = LimitStatus.UNKNOWN
        return False, False
    row.consecutive_breaches = 0
    row.status = (
        LimitStatus.WARNING if value >= limit.warning_fraction * limit.threshold else LimitStatus.OK
    )
    return False, row.tripped


def _limits_evaluate(
    computation: BookComputation, now: Any
) -> tuple[list[dict[str, Any]], list[BreakerChange], list[str]]:
    limits = list(RiskLimit.objects.all().order_by("pk"))
    existing = {u.pk: u for u in LimitUtilisation.objects.filter(limit__in=limits)}
    order_scopes = sorted(
        {(lim.scope, lim.target) for lim in limits if lim.metric in ORDER_METRICS and lim.enabled}
    )
    order_values = order_metrics_for(order_scopes)
    trips: list[BreakerChange] = []
    cleared: list[str] = []
    rows: list[LimitUtilisation] = []
    published: list[dict[str, Any]] = []
    for limit in limits:
        row = existing.get(limit.pk) or LimitUtilisation(limit=limit)
        previous = row.status
        value, complete, note = _limit_value(limit, computation.metrics, order_values)
        trip, clear = _judge(limit, row, value, complete, note, now)
        limit_alert_status_changed(limit, previous, row)
        if trip:
            change = breaker_auto_trip(
                scope=limit.scope,
                target=limit.target,
                state=limit.action,
                condition=limit.condition_key,
                reason=(
                    f"limit {limit.name}: {METRIC_SHORT[limit.metric]} "
                    f"{format_breach(value or 0.0, limit.threshold, limit.metric)}"
                ),
                component=COMPONENT,
            )
            row.tripped = True
            if change.changed:
                trips.append(change)
        elif clear:
            breaker_condition_clear(
                scope=limit.scope, target=limit.target, condition=limit.condition_key
            )
            row.tripped = False
            cleared.append(limit.name)
        rows.append(row)
        published.append(limit_payload(limit, row))
    _utilisation_save(rows, existing=set(existing))
    return published, trips, cleared


UTILISATION_FIELDS = (
    "value",
    "utilisation",
    "status",
    "consecutive_breaches",
    "tripped",
    "complete",
    "detail",
    "evaluated_at",
)


def _utilisation_save(rows: list[LimitUtilisation], *, existing: set[int]) -> None:
    """Insert new rows, update the others with one pipelined statement (Django's bulk_update
    builds a CASE per field and row, which cost more than the whole evaluation's engine)."""
    meta = LimitUtilisation._meta
    quote = connection.ops.quote_name
    columns = [meta.get_field(name).column for name in UTILISATION_FIELDS]
    sql = "UPDATE {} SET {} WHERE {} = %s".format(  # noqa: S608  # nosec B608  # model metadata, no input
        quote(meta.db_table),
        ", ".join(f"{quote(c)} = %s" for c in columns),
        quote(meta.pk.column),
    )
    with transaction.atomic():
        LimitUtilisation.objects.bulk_create(
            [r for r in rows if r.limit_id not in existing], ignore_conflicts=True
        )
        updates = [
            [getattr(r, name) for name in UTILISATION_FIELDS] + [r.limit_id]
            for r in rows
            if r.limit_id in existing
        ]
        if updates:
            with connection.cursor() as cursor:
                cursor.executemany(sql, updates)


def limit_payload(limit: RiskLimit, row: LimitUtilisation | None) -> dict[str, Any]:
    """How a limit and its latest utilisation are stored, served and published."""
    return {
        "id": limit.pk,
        "name": limit.name,
        "scope": limit.scope,
        "target": limit.target,
        "metric": limit.metric,
        "threshold": num(limit.threshold),
        "warning_fraction": limit.warning_fraction,
        "action": limit.action,
        "confirmations_required": limit.confirmations_required,
        "enabled": limit.enabled,
        "value": num(row.value) if row else None,
        "utilisation": num(row.utilisation, 6) if row else None,
        "status": row.status if row else LimitStatus.UNKNOWN,
        "consecutive_breaches": row.consecutive_breaches if row else 0,
        "tripped": row.tripped if row else False,
        "complete": row.complete if row else True,
        "detail": row.detail if row else "",
    }


def _publish(snapshot: dict[str, Any]) -> None:
    publish(
        "risk",
        {
            "type": "risk.updated",
            "evaluated_at": snapshot["evaluated_at"],
            "book": {k: v for k, v in snapshot["book"].items() if k != "grid"},
            "underlyings": {
                u: {k: v for k, v in data.items() if k != "grid"}
                for u, data in snapshot["underlyings"].items()
            },
            "limits": snapshot["limits"],
        },
    )
    by_account: dict[str, list[dict[str, Any]]] = {}
    for row in snapshot["positions"]:
        by_account.setdefault(row["account"], []).append(row)
    for label, account in snapshot["accounts"].items():
        publish(
            f"positions:{label}",
            {
                "type": "positions.updated",
                "account": label,
                "evaluated_at": snapshot["evaluated_at"],
                "totals": account["totals"],
                "positions": by_account.get(label, []),
            },
        )


def risk_evaluate(*, publish_results: bool = True) -> RiskEvaluation | None:
    """Evaluate the whole book once (see the module docstring). Returns None when another
    evaluation is running or the market-data store is unreachable."""
    try:
        lock = redis_client().lock(LOCK_KEY, timeout=LOCK_SECONDS, blocking=False)
        if not lock.acquire(blocking=False):
            return None
    except Exception:  # Redis down: no market data either; nothing can be judged
        logger.warning("risk evaluation skipped: Redis unavailable", exc_info=True)
        return None
    try:
        started = time.perf_counter()
        try:
            computation = book_compute()
        except StoreUnavailable:
            logger.warning("risk evaluation skipped: market-data store unavailable")
            return None
        computed = time.perf_counter()
        now = timezone.now()
        limits, trips, cleared = _limits_evaluate(computation, now)
        judged = time.perf_counter()
        snapshot = computation.snapshot
        snapshot["limits"] = limits
        snapshot["duration_ms"] = round((judged - started) * 1000.0, 2)
        try:
            snapshot_write(snapshot)
        except StoreUnavailable:
            logger.warning("risk snapshot not stored: Redis unavailable")
        stored = time.perf_counter()
        if publish_results:
            _publish(snapshot)
        finished = time.perf_counter()
        return RiskEvaluation(
            snapshot=snapshot,
            trips=trips,
            cleared=cleared,
            timings={
                **computation.timings,
                "limits": judged - computed,
                "store": stored - judged,
                "publish": finished - stored,
                "total": finished - started,
            },
        )
    finally:
        try:
            lock.release()
        except Exception:  # expired or Redis gone: the lock times out on its own
            logger.debug("risk evaluation lock release failed", exc_info=True)


def risk_evaluate_soon() -> None:
    """Ask for an evaluation soon (after a position poll or a fill), after the current
    transaction commits; bursts within half a second collapse into one task."""

    def enqueue() -> None:
        from apps.risk.tasks import evaluate

        try:
            if redis_client().set(SOON_KEY, "1", nx=True, px=SOON_DEBOUNCE_MS):
                evaluate.apply_async(expires=10)
        except Exception:  # the periodic evaluation runs anyway
            logger.warning("could not enqueue a risk evaluation", exc_info=True)

    transaction.on_commit(enqueue)
