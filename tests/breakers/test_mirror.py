"""The Redis mirror's write rules: versions order writes; the resync repairs only leftovers."""

from __future__ import annotations

import pytest

from apps.breakers.mirror import (
    GEN_FIELD,
    IN_FLIGHT_MS,
    MIRROR_KEY,
    MirrorValue,
    mirror_read,
    mirror_rebuild,
    mirror_undo,
    mirror_write,
    now_ms,
)

pytestmark = pytest.mark.django_db


def value(version: int, state: str, *, age_ms: int = 0, breaker_id: int = 1) -> MirrorValue:
    return MirrorValue(version, now_ms() - age_ms, state, breaker_id, f"v{version}")


def test_a_lower_version_never_replaces_a_higher_one(redis_client):
    mirror_rebuild([])
    assert mirror_write(field="venue:SIM", value=value(5, "halted")).applied
    late = mirror_write(field="venue:SIM", value=value(4, "active"))  # a late after-commit write
    assert not late.applied
    assert mirror_read(["venue:SIM"])[0].state == "halted"


def test_undo_restores_only_its_own_write(redis_client):
    mirror_rebuild([("venue:SIM", value(1, "active"))])
    receipt = mirror_write(field="venue:SIM", value=value(2, "halted"))
    assert mirror_undo(receipt)
    assert mirror_read(["venue:SIM"])[0].version == 1
    fresh = mirror_write(field="account:A", value=value(1, "halted"))
    mirror_write(field="account:A", value=value(2, "reduce_only"))  # someone else's, newer
    assert not mirror_undo(fresh)
    assert mirror_read(["account:A"])[0].state == "reduce_only"


def test_the_resync_keeps_in_flight_writes_and_repairs_leftovers(redis_client):
    committed = value(3, "active")
    # In flight: a trip written before its commit, moments ago.
    mirror_write(field="venue:SIM", value=value(4, "halted"))
    # Leftover: a trip whose transaction died without its undo, long ago.
    mirror_write(field="venue:OLD", value=value(9, "halted", age_ms=IN_FLIGHT_MS + 1000))
    # A breaker that does not exist (its creation rolled back), long ago and just now.
    mirror_write(field="account:GONE", value=value(1, "halted", age_ms=IN_FLIGHT_MS + 1000))
    mirror_write(field="account:NEW", value=value(1, "halted"))
    removed = mirror_rebuild([("venue:SIM", committed), ("venue:OLD", value(2, "active"))])
    assert removed == 1
    sim, old, gone, new = mirror_read(["venue:SIM", "venue:OLD", "account:GONE", "account:NEW"])
    assert sim.state == "halted"  # may still commit: kept
    assert (old.state, old.version) == ("active", 2)  # repaired from PostgreSQL
    assert gone is None and new.state == "halted"


def test_without_a_generation_the_mirror_is_unknown(redis_client):
    mirror_write(field="venue:SIM", value=value(1, "halted"))
    assert mirror_read(["venue:SIM"]) is None  # not "active": nobody built it
    mirror_rebuild([])
    assert redis_client.hget(MIRROR_KEY, GEN_FIELD)
    assert mirror_read(["venue:SIM"])[0].state == "halted"
