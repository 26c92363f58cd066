"""Fuzz every operation with keys that lack scopes: a key holding none, then a key per single
scope. Nothing answers 2xx without the scope the operation declares (tests/fuzz/checks.py,
from the URL configuration), and a key's own scope still works (so the refusals are about the
scope, not about broken requests); no 5xx and every answer as documented, as with every scope.
"""

from __future__ import annotations

import pytest

from apps.apikeys.scopes import ALL_SCOPES
from tests.fuzz.conftest import MAX_EXAMPLES, fuzz_key
from tests.fuzz.runner import fuzz_run, is_2xx

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Operations any valid key (or no key at all) may call.
OPEN = {"GET /api/ping", "GET /api/v1/me"}
SCOPE_OF = {  # the operations each scope opens (docs/apikeys.md)
    "market:read": {
        "GET /api/v1/instruments",
        "GET /api/v1/chains/{underlying}",
        "GET /api/v1/surfaces/{underlying}",
        "GET /api/v1/surfaces/{underlying}/history",
    },
    "positions:read": {"GET /api/v1/positions", "GET /api/v1/risk"},
    "orders:read": {"GET /api/v1/orders", "GET /api/v1/orders/{order_id}"},
    "orders:write": {
        "POST /api/v1/orders",
        "DELETE /api/v1/orders/{order_id}",
        "POST /api/v1/orders/cancel-all",
        "POST /api/v1/heartbeat",
    },
    "breakers:read": {"GET /api/v1/breakers"},
    "breakers:trip": {"POST /api/v1/breakers/trip"},
}


def succeeded(report) -> set[str]:
    return {op for op in report.operations() if report.count(op, is_2xx)}


def test_a_key_with_no_scope_gets_nothing_but_itself(load_schema, fuzz_world):
    schema = load_schema(key=fuzz_key((), "fuzz no scope"), world=fuzz_world)
    report = fuzz_run(schema)
    print(report.summary())
    assert not report.failures and not report.errors, report.problems()
    assert succeeded(report) == OPEN
    for op in set().union(*SCOPE_OF.values()):
        assert report.codes[(op, "insufficient_scope")] > 0, op


def test_a_key_per_scope_gets_exactly_its_operations(load_schema, fuzz_world):
    assert set(SCOPE_OF) == set(ALL_SCOPES)
    # Fewer examples, no coverage or stateful phase: what is under test here is the scope
    # gate, which comes before any parsing of the request (the data is fuzzed above).
    quick = {"coverage": {"enabled": False}, "stateful": {"enabled": False}}
    for scope in ALL_SCOPES:
        schema = load_schema(
            key=fuzz_key([scope], f"fuzz {scope}"),
            world=fuzz_world,
            max_examples=max(MAX_EXAMPLES // 2, 3),
            phases=quick,
        )
        report = fuzz_run(schema)
        print(scope, report.summary())
        assert not report.failures and not report.errors, f"{scope}:\n{report.problems()}"
        assert succeeded(report) == OPEN | SCOPE_OF[scope], scope
