"""The live socket with WebsocketCommunicator on the real ASGI app and real sessions:
subscription permissions, sequence numbers, snapshot resync, and sockets that close when the
session or the rights behind them go away."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.contrib.auth.models import Group

from apps.accounts.roles import Role
from apps.accounts.services.sessions import sessions_end_for_user
from apps.audit.actors import Actor
from apps.breakers.services.changes import breaker_trip
from apps.realtime.providers import alerts_snapshot
from apps.realtime.publish import publish_now
from apps.realtime.snapshots import snapshot_provider_register, snapshot_provider_unregister
from tests.accounts.factories import make_user
from tests.realtime.helpers import Tab, session_cookie
from tests.support.aio import run_async
from tests.venues.factories import make_account, make_sim_venue

pytestmark = pytest.mark.django_db(transaction=True)


def _accounts(trader):
    venue = make_sim_venue()
    mine = make_account(venue, "SIM-MINE")
    mine.traders.add(trader)
    other = make_account(venue, "SIM-OTHER")
    return mine, other


def test_each_topic_is_checked_against_roles_and_accounts():
    viewer = make_user("viewer", roles=(Role.VIEWER,))
    trader = make_user("trader", roles=(Role.TRADER,))
    risk = make_user("risk", roles=(Role.RISK_MANAGER,))
    _accounts(trader)
    cookies = {u.username: session_cookie(u) for u in (viewer, trader, risk)}

    async def answers(username: str, topics: list[str]) -> dict[str, str]:
        tab = Tab(cookies[username])
        hello = await tab.open()
        assert hello == {"type": "hello", "user": username}
        out = {}
        for topic in topics:
            answer = await tab.request("subscribe", topic)
            out[topic] = answer["type"] + (
                "" if answer["type"] == "subscribed" else ":" + answer["reason"]
            )
        await tab.close()
        return out

    topics = [
        "breakers",
        "risk",
        "alerts",
        "surface:BTC",
        "positions:SIM-MINE",
        "positions:SIM-OTHER",
        "positions:NO-SUCH",
        "nonsense",
        "surface:not valid!",
    ]
    assert run_async(answers("viewer", topics)) == {
        "breakers": "subscribed",
        "risk": "subscribed",
        "alerts": "subscribed",
        "surface:BTC": "refused:forbidden",
        "positions:SIM-MINE": "refused:forbidden",
        "positions:SIM-OTHER": "refused:forbidden",
        "positions:NO-SUCH": "refused:forbidden",
        "nonsense": "refused:unknown_topic",
        "surface:not valid!": "refused:unknown_topic",
    }
    trader_answers = run_async(answers("trader", topics))
    assert trader_answers["surface:BTC"] == "subscribed"
    assert trader_answers["positions:SIM-MINE"] == "subscribed"
    # Someone else's account and a missing one are refused alike: existence is not revealed.
    assert trader_answers["positions:SIM-OTHER"] == "refused:forbidden"
    assert trader_answers["positions:NO-SUCH"] == "refused:forbidden"
    risk_answers = run_async(answers("risk", topics))
    assert risk_answers["positions:SIM-MINE"] == "subscribed"
    assert risk_answers["positions:SIM-OTHER"] == "subscribed"


def test_messages_reach_subscribers_only_with_consecutive_sequence_numbers():
    viewer = make_user("viewer", roles=(Role.VIEWER,))
    cookie = session_cookie(viewer)

    async def scenario():
        subscribed, bystander = Tab(cookie), Tab(cookie)
        await subscribed.open()
        await bystander.open()
        assert (await subscribed.request("subscribe", "breakers"))["type"] == "subscribed"
        await sync_to_async(publish_now)("breakers", {"n": 1})
        await sync_to_async(publish_now)("breakers", {"n": 2})
        first = await subscribed.receive_until("message", "breakers")
        second = await subscribed.receive_until("message", "breakers")
        # Nothing for the tab that did not subscribe.
        assert await bystander.communicator.receive_nothing(timeout=0.3)
        await subscribed.close()
        await bystander.close()
        return first, second

    first, second = run_async(scenario())
    assert first["payload"] == {"n": 1} and second["payload"] == {"n": 2}
    assert second["seq"] == first["seq"] + 1


def test_a_gap_is_repaired_by_a_snapshot_that_reflects_the_committed_trip():
    """The client missed messages (the channel layer may drop them); its snapshot request
    returns the breakers as committed, with the topic's current sequence number."""
    risk = make_user("risk", roles=(Role.RISK_MANAGER,))
    cookie = session_cookie(risk)

    async def scenario():
        tab = Tab(cookie)
        await tab.open()
        await tab.request("subscribe", "breakers")
        await database_sync_to_async(breaker_trip)(
            scope="global", reason="test halt", actor=Actor.user(risk)
        )
        pushed = await tab.receive_until("message", "breakers")
        # Messages published while this tab "was away": they still bump the sequence.
        await tab.request("unsubscribe", "breakers")
        await sync_to_async(publish_now)("breakers", {"type": "lost"})
        await tab.request("subscribe", "breakers")
        snapshot = await tab.request("snapshot", "breakers")
        await tab.close()
        return pushed, snapshot

    pushed, snapshot = run_async(scenario())
    assert pushed["payload"]["type"] == "breaker.changed"
    assert pushed["payload"]["breaker"]["state"] == "halted"
    assert snapshot["type"] == "snapshot" and snapshot["available"] is True
    assert snapshot["seq"] == pushed["seq"] + 1  # it covers the message the tab never saw
    (global_breaker,) = [b for b in snapshot["payload"]["breakers"] if b["scope"] == "global"]
    assert global_breaker["state"] == "halted" and global_breaker["reason"] == "test halt"


def test_snapshots_without_a_source_say_so_and_registered_providers_are_used():
    trader = make_user("trader", roles=(Role.TRADER,))
    cookie = session_cookie(trader)
    snapshot_provider_register(
        family="alerts", provider=lambda user, topic: {"alerts": [], "for": user.username}
    )

    async def scenario():
        tab = Tab(cookie)
        await tab.open()
        await tab.request("subscribe", "alerts")
        await tab.request("subscribe", "surface:BTC")
        alerts = await tab.request("snapshot", "alerts")
        surface = await tab.request("snapshot", "surface:BTC")  # no venue, no surface yet
        not_subscribed = await tab.request("snapshot", "risk")
        await tab.close()
        return alerts, surface, not_subscribed

    try:
        alerts, surface, not_subscribed = run_async(scenario())
    finally:
        snapshot_provider_unregister(family="alerts")
        snapshot_provider_register(family="alerts", provider=alerts_snapshot)  # the default
    assert alerts["available"] is True and alerts["payload"] == {"alerts": [], "for": "trader"}
    assert surface == {"type": "snapshot", "topic": "surface:BTC", "seq": 0, "available": False}
    assert not_subscribed == {"type": "refused", "topic": "risk", "reason": "not_subscribed"}


def test_ping_and_garbage():
    viewer = make_user("viewer", roles=(Role.VIEWER,))
    cookie = session_cookie(viewer)

    async def scenario():
        tab = Tab(cookie)
        await tab.open()
        await tab.send(type="ping")
        pong = await tab.receive()
        await tab.communicator.send_to(text_data="{not json")
        garbage = await tab.receive()
        await tab.send(type="launch_missiles")
        unknown = await tab.receive()
        await tab.close()
        return pong, garbage, unknown

    pong, garbage, unknown = run_async(scenario())
    assert pong == {"type": "pong"}
    assert garbage == {"type": "error", "code": "not_json"}
    assert unknown == {"type": "error", "code": "unknown_message"}


def _closes_within(cookie: str, change, *, subscribe: str = "breakers") -> tuple[int, float]:
    async def scenario():
        tab = Tab(cookie)
        await tab.open()
        assert (await tab.request("subscribe", subscribe))["type"] == "subscribed"
        started = time.monotonic()
        await database_sync_to_async(change)()
        code = await tab.closed_with(timeout=5)
        return code, time.monotonic() - started

    return run_async(scenario())


def test_socket_closes_when_all_sessions_are_ended_mfa_reset_path():
    """sessions_end_for_user sends no signal (queryset update): the periodic check finds it."""
    user = make_user("trader", roles=(Role.TRADER,))
    code, seconds = _closes_within(session_cookie(user), lambda: sessions_end_for_user(user=user))
    assert code == 4401 and seconds < 5


def test_socket_closes_when_the_user_is_deactivated():
    user = make_user("trader", roles=(Role.TRADER,))

    def deactivate():
        user.is_active = False
        user.save(update_fields=["is_active"])

    code, seconds = _closes_within(session_cookie(user), deactivate)
    assert code == 4401 and seconds < 5


def test_socket_closes_when_the_user_loses_a_role():
    user = make_user("trader", roles=(Role.TRADER, Role.VIEWER))

    def demote():
        user.groups.remove(Group.objects.get(name=Role.TRADER.value))

    code, seconds = _closes_within(session_cookie(user), demote, subscribe="surface:BTC")
    assert code == 4403 and seconds < 5


def test_socket_closes_when_a_followed_account_is_taken_away():
    user = make_user("trader", roles=(Role.TRADER,))
    mine, _ = _accounts(user)
    code, seconds = _closes_within(
        session_cookie(user), lambda: mine.traders.remove(user), subscribe="positions:SIM-MINE"
    )
    assert code == 4403 and seconds < 5


def test_a_role_gained_keeps_the_socket_open():
    user = make_user("viewer", roles=(Role.VIEWER,))
    cookie = session_cookie(user)

    async def scenario():
        tab = Tab(cookie)
        await tab.open()
        refused = await tab.request("subscribe", "surface:BTC")
        await database_sync_to_async(
            lambda: user.groups.add(Group.objects.get(name=Role.TRADER.value))
        )()
        await tab.send(type="ping")
        assert (await tab.receive_until("pong"))["type"] == "pong"
        # Past one re-validation round: still open, and the new right applies at once.
        assert await tab.communicator.receive_nothing(timeout=2.0)
        allowed = await tab.request("subscribe", "surface:BTC")
        await tab.close()
        return refused, allowed

    refused, allowed = run_async(scenario())
    assert refused["type"] == "refused" and allowed["type"] == "subscribed"
