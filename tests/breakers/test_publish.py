"""Changes are published on the ``breakers`` topic after commit, never before."""

from __future__ import annotations

import time

import pytest

from tests.breakers.factories import trip
from tests.breakers.listener import Listener
from tests.venues.factories import make_account, make_sim_venue

pytestmark = pytest.mark.django_db


@pytest.fixture
def listener(redis_client):
    listener = Listener("breakers")
    listener.start()
    assert listener.ready.wait(10)
    yield listener
    listener.stopped.set()
    listener.join(5)


def test_a_trip_is_published_after_commit(listener, django_capture_on_commit_callbacks):
    venue = make_sim_venue("SIM")
    make_account(venue, "SIM-A")
    with django_capture_on_commit_callbacks(execute=False) as pending:
        trip("account", "SIM-A", reason="publish me")
    time.sleep(0.5)
    assert listener.messages == []  # nothing before the commit
    for callback in pending:
        callback()
    (message,) = listener.wait_for(1)
    assert message["topic"] == "breakers"
    payload = message["payload"]
    assert payload["type"] == "breaker.changed"
    breaker = payload["breaker"]
    assert (breaker["scope"], breaker["target"], breaker["state"]) == (
        "account",
        "SIM-A",
        "halted",
    )
    assert breaker["reason"] == "publish me" and breaker["changed_by"] == "tests"
