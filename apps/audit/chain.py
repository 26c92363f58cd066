"""The hash chain, in pure Python (no Django import), so an outside tool can re-verify it.

Each event is hashed as::

    hash = sha256(canonical_json(payload)).hexdigest()

where ``payload`` is the flat JSON object documented in docs/audit.md (the event's stored fields
plus ``prev_hash`` and ``version``) and ``canonical_json`` is ``json.dumps`` with sorted keys, no
whitespace and ASCII-only output. The first event's ``prev_hash`` is 64 zeros. An export line
(``export_audit``) is exactly that payload plus ``"hash"``, so this module alone can check it:

    python -m apps.audit.chain audit-2025-01.jsonl
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

HASH_VERSION = 1
GENESIS_HASH = "0" * 64

# Fields covered by the hash, in the order they are documented (serialisation sorts keys).
PAYLOAD_FIELDS: tuple[str, ...] = (
    "version",
    "sequence",
    "occurred_at",
    "actor_kind",
    "actor_id",
    "actor_label",
    "action",
    "target_type",
    "target_id",
    "details",
    "client_ip",
    "user_agent",
    "prev_hash",
)


def canonical_json(value: Any) -> str:
    """The one serialisation that is hashed: sorted keys, no spaces, ASCII, no NaN/Infinity."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


def format_timestamp(moment: datetime) -> str:
    """UTC with microseconds and a ``Z``: ``2025-01-31T23:59:59.123456Z`` (fixed width)."""
    if moment.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(payload: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical payload. ``payload`` must hold exactly PAYLOAD_FIELDS."""
    missing = set(PAYLOAD_FIELDS) - set(payload)
    extra = set(payload) - set(PAYLOAD_FIELDS)
    if missing or extra:
        raise ValueError(f"payload fields differ: missing {sorted(missing)}, extra {sorted(extra)}")
    return hashlib.sha256(canonical_json(dict(payload)).encode("ascii")).hexdigest()


@dataclass(frozen=True)
class ChainVerification:
    """Outcome of checking a chain (or a contiguous slice of it).

    ok: every event links to its predecessor and its hash matches its content.
    count: events checked. head: hash of the last event that verified (the chain's head when
    ok). first_bad_sequence: the first sequence number that is missing, edited or out of place.
    """

    ok: bool
    count: int
    head: str
    first_bad_sequence: int | None = None
    reason: str = ""


def verify_records(
    records: Iterable[Mapping[str, Any]],
    *,
    expected_first_sequence: int | None = 1,
    expected_first_prev_hash: str | None = GENESIS_HASH,
    anchors: Mapping[int, str] | None = None,
) -> ChainVerification:
    """Check records (payload fields plus ``hash``) in the order given.

    For a whole chain keep the defaults (it starts at sequence 1 after the genesis hash). For an
    export slice pass ``None`` to accept the first record's sequence and prev_hash as given; the
    slice is then checked internally and its first prev_hash can be compared with the previous
    export's last hash. ``anchors`` maps sequence numbers to hashes recorded elsewhere (a printed
    head, a ticket): a chain rewritten from some point on, or cut short, no longer matches them.
    """
    pending = dict(anchors or {})
    expected_seq = expected_first_sequence
    expected_prev = expected_first_prev_hash
    count = 0
    head = expected_first_prev_hash or ""
    for record in records:
        seq = int(record["sequence"])
        if expected_seq is not None and seq != expected_seq:
            if seq > expected_seq:
                reason = f"event {expected_seq} is missing (found {seq} next)"
            else:
                reason = f"event {seq} is out of order (expected {expected_seq})"
            return ChainVerification(False, count, head, expected_seq, reason)
        payload = {field: record[field] for field in PAYLOAD_FIELDS}
        if payload["version"] != HASH_VERSION:
            return ChainVerification(
                False,
                count,
                head,
                seq,
                f"event {seq} uses unknown hash version {payload['version']}",
            )
        if expected_prev is not None and payload["prev_hash"] != expected_prev:
            return ChainVerification(
                False, count, head, seq, f"event {seq} does not link to its predecessor"
            )
        if event_hash(payload) != record["hash"]:
            return ChainVerification(
                False, count, head, seq, f"event {seq} content does not match its hash"
            )
        if seq in pending and pending.pop(seq) != record["hash"]:
            return ChainVerification(
                False, count, head, seq, f"event {seq} differs from its recorded anchor"
            )
        count += 1
        head = str(record["hash"])
        expected_seq = seq + 1
        expected_prev = head
    if pending:
        seq = min(pending)
        return ChainVerification(
            False, count, head, seq, f"anchored event {seq} is missing (chain cut short?)"
        )
    return ChainVerification(True, count, head)


def read_jsonl(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Parse an export: one JSON object per non-empty line."""
    for line in lines:
        if line.strip():
            yield json.loads(line)


def main(argv: list[str] | None = None) -> int:
    """Offline check of an ``export_audit`` file: ``python -m apps.audit.chain FILE``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m apps.audit.chain EXPORT.jsonl", file=sys.stderr)
        return 2
    with open(args[0], encoding="ascii") as handle:
        records = list(read_jsonl(handle))
    from_start = bool(records) and int(records[0]["sequence"]) == 1
    result = verify_records(
        records,
        expected_first_sequence=1 if from_start else None,
        expected_first_prev_hash=GENESIS_HASH if from_start else None,
    )
    if result.ok:
        first = records[0]["prev_hash"] if records else GENESIS_HASH
        print(f"OK {result.count} events, head {result.head}, links to {first}")
        return 0
    print(f"FAILED at event {result.first_bad_sequence}: {result.reason}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
