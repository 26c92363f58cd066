"""Fuzz fixtures: the seeded world, keys, and a schemathesis schema loaded from the running
server's ``/api/schema/`` for one key.

Bounded for CI by FUZZ_MAX_EXAMPLES (examples per operation and generation mode; default 10);
``make fuzz`` runs the same tests with 1000. FUZZ_SEED fixes the generated data (default: a
constant, so a CI failure reproduces locally with the same command).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.config._checks import POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES as _ACCEPTED

from apps.accounts.roles import roles_ensure
from apps.apikeys.models import ApiKey
from apps.apikeys.scopes import ALL_SCOPES
from apps.breakers.mirror import mirror_forget_backoff
from tests.apikeys.factories import issue
from tests.fuzz import hooks
from tests.fuzz.checks import KEY_SCOPES
from tests.fuzz.world import ACCOUNTS, KEY_RATE, FuzzWorld, fuzz_world_build

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "10"))
SEED = int(os.environ.get("FUZZ_SEED", "20260511"))

# How often a generated value is swapped for a real one of the world (the rest stays random,
# so unknown accounts, instruments and ids are fuzzed too).
_REAL_VALUES = {
    "body.account": ("accounts", 0.8),
    "body.instrument": ("symbols", 0.8),
    "body.price": ("prices", 0.6),
    "body.quantity": ("quantities", 0.6),
    "body.target": ("accounts", 0.5),
    "query.account": ("accounts", 0.5),
    "query.instrument": ("symbols", 0.5),
    "query.underlying": ("underlyings", 0.5),
    "query.venue": ("venues", 0.5),
    "path.underlying": ("underlyings", 0.8),
    "path.order_id": ("orders", 0.7),
}


# Where the server refuses schema-valid data by a rule a schema cannot state, the documented
# refusal counts as an answer for positive_data_acceptance (and only there): a pre-trade reject
# (422, DESIGN.md) of an order, and a history window whose ``from`` is after its ``to`` (400).
# And cancelling is not deleting (below). Every other check runs as schemathesis ships it.
def _business_rejects(max_examples: int) -> list[dict[str, Any]]:
    return [
        {
            "include-path": "/api/v1/orders",
            "include-method": "POST",
            "checks": {"positive_data_acceptance": {"expected-statuses": [*_ACCEPTED, "422"]}},
            # The trading path has the most to find: it gets more examples than the reads.
            "generation": {"max-examples": 4 * max_examples},
        },
        {
            # DELETE cancels an order; the cancelled order stays readable (status cancelled,
            # docs/gateway.md): that is the record a trading desk keeps, not a use after free.
            "include-path": "/api/v1/orders/{order_id}",
            "include-method": "DELETE",
            "checks": {"use_after_free": {"enabled": False}},
        },
        {
            "include-path": "/api/v1/surfaces/{underlying}/history",
            "include-method": "GET",
            "checks": {"positive_data_acceptance": {"expected-statuses": [*_ACCEPTED, "400"]}},
        },
    ]


@pytest.fixture(autouse=True)
def _roles_and_redis(request):
    """Transactional tests flush the tables the data migrations filled; each test starts with
    an empty test Redis db and no remembered Redis failure."""
    mirror_forget_backoff()
    request.getfixturevalue("_django_db_helper")
    roles_ensure()
    request.getfixturevalue("redis_client")
    yield
    mirror_forget_backoff()


@pytest.fixture
def fuzz_world(live_server_process, transactional_db) -> FuzzWorld:
    return fuzz_world_build(live_server_process)


def fuzz_key(scopes: list[str] | tuple[str, ...], name: str) -> str:
    """A key bound to both fuzz accounts, with a rate no fuzz run exhausts. ``scopes=()``:
    the service refuses to issue a key without a scope, so one is issued and its row emptied
    (a key edited to nothing must still be refused everywhere)."""
    issued = issue(scopes=scopes or ALL_SCOPES[:1], accounts=list(ACCOUNTS), name=name, **KEY_RATE)
    if not scopes:
        ApiKey.objects.filter(pk=issued.api_key.pk).update(scopes=[])
    KEY_SCOPES[issued.plaintext] = frozenset(scopes)
    return issued.plaintext


def fuzz_config(
    *,
    base_url: str,
    key: str,
    world: FuzzWorld,
    max_examples: int = MAX_EXAMPLES,
    phases: dict[str, Any] | None = None,
) -> SchemathesisConfig:
    """The whole run's configuration: every built-in check plus ours (tests/fuzz/checks.py),
    positive and negative data, every phase (examples, coverage, fuzzing, stateful: POST
    /orders links to GET and DELETE /orders/{order_id}) unless ``phases`` turns some off, a
    fixed seed, no example database (a CI run depends only on the seed)."""
    data: dict[str, Any] = {
        "seed": SEED,
        "base-url": base_url,
        "headers": {"Authorization": f"Bearer {key}"},
        "generation": {"mode": "all", "max-examples": max_examples, "database": "none"},
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": True, "max-steps": max(max_examples, 5)},
            **(phases or {}),
        },
        "dictionaries": world.dictionaries(),
        "parameters": {
            name: {"dictionary": dictionary, "probability": probability}
            for name, (dictionary, probability) in _REAL_VALUES.items()
        },
        "operations": _business_rejects(max_examples),
        "suppress-health-check": ["too_slow", "filter_too_much"],
        # No cache of earlier runs' observations: a run depends on the seed and the code only.
        "cache": {"enabled": False},
    }
    return SchemathesisConfig.from_dict(data)


@pytest.fixture
def load_schema(live_server_process) -> Callable[..., Any]:
    """``load_schema(key=..., world=...)``: the live schema, configured for that key."""

    def load(*, key: str, world: FuzzWorld, **kw: Any) -> Any:
        base_url = live_server_process.base_url
        config = fuzz_config(base_url=base_url, key=key, world=world, **kw)
        schema = schemathesis.openapi.from_url(f"{base_url}/api/schema/?format=json", config=config)
        return hooks.register(schema)

    return load
