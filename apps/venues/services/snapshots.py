"""Surface history: one SurfaceSnapshot per venue, underlying and snapshot interval; retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone

from apps.venues.models import SurfaceSnapshot, Venue

__all__ = ["surface_snapshot_maybe_save", "surface_snapshots_prune"]

# Per process: the last bucket written per (venue, underlying), so most polls skip the INSERT.
# The unique constraint, not this cache, is what guarantees one row per bucket.
_last_bucket: dict[tuple[int, str], datetime] = {}


def _bucket(as_of_ms: int, interval_seconds: int) -> datetime:
    start = (as_of_ms // 1000 // interval_seconds) * interval_seconds
    return datetime.fromtimestamp(start, tz=UTC)


def surface_snapshot_maybe_save(*, venue: Venue, payload: dict[str, Any]) -> bool:
    """Store the surface if its snapshot bucket has none yet; returns whether we tried.

    Concurrent workers may both try: the insert ignores the (venue, underlying, bucket)
    conflict, so exactly one row exists per bucket."""
    underlying = payload["underlying"]
    bucket = _bucket(payload["as_of_ms"], venue.snapshot_interval_seconds)
    key = (venue.pk, underlying)
    if _last_bucket.get(key) == bucket:
        return False
    quotes = payload["quotes"]
    SurfaceSnapshot.objects.bulk_create(
        [
            SurfaceSnapshot(
                venue=venue,
                underlying=underlying,
                bucket=bucket,
                as_of=datetime.fromtimestamp(payload["as_of_ms"] / 1000, tz=UTC),
                index_price=payload["index_price"],
                quote_count=quotes["received"],
                used_count=quotes["priced"],
                dropped=quotes["dropped"],
                slices=payload["slices"],
                calendar_ok=payload["arbitrage"]["calendar_ok"],
            )
        ],
        ignore_conflicts=True,
    )
    _last_bucket[key] = bucket
    return True


def surface_snapshots_prune(*, older_than: timedelta, now: datetime | None = None) -> int:
    """Delete snapshots whose ``as_of`` is older than ``older_than``; returns how many."""
    if older_than <= timedelta(0):
        raise ValueError("older_than must be positive")
    cutoff = (now or timezone.now()) - older_than
    deleted, _ = SurfaceSnapshot.objects.filter(as_of__lt=cutoff).delete()
    return deleted
