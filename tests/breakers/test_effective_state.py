"""breaker_effective_state: the most restrictive matching breaker, from Redis or PostgreSQL,
and halted when neither answers."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.conf import settings

from apps.breakers.enforcement import breaker_effective_state, breaker_mirror_resync
from apps.breakers.mirror import GEN_FIELD, MIRROR_KEY, mirror_forget_backoff
from apps.breakers.models import BreakerScope
from apps.breakers.services import breaker_reset_break_glass
from tests.apikeys.factories import issue
from tests.breakers.factories import trip
from tests.support.servers import ROOT, child_env, free_port
from tests.venues.factories import make_account, make_sim_venue

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    venue = make_sim_venue("SIM", underlyings=("BTC", "ETH"))
    make_sim_venue("DERIBIT", underlyings=("BTC",))
    account = make_account(venue, "SIM-A")
    make_account(venue, "SIM-B")
    key = issue(scopes=["orders:write"]).api_key
    return {"venue": venue, "account": account, "key": key}


def check(world, **overrides):
    args = {
        "account": "SIM-A",
        "venue": "SIM",
        "underlying": "BTC",
        "api_key": world["key"].key_id,
        **overrides,
    }
    return breaker_effective_state(**args)


def test_nothing_tripped_is_active_from_redis(world):
    breaker_mirror_resync()
    result = check(world)
    assert (result.state, result.breaker, result.source) == ("active", None, "redis")


@pytest.mark.parametrize(
    ("scope", "target"),
    [
        ("global", ""),
        ("venue", "SIM"),
        ("account", "SIM-A"),
        ("underlying", "BTC"),
        ("api_key", None),
    ],
)
def test_each_scope_applies_to_a_matching_order(world, scope, target):
    target = world["key"].key_id if target is None else target
    trip(scope, target, state="halted", reason=f"{scope} trip")
    result = check(world)
    assert result.state == "halted"
    assert (result.breaker.scope, result.breaker.target) == (scope, target)
    assert result.breaker.reason == f"{scope} trip"


@pytest.mark.parametrize(
    ("scope", "target", "order"),
    [
        ("venue", "DERIBIT", {}),
        ("account", "SIM-B", {}),
        ("underlying", "ETH", {}),
        ("api_key", "other", {}),
    ],
)
def test_a_breaker_of_another_target_does_not_apply(world, scope, target, order):
    if scope == "api_key":
        target = issue(scopes=["orders:write"]).api_key.key_id
    trip(scope, target)
    assert check(world).state == "active"


def test_the_most_restrictive_wins_across_scopes(world):
    trip("underlying", "BTC", state="reduce_only", reason="btc wobbly")
    trip("account", "SIM-A", state="halted", reason="account halted")
    trip("venue", "SIM", state="reduce_only", reason="venue wobbly")
    result = check(world)
    assert result.state == "halted"
    assert result.breaker.label == "account SIM-A"
    # Another account on the same venue and underlying is only reduce-only.
    other = check(world, account="SIM-B")
    assert other.state == "reduce_only"
    # Equally restrictive: the broadest breaker is reported (venue before underlying).
    assert other.breaker.label == "venue SIM"


def test_a_reset_breaker_no_longer_applies(world, django_capture_on_commit_callbacks):
    breaker_mirror_resync()
    trip("account", "SIM-A")
    assert check(world).state == "halted"
    with django_capture_on_commit_callbacks(execute=False) as pending:
        breaker_reset_break_glass(scope="account", target="SIM-A", reason="ok", operator="ops")
    # Relaxing reaches Redis only after the commit: until then readers still see halted.
    assert (check(world).state, check(world).source) == ("halted", "redis")
    for callback in pending:
        callback()
    assert check(world).state == "active"


def test_model_instances_are_accepted(world):
    trip("account", "SIM-A", state="reduce_only")
    result = breaker_effective_state(
        account=world["account"], venue=world["venue"], underlying="BTC", api_key=world["key"]
    )
    assert result.state == "reduce_only"


def test_a_missing_mirror_is_read_from_postgres_and_rebuilt(world, redis_client):
    trip("venue", "SIM", reason="venue down")
    redis_client.delete(MIRROR_KEY)  # Redis restarted empty, or someone flushed it
    first = check(world)
    assert (first.state, first.source) == ("halted", "postgres")  # never "no breakers"
    assert redis_client.hget(MIRROR_KEY, GEN_FIELD) is not None  # rebuilt
    second = check(world)
    assert (second.state, second.source) == ("halted", "redis")


def test_a_mirror_built_on_another_redis_run_is_not_trusted(world, redis_client):
    """A Redis that restarted and reloaded an old snapshot: the mirror may predate a trip."""
    breaker_mirror_resync()
    trip("account", "SIM-A")
    # What an old snapshot would hold: the account active, stamped by another server run.
    redis_client.hset(MIRROR_KEY, "account:SIM-A", "1|0|active|1|")
    redis_client.hset(MIRROR_KEY, GEN_FIELD, "an-old-run-id|0")
    result = check(world)
    assert (result.state, result.source) == ("halted", "postgres")


def test_redis_unreachable_falls_back_to_postgres(world, settings):
    trip("underlying", "BTC", state="reduce_only", reason="btc")
    settings.BREAKERS_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    mirror_forget_backoff()
    result = check(world)
    assert (result.state, result.source) == ("reduce_only", "postgres")
    assert result.breaker.label == "underlying BTC"
    # Within the backoff the dead Redis is not even tried again.
    assert check(world).source == "postgres"


BOTH_DOWN = """
import django
django.setup()
from apps.breakers.enforcement import breaker_effective_state
r = breaker_effective_state(account="SIM-A", venue="SIM", underlying="BTC", api_key="k")
print(r.state, r.source, r.breaker)
"""


def test_redis_and_postgres_both_down_fail_closed(world):
    dead_db, dead_redis = free_port(), free_port()
    env = child_env(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{dead_db}/nothing",
        BREAKERS_REDIS_URL=f"redis://127.0.0.1:{dead_redis}/0",
    )
    env["DJANGO_SETTINGS_MODULE"] = "tests.breakers.settings_env"
    out = subprocess.run(
        [sys.executable, "-c", BOTH_DOWN],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "halted fail_closed None"


def test_postgres_alone_down_still_answers_from_redis(world):
    trip("venue", "SIM", state="reduce_only", reason="venue wobbly")
    breaker_mirror_resync()
    env = child_env(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{free_port()}/nothing",
        BREAKERS_REDIS_URL=settings.REDIS_URL,
    )
    env["DJANGO_SETTINGS_MODULE"] = "tests.breakers.settings_env"
    out = subprocess.run(
        [sys.executable, "-c", BOTH_DOWN],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("reduce_only redis BreakerRef("), last


def test_scopes_are_the_documented_five():
    assert set(BreakerScope.values) == {"global", "venue", "account", "underlying", "api_key"}
