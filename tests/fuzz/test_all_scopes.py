"""Fuzz every operation with a key holding every scope: no 5xx, every answer as documented,
and the trading path reached (orders accepted, rejected by the checks, read back, cancelled)."""

from __future__ import annotations

import pytest

from apps.apikeys.scopes import ALL_SCOPES
from tests.fuzz.conftest import fuzz_key
from tests.fuzz.runner import fuzz_run

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_every_operation_with_every_scope(load_schema, fuzz_world):
    schema = load_schema(key=fuzz_key(ALL_SCOPES, "fuzz all scopes"), world=fuzz_world)
    report = fuzz_run(schema)
    print(report.summary())
    assert not report.failures and not report.errors, report.problems()
