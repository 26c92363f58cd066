"""Writing and verifying the audit chain. Every app records through ``audit_record``."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from django.db import connections, models, transaction
from django.http import HttpRequest

from apps.audit.actions import AuditAction
from apps.audit.actors import Actor
from apps.audit.chain import (
    GENESIS_HASH,
    HASH_VERSION,
    PAYLOAD_FIELDS,
    ChainVerification,
    canonical_json,
    event_hash,
    format_timestamp,
    verify_records,
)
from apps.audit.details import clean_text, details_sanitise
from apps.audit.models import AuditEvent

__all__ = [
    "CHAIN_LOCK_KEY",
    "AuditExport",
    "AuditIsolationError",
    "ChainVerification",
    "audit_export",
    "audit_record",
    "audit_verify_chain",
    "audit_verify_chain_recorded",
]

# pg_advisory_xact_lock key that serialises appends to the chain across every process.
# The first 8 bytes of sha256(b"breakwater.audit.chain") as a signed int64, so it is unlikely to
# collide with another advisory lock user; docs/audit.md names it for DBAs reading pg_locks.
CHAIN_LOCK_KEY = 5474802093017496334

TARGET_TYPE_MAX = 100
TARGET_ID_MAX = 64
USER_AGENT_MAX = 512


class AuditIsolationError(RuntimeError):
    """audit_record was called in a transaction whose snapshot could miss the chain head."""


def _target_ref(target: models.Model | tuple[str, str] | None) -> tuple[str, str]:
    if target is None:
        return "", ""
    if isinstance(target, models.Model):
        if target.pk is None:
            raise ValueError("audit target must be saved (it has no primary key)")
        return target._meta.label_lower, str(target.pk)
    target_type, target_id = target
    return (
        clean_text(str(target_type))[:TARGET_TYPE_MAX],
        clean_text(str(target_id))[:TARGET_ID_MAX],
    )


def _request_meta(request: HttpRequest | None) -> tuple[str | None, str]:
    """Client IP and user agent. REMOTE_ADDR only: X-Forwarded-For is client-controlled unless
    a trusted proxy rewrites REMOTE_ADDR (configure that in the proxy, not here)."""
    if request is None:
        return None, ""
    raw_ip = request.META.get("REMOTE_ADDR") or ""
    try:
        # Validated here; spelled by PostgreSQL in audit_record (inet prints some addresses,
        # e.g. IPv4-mapped IPv6, differently from Python's ipaddress). inet has no zone ids.
        ip: str | None = str(ipaddress.ip_address(raw_ip.split("%", 1)[0]))
    except ValueError:
        ip = None
    agent = clean_text(str(request.META.get("HTTP_USER_AGENT", "")))[:USER_AGENT_MAX]
    return ip, agent


def audit_record(
    *,
    action: AuditAction | str,
    actor: Actor,
    target: models.Model | tuple[str, str] | None = None,
    details: Mapping[str, Any] | None = None,
    request: HttpRequest | None = None,
    using: str = "default",
) -> AuditEvent:
    """Append one event to the chain, in the caller's transaction.

    Guarantees: the event commits or rolls back with the caller's transaction (called in
    autocommit mode it commits on its own); appends are serialised by a transaction-scoped
    advisory lock, so sequence order is chain order and no two events share a prev_hash, across
    any number of processes; details are stored secret-free (see apps.audit.details).

    The lock is held until the caller's transaction ends, so record last, just before commit,
    and keep slow work (network calls) out of audited transactions.
    """
    action = AuditAction(action)  # an unknown name is a bug: fail loudly
    if not isinstance(actor, Actor):
        raise TypeError("actor must be an apps.audit.actors.Actor")
    target_type, target_id = _target_ref(target)
    clean_details = details_sanitise(details)
    client_ip, user_agent = _request_meta(request)

    # savepoint=False: inside the caller's atomic block a failure here must doom the whole
    # transaction (an action without its audit event must not commit).
    with transaction.atomic(using=using, savepoint=False):
        with connections[using].cursor() as cursor:
            # Takes the lock, then reads the head its previous holder committed, the database
            # clock (so time never runs backwards along the chain) and inet's spelling of the IP
            # (so the hash covers exactly the text read back later). One round trip: see
            # migration 0003.
            cursor.execute(
                "SELECT isolation, occurred_at, ip, head_sequence, head_hash "
                "FROM audit_chain_claim_head(%s, %s::inet)",
                [CHAIN_LOCK_KEY, client_ip],
            )
            isolation, occurred_at, client_ip, head_sequence, head_hash = cursor.fetchone()
        if isolation != "read committed":
            # A REPEATABLE READ/SERIALIZABLE snapshot may predate the lock and miss the head;
            # the insert trigger would refuse the event, so say why up front.
            raise AuditIsolationError(
                f"audit_record needs READ COMMITTED (Django's default), not {isolation}"
            )
        event = AuditEvent(
            sequence=(head_sequence or 0) + 1,
            version=HASH_VERSION,
            occurred_at=occurred_at,
            actor_kind=actor.kind,
            actor_id=actor.id,
            actor_label=actor.label,
            action=action.value,
            target_type=target_type,
            target_id=target_id,
            details=clean_details,
            client_ip=client_ip,
            user_agent=user_agent,
            prev_hash=head_hash or GENESIS_HASH,
        )
        event.hash = event_hash(event.payload())
        event.save(using=using)
    return event


def _stored_records(using: str, chunk_size: int) -> Iterator[dict[str, Any]]:
    fields = [f for f in PAYLOAD_FIELDS if f != "occurred_at"]
    rows = (
        AuditEvent.objects.using(using)
        .order_by("sequence")
        .values(*fields, "occurred_at", "hash")
        .iterator(chunk_size=chunk_size)
    )
    for row in rows:
        row["occurred_at"] = format_timestamp(row["occurred_at"])
        yield row


def audit_verify_chain(
    *, anchors: Mapping[int, str] | None = None, using: str = "default", chunk_size: int = 2000
) -> ChainVerification:
    """Recompute the whole chain from the stored rows.

    Detects an edited event (its hash no longer matches), a deleted one (a gap in the sequence)
    and reordered ones (sequence and links disagree), and reports the first bad sequence number.
    ``anchors`` (sequence -> hash recorded elsewhere) also catch a chain rewritten from some
    point on or cut short. Reads in one snapshot; runs in constant memory.
    """
    outermost = not connections[using].in_atomic_block
    with transaction.atomic(using=using):
        if outermost:
            # One consistent view of the chain even while writers append to it.
            with connections[using].cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        return verify_records(_stored_records(using, chunk_size), anchors=anchors)


@dataclass(frozen=True)
class AuditExport:
    """What an export wrote: a contiguous run of sequences, verifiable on its own."""

    count: int
    first_sequence: int | None
    last_sequence: int | None
    first_prev_hash: str | None
    last_hash: str | None


def audit_export(
    *,
    since: datetime,
    until: datetime | None,
    out: TextIO,
    actor: Actor,
    using: str = "default",
    chunk_size: int = 2000,
) -> AuditExport:
    """Write events with since <= occurred_at < until as JSON Lines, then audit the export.

    Each line is the hashed payload plus ``hash`` (apps.audit.chain), so the file can be
    re-verified offline with ``python -m apps.audit.chain FILE``. The range is resolved to the
    first and last matching sequence numbers and everything between them is written, so an
    export never has holes. Reads one snapshot; the ``audit.exported`` event is appended after.
    """
    if since.tzinfo is None or (until is not None and until.tzinfo is None):
        raise ValueError("export bounds must be timezone-aware")
    if until is not None and until <= since:
        raise ValueError("--until must be after --since")
    first = last = None
    first_prev = last_hash = None
    count = 0
    outermost = not connections[using].in_atomic_block
    with transaction.atomic(using=using):
        if outermost:
            with connections[using].cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        in_range = AuditEvent.objects.using(using).filter(occurred_at__gte=since)
        if until is not None:
            in_range = in_range.filter(occurred_at__lt=until)
        bounds = in_range.aggregate(lo=models.Min("sequence"), hi=models.Max("sequence"))
        if bounds["lo"] is not None:
            events = (
                AuditEvent.objects.using(using)
                .filter(sequence__gte=bounds["lo"], sequence__lte=bounds["hi"])
                .order_by("sequence")
                .iterator(chunk_size=chunk_size)
            )
            for event in events:
                out.write(canonical_json({**event.payload(), "hash": event.hash}) + "\n")
                if first is None:
                    first, first_prev = event.sequence, event.prev_hash
                last, last_hash = event.sequence, event.hash
                count += 1
    out.flush()
    audit_record(
        action=AuditAction.AUDIT_EXPORTED,
        actor=actor,
        details={
            "since": since,
            "until": until,
            "count": count,
            "first_sequence": first,
            "last_sequence": last,
            "last_hash": last_hash,
        },
        using=using,
    )
    return AuditExport(count, first, last, first_prev, last_hash)


def audit_verify_chain_recorded(
    *, actor: Actor, request: HttpRequest | None = None, using: str = "default"
) -> ChainVerification:
    """Verify the whole chain (as :func:`audit_verify_chain`), then append one
    ``audit.verified`` event naming who checked and the outcome (count, head, first bad
    sequence). The event is written after the check, so it never covers itself; a failed
    check is recorded too (appending still works on a broken chain: only the head matters)."""
    result = audit_verify_chain(using=using)
    audit_record(
        action=AuditAction.AUDIT_VERIFIED,
        actor=actor,
        details={
            "ok": result.ok,
            "count": result.count,
            "head": result.head,
            "first_bad_sequence": result.first_bad_sequence,
            "reason": result.reason,
        },
        request=request,
        using=using,
    )
    return result
