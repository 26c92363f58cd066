"""The alert feed (apps/realtime/alerts.py): breaker trips and resets, limit warnings and
breaches and venue staleness become alert items, stored for snapshots and pushed on the
``alerts`` topic of the real websocket consumer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.db import transaction
from django.utils import timezone

from apps.accounts.roles import Role
from apps.audit.actors import Actor
from apps.breakers.models import Breaker
from apps.breakers.services import breaker_reset, breaker_trip
from apps.realtime.alerts import alerts_recent
from apps.risk.services.evaluation import risk_evaluate
from apps.venues.models import VenueHealth
from apps.venues.services.health import venues_staleness_sweep
from tests.accounts.factories import make_user
from tests.breakers.factories import trip
from tests.realtime.helpers import Tab, session_cookie
from tests.risk.factories import make_limit, sim_world
from tests.support.aio import run_async

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("roles_and_redis")]


def kinds() -> list[tuple[str, str, str]]:
    return [(a["kind"], a["severity"], a["title"]) for a in alerts_recent()]


def test_a_trip_is_pushed_to_a_subscribed_tab_and_kept_for_its_snapshot():
    rita = make_user("rita", roles=(Role.RISK_MANAGER,))
    viewer = make_user("vera", roles=(Role.VIEWER,))
    cookie = session_cookie(viewer)

    async def scenario():
        tab = Tab(cookie)
        await tab.open()
        assert (await tab.request("subscribe", "alerts"))["type"] == "subscribed"
        await database_sync_to_async(breaker_trip)(
            scope="global", reason="desk halt", actor=Actor.user(rita)
        )
        pushed = await tab.receive_until("message", "alerts")
        snapshot = await tab.request("snapshot", "alerts")
        await tab.close()
        return pushed, snapshot

    pushed, snapshot = run_async(scenario())
    alert = pushed["payload"]["alert"]
    assert pushed["payload"]["type"] == "alert"
    assert (alert["kind"], alert["severity"], alert["title"]) == (
        "breaker.tripped",
        "critical",
        "global HALTED",
    )
    assert "desk halt" in alert["detail"] and "rita" in alert["detail"]
    assert alert["link"] == f"/breakers/{Breaker.objects.get(scope='global').pk}/"
    assert snapshot["available"] is True and snapshot["seq"] >= pushed["seq"]
    assert snapshot["payload"]["type"] == "alerts.snapshot"
    assert snapshot["payload"]["alerts"][0] == alert


def test_reduce_only_warns_a_reset_informs_and_a_rolled_back_trip_says_nothing():
    rita = make_user("rita", roles=(Role.RISK_MANAGER,))
    from tests.venues.factories import make_account, make_sim_venue

    make_account(make_sim_venue("SIM"), "SIM-A")
    change = trip("account", "SIM-A", state="reduce_only", reason="wobbly")
    breaker_reset(breaker=change.breaker, user=rita, reason="fine again")
    with pytest.raises(RuntimeError), transaction.atomic():
        trip("venue", "SIM", reason="never committed")
        raise RuntimeError("rolled back")
    assert kinds() == [  # newest first
        ("breaker.reset", "info", "account SIM-A ACTIVE"),
        ("breaker.tripped", "warning", "account SIM-A REDUCE ONLY"),
    ]
    # Ids increase, so a client can drop an item it got both in a snapshot and as a push.
    ids = [a["id"] for a in alerts_recent()]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 2


def test_limit_warning_breach_and_recovery_are_alerted_once_each():
    world = sim_world(underlyings=("BTC",), accounts=("SIM-A",))
    world.hold("SIM-A", world.instrument("BTC", "call", 1.05), 5, 0.02)
    notional = risk_evaluate().snapshot["accounts"]["SIM-A"]["totals"]["notional_usd"]
    limit = make_limit(name="sim-a-notional", metric="gross_notional_usd",
                       threshold=notional / 0.9)  # fmt: skip
    risk_evaluate()
    risk_evaluate()  # still at warning: no second alert
    assert [k for k, _, _ in kinds()] == ["limit.warning"]
    assert kinds()[0][2] == "limit sim-a-notional at warning level"

    limit.threshold = notional / 2
    limit.save()
    risk_evaluate()
    feed = kinds()
    assert feed[0][0] == "breaker.tripped" and feed[0][2] == "account SIM-A REDUCE ONLY"
    assert feed[1][:2] == ("limit.breach", "critical")
    assert "over" not in feed[1][2] and "breached" in feed[1][2]

    limit.threshold = notional * 10
    limit.save()
    risk_evaluate()
    recovered = alerts_recent()[0]
    assert recovered["kind"] == "limit.recovered" and recovered["severity"] == "info"
    assert "stays tripped" in recovered["detail"]


def test_a_venue_going_stale_is_alerted():
    world = sim_world(underlyings=("BTC",), accounts=("SIM-A",))
    health = VenueHealth.objects.get(venue=world.venue)
    later = health.last_chain_ok_at + timedelta(seconds=world.venue.stale_after_seconds + 5)
    assert venues_staleness_sweep(now=max(later, timezone.now()))
    stale = [a for a in alerts_recent() if a["kind"] == "venue.stale"]
    assert len(stale) == 1
    assert stale[0]["severity"] == "warning" and stale[0]["title"] == "SIM market data stale"
