"""The trading path's question: which breaker state applies to this order, right now?

:func:`breaker_effective_state` answers with the most restrictive state among the breakers that
match (global, the venue, the account, the underlying, the API key), and the breaker that
causes it. One Redis round trip (HMGET on the mirror hash) on the normal path; PostgreSQL when
Redis is unreachable or the mirror is unknown; ``halted`` when neither answers (fail closed).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, connection, connections

from apps.breakers.mirror import MirrorUnavailable, MirrorValue, mirror_read, mirror_rebuild
from apps.breakers.models import SCOPE_ORDER, SEVERITY, Breaker, BreakerScope, BreakerState

__all__ = [
    "BreakerRef",
    "EffectiveState",
    "breaker_effective_state",
    "breaker_mirror_resync",
    "mirror_value_of",
]

logger = logging.getLogger(__name__)

SOURCE_REDIS = "redis"
SOURCE_POSTGRES = "postgres"
SOURCE_FAIL_CLOSED = "fail_closed"
# A missing mirror is rebuilt by the first reader that notices, at most this often per process
# (the periodic resync does it anyway; this only shortens the time on PostgreSQL).
REBUILD_MIN_INTERVAL_SECONDS = 1.0

_SCOPE_RANK = {scope: i for i, scope in enumerate(SCOPE_ORDER)}
_rebuild_lock = threading.Lock()
_last_rebuild = [0.0]


@dataclass(frozen=True, slots=True)
class BreakerRef:
    """The breaker behind an effective state (plain values: no database row was loaded)."""

    id: int
    scope: str
    target: str
    state: str
    reason: str
    version: int

    @property
    def label(self) -> str:
        return "global" if self.scope == BreakerScope.GLOBAL else f"{self.scope} {self.target}"


@dataclass(frozen=True, slots=True)
class EffectiveState:
    """``state`` is ``active``, ``reduce_only`` or ``halted``; ``breaker`` the (broadest) most
    restrictive breaker, None when everything is active or when failing closed; ``source`` says
    where the answer came from: ``redis``, ``postgres`` or ``fail_closed``."""

    state: str
    breaker: BreakerRef | None
    source: str

    @property
    def halted(self) -> bool:
        return self.state == BreakerState.HALTED

    @property
    def reduce_only(self) -> bool:
        return self.state == BreakerState.REDUCE_ONLY


def _name(value: Any, attr: str) -> str:
    if value is None or isinstance(value, str):
        return value or ""
    return str(getattr(value, attr))


def _keys(account: Any, venue: Any, underlying: Any, api_key: Any) -> list[tuple[str, str]]:
    keys = [(BreakerScope.GLOBAL.value, "")]
    for scope, value, attr in (
        (BreakerScope.VENUE.value, venue, "name"),
        (BreakerScope.ACCOUNT.value, account, "label"),
        (BreakerScope.UNDERLYING.value, underlying, "underlying"),
        (BreakerScope.API_KEY.value, api_key, "key_id"),
    ):
        target = _name(value, attr)
        if target:
            keys.append((scope, target))
    return keys


def _pick(candidates: list[BreakerRef], source: str) -> EffectiveState:
    worst: BreakerRef | None = None
    for ref in candidates:
        if ref.state == BreakerState.ACTIVE:
            continue
        if (
            worst is None
            or SEVERITY[ref.state] > SEVERITY[worst.state]
            or (
                SEVERITY[ref.state] == SEVERITY[worst.state]
                and _SCOPE_RANK[ref.scope] < _SCOPE_RANK[worst.scope]
            )
        ):
            worst = ref
    if worst is None:
        return EffectiveState(BreakerState.ACTIVE.value, None, source)
    return EffectiveState(worst.state, worst, source)


def mirror_value_of(breaker: Breaker, *, written_ms: int) -> MirrorValue:
    return MirrorValue(breaker.version, written_ms, breaker.state, breaker.pk, breaker.reason)


def breaker_mirror_resync() -> int:
    """Rewrite the Redis mirror from PostgreSQL (periodic task, and readers finding it missing).
    Returns the number of leftover fields removed. Raises MirrorUnavailable or DatabaseError."""
    from apps.breakers.mirror import now_ms

    written = now_ms()
    rows = [
        (b.mirror_field, mirror_value_of(b, written_ms=written))
        for b in Breaker.objects.only("id", "scope", "target", "state", "reason", "version")
    ]
    return mirror_rebuild(rows)


def _maybe_rebuild() -> None:
    now = time.monotonic()
    if now - _last_rebuild[0] < REBUILD_MIN_INTERVAL_SECONDS or not _rebuild_lock.acquire(False):
        return
    try:
        _last_rebuild[0] = now
        breaker_mirror_resync()
    except (MirrorUnavailable, DatabaseError):
        logger.warning("breaker mirror rebuild failed; readers stay on PostgreSQL", exc_info=True)
    finally:
        _rebuild_lock.release()


def _from_postgres(keys: list[tuple[str, str]]) -> list[BreakerRef]:
    # Raw SQL: the ORM's query compilation cost more than the indexed lookup itself, and this
    # is the trading path whenever Redis is down.
    table = connection.ops.quote_name(Breaker._meta.db_table)
    pairs = ", ".join(["(%s, %s)"] * len(keys))
    sql = (
        f"SELECT id, scope, target, state, reason, version FROM {table} "  # noqa: S608  # nosec B608  # names from model metadata, values bound as parameters
        f"WHERE (scope, target) IN ({pairs}) AND state <> %s"
    )
    params: list[str] = [value for key in keys for value in key]
    params.append(BreakerState.ACTIVE.value)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [BreakerRef(*row) for row in cursor.fetchall()]


def breaker_effective_state(
    *,
    account: Any = None,
    venue: Any = None,
    underlying: Any = None,
    api_key: Any = None,
) -> EffectiveState:
    """The most restrictive breaker state that applies to an order of ``api_key`` for
    ``account`` at ``venue`` on ``underlying`` (names, or the model instances; any may be None).

    Guarantees: never older than the last committed breaker change (see apps.breakers.mirror
    for why the Redis path holds that); if Redis is unreachable the answer comes from
    PostgreSQL; if PostgreSQL fails too the answer is ``halted`` with ``source="fail_closed"``.
    Never raises for an unavailable dependency.
    """
    keys = _keys(account, venue, underlying, api_key)
    mirror_missing = False
    try:
        values = mirror_read([f"{scope}:{target}" for scope, target in keys])
    except MirrorUnavailable:
        values = None
    else:
        if values is not None:
            refs = [
                BreakerRef(v.breaker_id, scope, target, v.state, v.reason, v.version)
                for (scope, target), v in zip(keys, values, strict=True)
                if v is not None
            ]
            return _pick(refs, SOURCE_REDIS)
        mirror_missing = True
    try:
        refs = _from_postgres(keys)
    except DatabaseError:
        logger.error("breaker check: Redis and PostgreSQL both unavailable; failing closed")
        _discard_broken_connection()
        return EffectiveState(BreakerState.HALTED.value, None, SOURCE_FAIL_CLOSED)
    if mirror_missing:
        _maybe_rebuild()
    return _pick(refs, SOURCE_POSTGRES)


def _discard_broken_connection() -> None:
    connection = connections["default"]
    try:
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()
    except Exception:  # closing a dead connection may itself fail; the next query reconnects
        logger.debug("closing the broken database connection failed", exc_info=True)
