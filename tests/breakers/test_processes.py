"""Two real processes: a change committed in one is seen by the very next check in the other.
And the break-glass command, run as operators run it."""

from __future__ import annotations

import getpass
import subprocess
import sys
from collections.abc import Iterator

import pytest

from apps.accounts.roles import Role
from apps.audit.actions import AuditAction
from apps.audit.models import AuditEvent
from apps.breakers.enforcement import breaker_effective_state
from apps.breakers.models import Breaker
from apps.breakers.services import breaker_reset
from tests.accounts.factories import make_user
from tests.breakers.factories import trip
from tests.support.servers import ROOT, child_env
from tests.venues.factories import make_account, make_sim_venue

pytestmark = pytest.mark.django_db(transaction=True)

CHECKER = """
import sys
import django
django.setup()
from apps.breakers.enforcement import breaker_effective_state
print("ready", flush=True)
for line in sys.stdin:
    account = line.strip()
    r = breaker_effective_state(account=account, venue="SIM", underlying="BTC")
    print(r.state, r.source, flush=True)
"""


class Checker:
    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", CHECKER],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout.readline().strip() == "ready", self.process.stderr.read()

    def check(self, account: str = "SIM-A") -> tuple[str, str]:
        self.process.stdin.write(account + "\n")
        self.process.stdin.flush()
        state, source = self.process.stdout.readline().split()
        return state, source

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=20)


@pytest.fixture
def checker(redis_client) -> Iterator[Checker]:
    venue = make_sim_venue("SIM")
    make_account(venue, "SIM-A")
    checker = Checker(child_env())
    yield checker
    checker.close()


def test_a_trip_committed_here_is_seen_by_the_next_check_there(checker):
    rm = make_user("rita", roles=(Role.RISK_MANAGER,))
    assert checker.check()[0] == "active"
    breaker = trip("account", "SIM-A", reason="halt now").breaker  # autocommit: committed
    assert checker.check() == ("halted", "redis")
    breaker_reset(breaker=breaker, user=rm, reason="clear")  # relaxing: mirrored on commit
    assert checker.check() == ("active", "redis")
    trip("global", "", state="reduce_only")
    assert checker.check() == ("reduce_only", "redis")


def run_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "breaker", *args],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_break_glass_command_trips_resets_and_reports(checker):
    out = run_command(
        "trip", "--scope", "account", "--target", "SIM-A", "--reason", "browser down, halting"
    )
    assert out.returncode == 0, out.stderr
    assert "account SIM-A: active -> halted" in out.stdout
    # The other process (and this one) see it at once (from PostgreSQL first: this test's
    # Redis was emptied, so the mirror is rebuilt by that check).
    assert checker.check() == ("halted", "postgres")
    assert checker.check() == ("halted", "redis")
    assert breaker_effective_state(account="SIM-A").state == "halted"
    event = AuditEvent.objects.get(action=AuditAction.BREAKER_TRIPPED)
    assert event.actor_kind == "system" and event.actor_label == f"shell:{getpass.getuser()}"

    status = run_command("status")
    assert status.returncode == 0, status.stderr
    assert "account SIM-A" in status.stdout and "HALTED" in status.stdout
    assert "browser down, halting" in status.stdout

    # No four-eyes from the shell, even for the global breaker.
    assert run_command("trip", "--scope", "global", "--reason", "all stop").returncode == 0
    out = run_command("reset", "--scope", "global", "--reason", "all clear")
    assert out.returncode == 0, out.stderr
    assert Breaker.objects.get(scope="global").state == "active"
    reset = AuditEvent.objects.get(action=AuditAction.BREAKER_RESET)
    assert reset.actor_label == f"shell:{getpass.getuser()}"
    assert reset.details["reason"] == "all clear"


def test_the_command_refuses_what_it_cannot_do(checker):
    no_reason = run_command("trip", "--scope", "global")
    assert no_reason.returncode != 0 and "--reason is required" in no_reason.stderr
    typo = run_command("trip", "--scope", "account", "--target", "SIM-a", "--reason", "x")
    assert typo.returncode != 0 and "no account named 'SIM-a'" in typo.stderr
    never = run_command("reset", "--scope", "venue", "--target", "SIM", "--reason", "x")
    assert never.returncode != 0
    assert not Breaker.objects.exists()
