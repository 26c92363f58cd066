"""The latest risk snapshot, kept in Redis (it is rebuilt by the next evaluation).

``bw:risk:snapshot`` holds the whole evaluation as compact JSON: positions, aggregates per
account / underlying / venue / expiry bucket / book, scenario grids and limit utilisation.
Readers (pages, API) filter it to what the person or key may see.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from apps.venues.services.store import StoreUnavailable, redis_client

__all__ = ["SNAPSHOT_KEY", "snapshot_read", "snapshot_write"]

SNAPSHOT_KEY = "bw:risk:snapshot"
TTL_SECONDS = 86400


def snapshot_write(snapshot: dict[str, Any]) -> None:
    try:
        redis_client().set(
            SNAPSHOT_KEY,
            json.dumps(snapshot, separators=(",", ":"), allow_nan=False),
            ex=TTL_SECONDS,
        )
    except redis.RedisError as exc:
        raise StoreUnavailable(str(exc)) from exc


def snapshot_read() -> dict[str, Any] | None:
    """The latest snapshot, None if no evaluation ran yet. Raises StoreUnavailable."""
    try:
        raw = redis_client().get(SNAPSHOT_KEY)
    except redis.RedisError as exc:
        raise StoreUnavailable(str(exc)) from exc
    return json.loads(raw) if raw else None
