"""Fuzz every operation with a key holding every scope, through every phase (examples,
coverage, fuzzing, stateful): no 5xx, every answer as documented, and the trading path
reached (orders placed, refused by the pre-trade checks, read back and cancelled)."""

from __future__ import annotations

import pytest

from apps.apikeys.scopes import ALL_SCOPES
from apps.gateway.models import Order
from apps.venues.models import SimOrder
from tests.fuzz.conftest import fuzz_key
from tests.fuzz.runner import fuzz_run, is_2xx

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_every_operation_with_every_scope(load_schema, fuzz_world):
    schema = load_schema(key=fuzz_key(ALL_SCOPES, "fuzz all scopes"), world=fuzz_world)
    seeded_orders, seeded_at_venue = Order.objects.count(), SimOrder.objects.count()
    report = fuzz_run(schema)
    print(report.summary())
    assert not report.failures and not report.errors, report.problems()

    # Deep, not only refused: every documented operation answered 2xx at least once ...
    documented = {op.ok().label for op in schema.get_all_operations()}
    assert {op for op in documented if report.count(op, is_2xx) == 0} == set()
    # ... and orders went through the pipeline both ways and reached the simulated venue.
    assert report.count("POST /api/v1/orders", lambda s: s == 201) > 0
    assert report.count("POST /api/v1/orders", lambda s: s == 422) > 0
    assert Order.objects.count() > seeded_orders
    assert SimOrder.objects.count() > seeded_at_venue
    # The stateful phase followed the links (placed orders read back and cancelled by id).
    assert report.phases["stateful"] > 0, report.phases
