"""The breakers board and its forms, as people use them (real sign-in, real step-up)."""

from __future__ import annotations

import time

import pytest
from django.test import Client

from apps.accounts.roles import Role
from apps.accounts.services.sessions import MFA_AT
from apps.audit.actions import AuditAction
from apps.audit.models import AuditEvent
from apps.breakers.models import Breaker, BreakerResetRequest
from apps.breakers.services import breaker_auto_trip, breaker_condition_clear
from tests.accounts.factories import make_user, sign_in
from tests.breakers.factories import state_of, trip
from tests.venues.factories import make_account, make_sim_venue

pytestmark = pytest.mark.django_db


@pytest.fixture
def sim():
    venue = make_sim_venue("SIM")
    make_account(venue, "SIM-A")
    return venue


def signed_in(username: str, role: Role) -> Client:
    client = Client()
    sign_in(client, make_user(username, roles=(role,)))
    return client


def age_mfa(client: Client, seconds: float) -> None:
    session = client.session
    session[MFA_AT] = time.time() - seconds
    session.save()


def test_the_board_shows_state_in_word_and_colour_reason_time_and_who(sim):
    trip("account", "SIM-A", state="halted", reason="fat finger")
    trip("venue", "SIM", state="reduce_only", reason="venue wobbly")
    page = signed_in("vera", Role.VIEWER).get("/breakers/").content.decode()
    assert 'class="status breaker-state state-halted status-revoked">HALTED<' in page
    assert 'class="status breaker-state state-reduce_only status-expired">REDUCE ONLY<' in page
    assert 'class="status breaker-state state-active status-active">ACTIVE<' in page  # global
    assert "fat finger" in page and "venue wobbly" in page and ">tests<" in page
    assert (
        page.index("state-halted") < page.index("state-reduce_only") < page.index("state-active")
    )  # tripped first


def test_viewers_see_no_buttons_and_a_forged_post_is_refused(sim):
    breaker = trip("account", "SIM-A").breaker
    viewer = signed_in("vera", Role.VIEWER)
    board = viewer.get("/breakers/").content.decode()
    detail = viewer.get(f"/breakers/{breaker.pk}/").content.decode()
    for page in (board, detail):
        assert "<form" not in page.split("</header>", 1)[1]  # only the sign-out form
        assert "Trip breaker" not in page and "Reset" not in page.replace("Reset…", "")
    forged = [
        ("/breakers/trip/", {"scope": "global", "state": "halted", "reason": "x"}),
        (f"/breakers/{breaker.pk}/reset/", {"to_state": "active", "reason": "x"}),
    ]
    for url, data in forged:
        assert viewer.post(url, data).status_code == 403
    assert state_of("global") == "active" and state_of("account", "SIM-A") == "halted"


def test_a_trader_cannot_trip_or_reset_either(sim):
    breaker = trip("account", "SIM-A").breaker
    trader = signed_in("tom", Role.TRADER)
    trip_data = {"scope": "global", "state": "halted", "reason": "x"}
    reset_data = {"to_state": "active", "reason": "x"}
    assert trader.post("/breakers/trip/", trip_data).status_code == 403
    assert trader.post(f"/breakers/{breaker.pk}/reset/", reset_data).status_code == 403


def test_a_risk_manager_trips_from_the_board_with_a_reason(sim):
    rm = signed_in("rita", Role.RISK_MANAGER)
    board = rm.get("/breakers/").content.decode()
    assert "Trip breaker" in board and 'list="breaker-targets"' in board
    missing = rm.post("/breakers/trip/", {"scope": "venue", "target": "SIM", "state": "halted"})
    assert missing.status_code == 400 and state_of("venue", "SIM") == "active"
    typo = rm.post(
        "/breakers/trip/", {"scope": "venue", "target": "SMI", "state": "halted", "reason": "x"}
    )
    assert typo.status_code == 400 and "no venue named" in typo.content.decode()
    done = rm.post(
        "/breakers/trip/",
        {"scope": "venue", "target": "SIM", "state": "halted", "reason": "venue misbehaving"},
    )
    assert done.status_code == 302 and done["Location"] == "/breakers/"
    assert state_of("venue", "SIM") == "halted"
    event = AuditEvent.objects.get(action=AuditAction.BREAKER_TRIPPED)
    assert event.actor_label == "rita" and event.client_ip == "127.0.0.1"


def test_a_reset_is_refused_without_a_recent_second_factor(sim, settings):
    breaker = trip("account", "SIM-A").breaker
    rm = signed_in("rita", Role.RISK_MANAGER)
    age_mfa(rm, settings.MFA_STEP_UP_SECONDS + 5)
    response = rm.post(f"/breakers/{breaker.pk}/reset/", {"to_state": "active", "reason": "ok"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/step-up/")
    assert state_of("account", "SIM-A") == "halted"
    assert not AuditEvent.objects.filter(action=AuditAction.BREAKER_RESET).exists()


def test_a_reset_with_a_recent_second_factor_and_a_reason_applies(sim):
    breaker = trip("account", "SIM-A").breaker
    rm = signed_in("rita", Role.RISK_MANAGER)
    no_reason = rm.post(f"/breakers/{breaker.pk}/reset/", {"to_state": "active", "reason": ""})
    assert no_reason.status_code == 302 and state_of("account", "SIM-A") == "halted"
    done = rm.post(f"/breakers/{breaker.pk}/reset/", {"to_state": "active", "reason": "all good"})
    assert done.status_code == 302 and done["Location"] == f"/breakers/{breaker.pk}/"
    assert state_of("account", "SIM-A") == "active"
    history = rm.get(done["Location"]).content.decode()
    assert "all good" in history and "rita" in history


def test_the_global_reset_needs_a_second_risk_manager(sim):
    breaker = trip("global", "").breaker
    alice = signed_in("alice", Role.RISK_MANAGER)
    bob = signed_in("bob", Role.RISK_MANAGER)
    detail = alice.get(f"/breakers/{breaker.pk}/").content.decode()
    assert "Request a reset (needs a second risk manager)" in detail
    alice.post(f"/breakers/{breaker.pk}/reset/", {"to_state": "active", "reason": "all clear"})
    assert state_of("global") == "halted"
    pending = BreakerResetRequest.objects.get(status="pending")
    assert (
        "another risk manager must approve"
        in alice.get(f"/breakers/{breaker.pk}/").content.decode()
    )
    assert alice.post(f"/breakers/requests/{pending.pk}/approve/").status_code == 403
    assert state_of("global") == "halted"
    assert "awaiting a second risk manager" in bob.get("/breakers/").content.decode()
    assert "Approve reset" in bob.get(f"/breakers/{breaker.pk}/").content.decode()
    approved = bob.post(f"/breakers/requests/{pending.pk}/approve/", {"note": "agreed"})
    assert approved.status_code == 302
    assert state_of("global") == "active"


def test_the_board_says_when_an_automatic_condition_has_cleared(sim):
    breaker_auto_trip(
        scope="account",
        target="SIM-A",
        state="halted",
        condition="limit:7",
        reason="limit sim-a-vega: vega 1.2M > 1.0M",
        component="risk.limits",
    )
    viewer = signed_in("vera", Role.VIEWER)
    page = viewer.get("/breakers/").content.decode()
    assert "still holds: limit sim-a-vega: vega 1.2M &gt; 1.0M" in page
    breaker_condition_clear(scope="account", target="SIM-A", condition="limit:7")
    page = viewer.get("/breakers/").content.decode()
    assert "a reset looks safe" in page and "automatic (limit:7)" in page
    assert Breaker.objects.get(scope="account").state == "halted"
