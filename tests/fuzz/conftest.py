"""Fuzz fixtures: the seeded world, keys, and a schemathesis schema loaded from the running
server's ``/api/schema/`` for one key.

Bounded for CI by FUZZ_MAX_EXAMPLES (examples per operation and generation mode; default 8);
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
from apps.breakers.mirror import mirror_forget_backoff
from tests.apikeys.factories import issue
from tests.fuzz import hooks
from tests.fuzz.world import ACCOUNTS, KEY_RATE, FuzzWorld, fuzz_world_build

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "8"))
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
_BUSINESS_REJECTS = [
    {
        "include-path": "/api/v1/orders",
        "include-method": "POST",
        "checks": {"positive_data_acceptance": {"expected-statuses": [*_ACCEPTED, "422"]}},
        # The trading path has the most to find: it gets more examples than the reads.
        "generation": {"max-examples": 4 * MAX_EXAMPLES},
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
    """A key bound to both fuzz accounts, with a rate no fuzz run exhausts."""
    return issue(scopes=scopes, accounts=list(ACCOUNTS), name=name, **KEY_RATE).plaintext


def fuzz_config(
    *, base_url: str, key: str, world: FuzzWorld, stateful: bool = False, **extra: Any
) -> SchemathesisConfig:
    """The whole run's configuration: every default check, positive and negative data,
    a fixed seed, no example database (a CI run depends only on the seed)."""
    data: dict[str, Any] = {
        "seed": SEED,
        "base-url": base_url,
        "headers": {"Authorization": f"Bearer {key}"},
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "database": "none"},
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": stateful, "max-steps": max(MAX_EXAMPLES, 5)},
        },
        "dictionaries": world.dictionaries(),
        "parameters": {
            name: {"dictionary": dictionary, "probability": probability}
            for name, (dictionary, probability) in _REAL_VALUES.items()
        },
        "operations": _BUSINESS_REJECTS,
        "suppress-health-check": ["too_slow", "filter_too_much"],
        # No cache of earlier runs' observations: a run depends on the seed and the code only.
        "cache": {"enabled": False},
        **extra,
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
