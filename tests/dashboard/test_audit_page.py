"""The audit log page: filters by actor, action and time, bad input as a message (never a
500), the verify-chain button (itself audited), and who may see it."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client

from apps.accounts.roles import Role, roles_ensure
from apps.audit.actions import AuditAction
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from tests.accounts.factories import make_user, sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _roles(redis_client):
    roles_ensure()


def signed_in(username: str, role: Role) -> Client:
    client = Client()
    sign_in(client, make_user(username, roles=(role,)))
    return client


def sequences(html: str) -> list[int]:
    return [int(s) for s in re.findall(r'<tr data-sequence="(\d+)"', html)]


def actions(html: str) -> set[str]:
    return set(re.findall(r'data-action="([^"]+)"', html))


@pytest.fixture
def events():
    bot = Actor.api_key("bwk_abc", "hedger")
    audit_record(action=AuditAction.KEY_ISSUED, actor=Actor.system("tests"), target=("k", "1"))
    audit_record(action=AuditAction.BREAKER_TRIPPED, actor=bot, details={"reason": "self halt"})
    audit_record(action=AuditAction.BREAKER_RESET, actor=Actor.system("tests"))


def test_events_newest_first_with_actor_action_and_details(events):
    page = signed_in("ada", Role.ADMIN).get("/audit/").content.decode()
    seqs = sequences(page)
    assert seqs == sorted(seqs, reverse=True) and len(seqs) >= 4  # plus the sign-in
    assert "self halt" in page and "hedger" in page and "breaker.tripped" in page


def test_filters_by_actor_action_area_and_time(events):
    client = signed_in("rita", Role.RISK_MANAGER)
    assert actions(client.get("/audit/?actor=HEDG").content.decode()) == {"breaker.tripped"}
    assert actions(client.get("/audit/?action=breaker.reset").content.decode()) == {"breaker.reset"}
    area = client.get("/audit/?action=breaker.*").content.decode()
    assert actions(area) == {"breaker.tripped", "breaker.reset"}
    newest = AuditEvent.objects.order_by("-sequence").first()
    since = newest.occurred_at.strftime("%Y-%m-%d %H:%M:%S.%f")
    only = client.get("/audit/", {"since": since}).content.decode()
    assert sequences(only) == [newest.sequence]
    assert sequences(client.get("/audit/?until=2000-01-01").content.decode()) == []
    assert "No events match." in client.get("/audit/?until=2000-01-01").content.decode()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("since=yesterday", "is not a date or time"),
        ("since=2026-02-30", "is not a date or time"),
        ("until=2026-13-01T99:00", "is not a date or time"),
        ("since=2026-12-02&until=2026-12-01", "must be after"),
        ("action=breaker.nuked", "Select a valid choice"),
        ("page=banana", ""),  # not a filter: the first page
    ],
)
def test_bad_filters_are_messages_not_errors(events, query, message):
    response = signed_in("rita", Role.RISK_MANAGER).get(f"/audit/?{query}")
    html = response.content.decode()
    if message:
        assert response.status_code == 400 and message in html and 'role="alert"' in html
        assert sequences(html) == []
    else:
        assert response.status_code == 200 and sequences(html)


def test_verify_chain_shows_the_result_and_is_audited(events):
    client = signed_in("ada", Role.ADMIN)
    count = AuditEvent.objects.count()
    head = AuditEvent.objects.order_by("-sequence").first().hash
    response = client.post("/audit/verify/")
    assert response.status_code == 302 and response["Location"] == "/audit/"
    page = client.get("/audit/").content.decode()
    assert "Hash chain verified" in page and f"Chain intact: {count} events verified." in page
    assert head in page
    event = AuditEvent.objects.order_by("-sequence").first()
    assert event.action == "audit.verified" and event.actor_label == "ada"
    assert event.details["ok"] is True and event.details["count"] == count
    assert event.details["head"] == head
    # The result is shown once, not on every later visit.
    assert "Hash chain verified" not in client.get("/audit/").content.decode()


def test_verify_chain_names_the_first_bad_event_of_a_tampered_chain(events):
    """The rogue superuser edits an event behind the triggers' back (docs/audit.md)."""
    victim = AuditEvent.objects.get(action="breaker.tripped")
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        cursor.execute(
            'UPDATE audit_auditevent SET details = \'{"reason": "nothing to see"}\' '
            "WHERE sequence = %s",
            [victim.sequence],
        )
        cursor.execute("ALTER TABLE audit_auditevent ENABLE ALWAYS TRIGGER audit_event_append_only")
    client = signed_in("rita", Role.RISK_MANAGER)
    client.post("/audit/verify/")
    page = client.get("/audit/").content.decode()
    assert "Hash chain verification failed" in page
    assert f"Chain BROKEN at event {victim.sequence}" in page
    assert f"sequence {victim.sequence}: event {victim.sequence} content does not match" in page
    recorded = AuditEvent.objects.order_by("-sequence").first()
    assert recorded.action == "audit.verified" and recorded.details["ok"] is False
    assert recorded.details["first_bad_sequence"] == victim.sequence


@pytest.mark.parametrize("role", [Role.VIEWER, Role.TRADER])
def test_viewers_and_traders_may_not_read_or_verify(events, role):
    client = signed_in("nosy", role)
    assert client.get("/audit/").status_code == 403
    before = AuditEvent.objects.count()
    assert client.post("/audit/verify/").status_code == 403
    assert AuditEvent.objects.count() == before
    assert ">Audit<" not in client.get("/breakers/").content.decode()
