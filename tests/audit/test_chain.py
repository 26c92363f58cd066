"""The canonical form and the chain rules, checked without a database (apps/audit/chain.py)."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone

import pytest

from apps.audit.chain import (
    GENESIS_HASH,
    canonical_json,
    event_hash,
    format_timestamp,
    verify_records,
)

# The test vector published in docs/audit.md.
DOC_PAYLOAD = {
    "version": 1,
    "sequence": 1,
    "occurred_at": "2025-01-31T09:30:00.123456Z",
    "actor_kind": "user",
    "actor_id": "7",
    "actor_label": "rita",
    "action": "breaker.reset",
    "target_type": "breakers.breaker",
    "target_id": "3",
    "details": {
        "reason": "venue back",
        "scope": "venue",
        "from": "halted",
        "to": "active",
        "note": "café",
    },
    "client_ip": "192.0.2.10",
    "user_agent": "Mozilla/5.0",
    "prev_hash": GENESIS_HASH,
}
DOC_CANONICAL = (
    '{"action":"breaker.reset","actor_id":"7","actor_kind":"user","actor_label":"rita",'
    '"client_ip":"192.0.2.10","details":{"from":"halted","note":"caf\\u00e9","reason":'
    '"venue back","scope":"venue","to":"active"},"occurred_at":"2025-01-31T09:30:00.123456Z",'
    '"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000",'
    '"sequence":1,"target_id":"3","target_type":"breakers.breaker","user_agent":"Mozilla/5.0",'
    '"version":1}'
)
DOC_HASH = "53ddff0982c4eaf779f04c9f180caf57d2d090fb480f450a6819baec36468d52"


def test_documented_vector():
    assert canonical_json(DOC_PAYLOAD) == DOC_CANONICAL
    assert event_hash(DOC_PAYLOAD) == DOC_HASH


def test_timestamps_are_fixed_width_utc():
    plus_two = timezone(timedelta(hours=2))
    assert format_timestamp(datetime(2025, 1, 31, 11, 30, tzinfo=plus_two)) == (
        "2025-01-31T09:30:00.000000Z"
    )
    with pytest.raises(ValueError):
        format_timestamp(datetime(2025, 1, 31))


def test_payload_must_have_exactly_the_documented_fields():
    with pytest.raises(ValueError):
        event_hash({**DOC_PAYLOAD, "extra": 1})
    with pytest.raises(ValueError):
        event_hash({k: v for k, v in DOC_PAYLOAD.items() if k != "details"})


def chain(n: int) -> list[dict]:
    records, prev = [], GENESIS_HASH
    for seq in range(1, n + 1):
        payload = {**copy.deepcopy(DOC_PAYLOAD), "sequence": seq, "prev_hash": prev}
        payload["target_id"] = str(seq)
        prev = event_hash(payload)
        records.append({**payload, "hash": prev})
    return records


def test_a_valid_chain_and_a_valid_slice():
    records = chain(6)
    assert verify_records(records).ok
    assert verify_records(records).head == records[-1]["hash"]
    # A slice needs its start accepted as given.
    assert not verify_records(records[2:]).ok
    sliced = verify_records(
        records[2:], expected_first_sequence=None, expected_first_prev_hash=None
    )
    assert sliced.ok and sliced.count == 4


@pytest.mark.parametrize(
    ("tamper", "first_bad"),
    [
        (lambda r: r[3]["details"].update(to="halted"), 4),
        (lambda r: r.pop(2), 3),
        (lambda r: r.insert(1, r.pop(4)), 2),
        (lambda r: r[0].update(prev_hash="f" * 64), 1),
        (lambda r: r[4].update(version=2), 5),
    ],
    ids=["edited", "deleted", "moved", "new-genesis", "unknown-version"],
)
def test_tampering_names_the_first_bad_sequence(tamper, first_bad):
    records = chain(6)
    tamper(records)
    result = verify_records(records)
    assert not result.ok
    assert result.first_bad_sequence == first_bad


def test_anchors_catch_a_consistent_rewrite_and_a_cut_tail():
    records = chain(6)
    anchors = {6: records[5]["hash"]}
    assert verify_records(records, anchors=anchors).ok
    assert verify_records(records[:5], anchors=anchors).first_bad_sequence == 6
    rewritten = chain(6)
    rewritten_tail = [{**r, "actor_label": "mallory"} for r in rewritten[3:]]
    prev = rewritten[2]["hash"]
    for r in rewritten_tail:  # re-hash everything from event 4 on: valid by itself...
        r["prev_hash"] = prev
        r["hash"] = prev = event_hash({k: v for k, v in r.items() if k != "hash"})
    forged = rewritten[:3] + rewritten_tail
    assert verify_records(forged).ok
    assert verify_records(forged, anchors=anchors).first_bad_sequence == 6  # ...not to an anchor
