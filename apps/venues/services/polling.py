"""Polling a venue: chain -> validate -> IV/Greeks/SVI/surface -> Redis + history -> publish.

Entry points (called by the Celery tasks, the ``poll_venue`` command, tests and the bench):

* :func:`venue_poll_chain` and :func:`venue_poll_positions` take a venue id, hold the venue's
  lock for that job (a second concurrent poll of the same venue and job returns at once with
  ``ran=False``), record health (success, or error with exponential backoff) and never raise
  for adapter failures;
* :func:`chain_process` is one underlying's pipeline, timed stage by stage (the benchmark
  prints those timings).

The poll lock is a Redis lock whose expiry equals the task's hard time limit, so a worker
killed mid-poll cannot block the venue for longer than that. A poll run by a task holds it
under the task id (``owner``): a redelivery of that same message (its worker was killed, so
the first run is dead) takes the lock over and finishes the work instead of skipping it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis
from django.db import transaction
from django.utils import timezone

from apps.realtime.publish import publish
from apps.venues.adapters.base import Credentials, PositionReport, VenueAdapter, VenueError
from apps.venues.adapters.registry import adapter_for
from apps.venues.models import Instrument, TradingAccount, Venue, VenuePosition
from apps.venues.services import store
from apps.venues.services.analytics import surface_compute
from apps.venues.services.credentials import account_ref_for
from apps.venues.services.health import poll_failure_record, poll_success_record
from apps.venues.services.instruments import instruments_ensure_listed, venue_instruments_sync
from apps.venues.services.payloads import (
    chain_columns,
    previous_params,
    publish_message,
    surface_payload,
)
from apps.venues.services.snapshots import surface_snapshot_maybe_save
from apps.venues.services.validation import chain_validate

__all__ = [
    "POLL_LOCK_SECONDS",
    "ChainUnusable",
    "LockAttempt",
    "PollOutcome",
    "UnderlyingResult",
    "chain_process",
    "error_text",
    "poll_lock",
    "positions_sync",
    "venue_poll_chain",
    "venue_poll_positions",
]

logger = logging.getLogger(__name__)

POLL_LOCK_SECONDS = 30  # equals the poll tasks' hard time limit
STAGES = ("fetch", "validate", "prepare", "iv_greeks", "svi", "surface", "store", "publish")


@dataclass
class UnderlyingResult:
    underlying: str
    ok: bool
    error: str = ""
    received: int = 0
    valid: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    slices: int = 0
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage


@dataclass
class PollOutcome:
    """What a poll did. ``ran`` is False when it was skipped (``skipped`` says why)."""

    venue_id: int
    job: str
    ran: bool
    ok: bool = False
    skipped: str = ""
    results: list[UnderlyingResult] = field(default_factory=list)
    error: str = ""


def error_text(exc: BaseException, secrets: list[str] | None = None) -> str:
    """A one-line, secret-free description of an adapter error for health and logs."""
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    for secret in secrets or []:
        if secret:
            text = text.replace(secret, "<redacted>")
    return text[:500]


class ChainUnusable(VenueError):
    """The venue answered, but not one quote survived validation (an empty book, garbage
    prices). That is no market data: the poll fails (health, backoff, staleness and so the
    venue breaker follow) and the last good surface is kept rather than replaced by nothing."""

    def __init__(self, received: int, dropped: dict[str, int]) -> None:
        reasons = ", ".join(f"{k} {v}" for k, v in dropped.items() if v) or "none"
        super().__init__(f"no usable quote among {received} received (dropped: {reasons})")


@dataclass(frozen=True)
class LockAttempt:
    """Whether a poll lock was taken; false with the reason (``already_running`` or
    ``lock_unavailable`` when Redis cannot be reached)."""

    acquired: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.acquired


def _acquire(lock: redis.lock.Lock, owner: str | None) -> bool:
    """Take the lock, or take it over from a dead earlier delivery of the same task."""
    if lock.acquire(blocking=False, token=owner):
        return True
    if owner is None:
        return False
    # Held under our own task id: only an earlier delivery of this message, whose worker died
    # (redelivery waits longer than the poll's time limit), so the holder is gone.
    lock.local.token = owner.encode()
    try:
        lock.reacquire()  # resets the expiry, only if the value is still our task id
    except redis.exceptions.LockNotOwnedError:
        lock.local.token = None
        return False
    logger.warning("poll lock %s taken over by a redelivery of task %s", lock.name, owner)
    return True


@contextmanager
def poll_lock(
    venue_id: int, job: str, *, seconds: int = POLL_LOCK_SECONDS, owner: str | None = None
) -> Iterator[LockAttempt]:
    """Try to take the venue's lock for ``job`` without waiting (``owner``: the task id)."""
    lock = store.redis_client().lock(
        f"bw:venues:lock:{job}:{venue_id}", timeout=seconds, blocking=False
    )
    try:
        attempt = LockAttempt(_acquire(lock, owner), "already_running")
    except redis.RedisError:
        # No Redis, no lock: skip rather than risk overlapping polls. The staleness sweep and
        # /readyz report the outage; the pollers need no traceback every second.
        logger.warning("poll lock %s/%s unavailable: Redis unreachable", job, venue_id)
        attempt = LockAttempt(False, "lock_unavailable")
    try:
        yield attempt
    finally:
        if attempt.acquired:
            try:
                lock.release()
            except redis.exceptions.LockError:
                logger.warning("poll lock %s/%s expired before the poll ended", job, venue_id)


def chain_process(*, venue: Venue, adapter: VenueAdapter, underlying: str) -> UnderlyingResult:
    """Fetch, validate, compute, store and publish one underlying's chain. Raises on failure.

    Guarantees: the Redis chain and surface are replaced together after a full computation
    (never half-written from a failed one); the snapshot row (if this bucket has none yet) and
    the publish happen in one transaction, the publish after commit."""
    t0 = time.perf_counter()
    chain = adapter.fetch_chain(underlying)
    received_at_ms = int(time.time() * 1000)
    t1 = time.perf_counter()
    validated = chain_validate(chain, max_quote_age_seconds=venue.max_quote_age_seconds)
    if len(validated.chain) == 0:
        raise ChainUnusable(validated.received, validated.dropped)
    t2 = time.perf_counter()
    # Every listed symbol, bad quotes included: an instrument exists whatever its quote.
    instruments_ensure_listed(
        venue=venue, adapter=adapter, underlying=underlying, symbols=chain.symbol
    )
    previous = store.surface_read(venue.name, underlying)
    t3 = time.perf_counter()
    computed = surface_compute(validated.chain, previous=previous_params(previous))
    t4 = time.perf_counter()
    payload = surface_payload(
        venue=venue.name, validated=validated, computed=computed, received_at_ms=received_at_ms
    )
    meta = {
        "venue": venue.name,
        "underlying": underlying,
        "as_of_ms": chain.as_of_ms,
        "received_at_ms": received_at_ms,
        "index_price": chain.index_price,
        "price_currency": chain.price_currency,
        "price_in_coin": chain.price_in_coin,
        "n": len(validated.chain),
        "dropped": validated.dropped,
    }
    store.chain_write(venue.name, underlying, meta, chain_columns(computed))
    store.surface_write(venue.name, underlying, payload)
    with transaction.atomic():
        surface_snapshot_maybe_save(venue=venue, payload=payload)
        publish(f"surface:{underlying}", publish_message(payload))
        t5 = time.perf_counter()
    t6 = time.perf_counter()  # the commit, then the on-commit publish to the channel layer
    timings = {
        "fetch": t1 - t0,
        "validate": t2 - t1,
        "prepare": t3 - t2,  # instrument check, previous surface (warm starts) from Redis
        **computed.timings,  # iv_greeks, svi, surface
        "store": t5 - t4,
        "publish": t6 - t5,
    }
    return UnderlyingResult(
        underlying=underlying,
        ok=True,
        received=validated.received,
        valid=len(validated.chain),
        dropped=validated.dropped,
        slices=len(computed.slices),
        timings=timings,
    )


def venue_poll_chain(*, venue_id: int, owner: str | None = None) -> PollOutcome:
    """Poll every underlying of the venue once (skipped if disabled or already running;
    ``owner``: the task id holding the poll lock)."""
    venue = Venue.objects.filter(pk=venue_id).first()
    if venue is None or not venue.enabled:
        return PollOutcome(venue_id, "chain", ran=False, skipped="disabled_or_missing")
    with poll_lock(venue.pk, "chain", owner=owner) as lock:
        if not lock:
            return PollOutcome(venue_id, "chain", ran=False, skipped=lock.reason)
        outcome = PollOutcome(venue_id, "chain", ran=True)
        try:
            adapter = adapter_for(venue)
        except Exception as exc:  # a venue we cannot even talk to is an error like any other
            outcome.error = error_text(exc)
            poll_failure_record(venue=venue, job="chain", error=outcome.error, at=timezone.now())
            return outcome
        for underlying in venue.underlyings:
            try:
                outcome.results.append(
                    chain_process(venue=venue, adapter=adapter, underlying=underlying)
                )
            except Exception as exc:  # the poller survives any adapter or store failure
                logger.info("chain poll of %s %s failed", venue, underlying, exc_info=True)
                outcome.results.append(
                    UnderlyingResult(underlying=underlying, ok=False, error=error_text(exc))
                )
        failures = [r for r in outcome.results if not r.ok]
        now = timezone.now()
        if failures:
            outcome.error = "; ".join(f"{r.underlying}: {r.error}" for r in failures)
            poll_failure_record(venue=venue, job="chain", error=outcome.error, at=now)
        if len(failures) < len(outcome.results) or not venue.underlyings:
            # Some market data arrived: the venue is alive (a failed underlying shows as an
            # old as_of on its own surface).
            if not failures:
                poll_success_record(venue=venue, job="chain", at=now)
            else:
                _partial_success(venue, now)
        outcome.ok = not failures
        return outcome


def _partial_success(venue: Venue, at: datetime) -> None:
    from apps.venues.models import VenueHealth

    VenueHealth.objects.filter(venue=venue).update(last_chain_ok_at=at)


def positions_sync(
    *, account: TradingAccount, reports: list[PositionReport], adapter: VenueAdapter
) -> int:
    """Make the account's VenuePosition rows equal the venue's report; returns the row count.

    Unknown symbols trigger one instrument sync; symbols still unknown are skipped (logged)."""
    venue = account.venue
    symbols = {r.symbol for r in reports}
    instruments = {i.symbol: i for i in Instrument.objects.filter(venue=venue, symbol__in=symbols)}
    if symbols - instruments.keys():
        venue_instruments_sync(venue=venue, adapter=adapter)
        instruments = {
            i.symbol: i for i in Instrument.objects.filter(venue=venue, symbol__in=symbols)
        }
    now = timezone.now()
    kept = []
    with transaction.atomic():
        for report in reports:
            instrument = instruments.get(report.symbol)
            if instrument is None:
                logger.warning("venue %s reports a position in unknown %s", venue, report.symbol)
                continue
            if report.size == 0:
                continue
            VenuePosition.objects.update_or_create(
                account=account,
                instrument=instrument,
                defaults={
                    "size": report.size,
                    "average_price": report.average_price,
                    "reported_at": now,
                },
            )
            kept.append(instrument.pk)
        VenuePosition.objects.filter(account=account).exclude(instrument_id__in=kept).delete()
    return len(kept)


def venue_poll_positions(*, venue_id: int, owner: str | None = None) -> PollOutcome:
    """Refresh the positions of every active account of the venue (``owner`` as above)."""
    venue = Venue.objects.filter(pk=venue_id).first()
    if venue is None or not venue.enabled:
        return PollOutcome(venue_id, "positions", ran=False, skipped="disabled_or_missing")
    with poll_lock(venue.pk, "positions", owner=owner) as lock:
        if not lock:
            return PollOutcome(venue_id, "positions", ran=False, skipped=lock.reason)
        outcome = PollOutcome(venue_id, "positions", ran=True)
        errors = []
        try:
            adapter = adapter_for(venue)
            accounts = list(TradingAccount.objects.filter(venue=venue, active=True))
        except Exception as exc:
            errors.append(error_text(exc))
            accounts = []
        for account in accounts:
            secrets: list[str] = []
            try:
                ref = account_ref_for(account)
                if isinstance(ref.credentials, Credentials):
                    secrets = ref.credentials.secrets()
                positions_sync(
                    account=account, reports=adapter.fetch_positions(ref), adapter=adapter
                )
            except Exception as exc:
                errors.append(f"{account.label}: {error_text(exc, secrets)}")
        now = timezone.now()
        if errors:
            outcome.error = "; ".join(errors)
            poll_failure_record(venue=venue, job="positions", error=outcome.error, at=now)
        else:
            poll_success_record(venue=venue, job="positions", at=now)
        outcome.ok = not errors
        return outcome


def describe_timings(results: list[UnderlyingResult]) -> dict[str, Any]:
    """Milliseconds per stage, summed over underlyings (for logs and the command)."""
    total: dict[str, float] = {}
    for result in results:
        for stage, seconds in result.timings.items():
            total[stage] = total.get(stage, 0.0) + seconds * 1000.0
    return {stage: round(ms, 2) for stage, ms in total.items()}
