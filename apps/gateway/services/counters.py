"""Reject counts by code, for the dashboard.

PostgreSQL is the truth (``reject_counts`` counts rejected orders by code); a Redis hash
(``HINCRBY`` after commit) gives the dashboard a cheap live counter. A Redis failure never
affects the trading path: the counter is a view, the rows are the record.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.db.models import Count

from apps.apikeys.ratelimit import shared_client
from apps.gateway.models import Order, OrderStatus

__all__ = ["REJECTS_HASH", "reject_count_after_commit", "reject_counts", "reject_counts_live"]

logger = logging.getLogger(__name__)

REJECTS_HASH = "bw:gateway:rejects"


def _incr(code: str) -> None:
    try:
        shared_client().hincrby(REJECTS_HASH, code, 1)
    except Exception:
        logger.warning("reject counter update failed", exc_info=True)


def reject_count_after_commit(code: str) -> None:
    transaction.on_commit(lambda: _incr(code))


def reject_counts(*, since: datetime | None = None) -> dict[str, int]:
    """Rejected orders by code (PostgreSQL truth), optionally since a time."""
    qs = Order.objects.filter(status=OrderStatus.REJECTED)
    if since is not None:
        qs = qs.filter(arrived_at__gte=since)
    return dict(qs.values_list("reject_code").annotate(n=Count("id")).order_by())


def reject_counts_live() -> dict[str, int]:
    """The Redis counters (since the hash was last cleared); {} when Redis is down."""
    try:
        raw = shared_client().hgetall(REJECTS_HASH)
    except Exception:
        return {}
    return {k.decode(): int(v) for k, v in raw.items()}
