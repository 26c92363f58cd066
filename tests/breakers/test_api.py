"""Breaker API: bots read states and halt themselves or their accounts, never anything else."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.audit.actions import AuditAction
from apps.audit.models import AuditEvent
from apps.breakers.models import Breaker
from tests.apikeys.factories import issue
from tests.breakers.factories import state_of, trip
from tests.venues.factories import make_account, make_sim_venue

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    venue = make_sim_venue("SIM")
    make_account(venue, "SIM-A")
    make_account(venue, "SIM-B")


def client_for(scopes, accounts=("SIM-A",)):
    issued = issue(scopes=scopes, accounts=list(accounts))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    return client, issued.api_key


def test_reading_shows_shared_and_own_breakers_only(world):
    client, key = client_for(["breakers:read"])
    other = issue(scopes=["orders:write"]).api_key
    trip("global", "", state="reduce_only", reason="desk")
    trip("account", "SIM-A", reason="mine")
    trip("account", "SIM-B", reason="not mine")
    trip("api_key", other.key_id, reason="another bot")
    trip("api_key", key.key_id, state="reduce_only", reason="me")
    response = client.get("/api/v1/breakers")
    assert response.status_code == 200
    seen = {(b["scope"], b["target"]): b["state"] for b in response.json()["breakers"]}
    assert seen == {
        ("global", ""): "reduce_only",
        ("account", "SIM-A"): "halted",
        ("api_key", key.key_id): "reduce_only",
    }
    (effective,) = response.json()["effective"]
    assert effective == {
        "account": "SIM-A",
        "state": "halted",
        "breaker": "account SIM-A",
        "reason": "mine",
    }


def test_a_bot_halts_its_own_key(world):
    client, key = client_for(["breakers:trip"])
    response = client.post(
        "/api/v1/breakers/trip", {"scope": "api_key", "reason": "my model is confused"}, "json"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["changed"] is True
    assert (body["breaker"]["scope"], body["breaker"]["target"]) == ("api_key", key.key_id)
    assert state_of("api_key", key.key_id) == "halted"
    event = AuditEvent.objects.get(action=AuditAction.BREAKER_TRIPPED)
    assert event.actor_kind == "api_key" and event.actor_id == key.key_id


def test_a_bot_halts_its_own_account_reduce_only(world):
    client, _ = client_for(["breakers:trip"])
    response = client.post(
        "/api/v1/breakers/trip",
        {"scope": "account", "target": "SIM-A", "state": "reduce_only", "reason": "flatten"},
        "json",
    )
    assert response.status_code == 200
    assert state_of("account", "SIM-A") == "reduce_only"


@pytest.mark.parametrize(
    "body",
    [
        {"scope": "account", "target": "SIM-B", "reason": "not my account"},
        {"scope": "api_key", "target": "someoneelse", "reason": "not my key"},
    ],
)
def test_a_bot_cannot_trip_what_is_not_its_own(world, body):
    client, _ = client_for(["breakers:trip"])
    response = client.post("/api/v1/breakers/trip", body, "json")
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden_target"
    assert not Breaker.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"scope": "global", "reason": "stop the world"},
        {"scope": "venue", "target": "SIM", "reason": "x"},
        {"scope": "api_key", "state": "active", "reason": "let me trade again"},
        {"scope": "api_key"},
        {},
    ],
)
def test_a_bot_cannot_trip_wider_or_reset(world, body):
    client, key = client_for(["breakers:trip"])
    trip("api_key", key.key_id)
    response = client.post("/api/v1/breakers/trip", body, "json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
    assert state_of("api_key", key.key_id) == "halted"
    assert Breaker.objects.count() == 1


def test_tripping_again_changes_nothing_and_never_relaxes(world):
    client, key = client_for(["breakers:trip"])
    trip("api_key", key.key_id, state="halted")
    response = client.post(
        "/api/v1/breakers/trip",
        {"scope": "api_key", "state": "reduce_only", "reason": "milder"},
        "json",
    )
    assert response.status_code == 200 and response.json()["changed"] is False
    assert state_of("api_key", key.key_id) == "halted"


def test_the_read_scope_cannot_trip_and_the_trip_scope_cannot_read(world):
    reader, _ = client_for(["breakers:read"])
    assert (
        reader.post("/api/v1/breakers/trip", {"scope": "api_key", "reason": "x"}, "json").json()[
            "code"
        ]
        == "insufficient_scope"
    )
    tripper, _ = client_for(["breakers:trip"])
    assert tripper.get("/api/v1/breakers").json()["code"] == "insufficient_scope"
