"""audit_record: what it stores, inside whose transaction, and what it refuses to store."""

from __future__ import annotations

import hashlib
import math
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.test import RequestFactory

from apps.accounts.models import User
from apps.audit.actions import AuditAction
from apps.audit.actors import Actor
from apps.audit.chain import GENESIS_HASH
from apps.audit.details import REDACTED, UnsafeDetailsError
from apps.audit.models import AuditEvent
from apps.audit.services import (
    CHAIN_LOCK_KEY,
    AuditIsolationError,
    audit_record,
    audit_verify_chain,
)
from tests.audit.helpers import record_events, superuser_connection

pytestmark = pytest.mark.django_db


def test_events_form_a_chain_with_sequence_and_links():
    events = record_events(3)

    stored = list(AuditEvent.objects.all())
    assert [e.sequence for e in stored] == [1, 2, 3]
    assert stored[0].prev_hash == GENESIS_HASH
    assert stored[1].prev_hash == stored[0].hash
    assert stored[2].prev_hash == stored[1].hash
    assert stored[0].occurred_at <= stored[1].occurred_at <= stored[2].occurred_at
    assert [e.hash for e in events] == [e.hash for e in stored]
    assert audit_verify_chain().ok


def test_user_actor_model_target_and_request_are_recorded():
    # An unsaved user with a pk is enough for Actor.user(); the accounts app is built in
    # parallel, so this test does not depend on its migrations.
    user = User(pk=42, username="rita")
    desk = Group.objects.create(name="risk desk")
    request = RequestFactory().post(
        "/breakers/1/reset", REMOTE_ADDR="2001:DB8:0:0::1", HTTP_USER_AGENT="Firefox/128 \x00"
    )

    event = audit_record(
        action=AuditAction.USER_CREATED,
        actor=Actor.user(user),
        target=desk,
        details={"role": "risk_manager"},
        request=request,
    )

    stored = AuditEvent.objects.get(sequence=event.sequence)
    assert (stored.actor_kind, stored.actor_id, stored.actor_label) == (
        "user",
        str(user.pk),
        "rita",
    )
    assert (stored.target_type, stored.target_id) == ("auth.group", str(desk.pk))
    assert stored.action == "user.created"
    assert stored.client_ip == "2001:db8::1"
    assert stored.user_agent == "Firefox/128 \ufffd"
    assert stored.occurred_at.tzinfo is not None
    assert audit_verify_chain().ok


def test_api_key_system_and_anonymous_actors():
    audit_record(action=AuditAction.KEY_IP_DENIED, actor=Actor.api_key("bw_k1", "market bot"))
    audit_record(action=AuditAction.BREAKER_TRIPPED, actor=Actor.system("risk.limits"))
    audit_record(action=AuditAction.LOGIN_FAILED, actor=Actor.anonymous("mallory"))
    # A claimed username is attacker-controlled: NUL and lone surrogates must not break the
    # audit (and with it the login flow that records it).
    audit_record(action=AuditAction.LOGIN_FAILED, actor=Actor.anonymous("\ud800eve\x00" * 40))

    assert list(AuditEvent.objects.values_list("actor_kind", "actor_id", "actor_label")) == [
        ("api_key", "bw_k1", "market bot"),
        ("system", "risk.limits", "risk.limits"),
        ("anonymous", "", "mallory"),
        ("anonymous", "", ("?eve\ufffd" * 40)[:150]),
    ]
    assert audit_verify_chain().ok


def test_action_must_come_from_the_enumeration():
    with pytest.raises(ValueError):
        audit_record(action="key.made_up", actor=Actor.system("tests"))
    assert not AuditEvent.objects.exists()
    # The dotted string of a real action is accepted.
    assert audit_record(action="key.revoked", actor=Actor.system("tests")).action == "key.revoked"


def test_rollback_of_the_action_leaves_no_event():
    class ActionFailed(Exception):
        pass

    with pytest.raises(ActionFailed), transaction.atomic():
        audit_record(action=AuditAction.KEY_REVOKED, actor=Actor.system("tests"))
        raise ActionFailed

    assert not AuditEvent.objects.exists()
    # The chain carries on from the real head, not from the rolled-back event.
    event = audit_record(action=AuditAction.KEY_REVOKED, actor=Actor.system("tests"))
    assert (event.sequence, event.prev_hash) == (1, GENESIS_HASH)


def test_secrets_in_details_are_redacted_not_stored():
    event = audit_record(
        action=AuditAction.MFA_FAILED,
        actor=Actor.anonymous("rita"),
        details={
            "password": "hunter2",
            "otp_code": "123456",
            "backupCode": "abcd-efgh",
            "nested": {"key_secret": "s3cr3t", "apiToken": "t0k3n", "attempt": 3},
            "reject_code": "price_collar",
            "key_id": "bw_k1",
        },
    )

    stored = AuditEvent.objects.get(sequence=event.sequence).details
    assert stored == {
        "password": REDACTED,
        "otp_code": REDACTED,
        "backupCode": REDACTED,
        "nested": {"key_secret": REDACTED, "apiToken": REDACTED, "attempt": 3},
        "reject_code": "price_collar",
        "key_id": "bw_k1",
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT details::text FROM audit_auditevent")
        raw = cursor.fetchone()[0]
    for secret in ("hunter2", "123456", "abcd-efgh", "s3cr3t", "t0k3n"):
        assert secret not in raw


def test_awkward_details_round_trip_so_the_hash_still_verifies():
    # jsonb would otherwise rewrite 1e+20 and -0.0 and refuse NUL: the stored event must hash
    # to what was computed at write time.
    event = audit_record(
        action=AuditAction.LIMIT_CHANGED,
        actor=Actor.system("tests"),
        details={
            "big": 1e20,
            "tiny": 1.5e-12,
            "neg_zero": -0.0,
            "third": 1 / 3,
            "huge_int": 2**70,
            "price": Decimal("12.3400"),
            "when": datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
            "id": uuid.UUID(int=7),
            "text": "naïve — \x00 ☃ \ud800",
            "list": (1, "two", None, True),
            "z": {"b": 1, "a": [{"y": 2, "x": 1}]},
        },
    )

    stored = AuditEvent.objects.get(sequence=event.sequence)
    assert stored.details == event.details
    assert stored.hash == event.hash
    assert audit_verify_chain().ok


@pytest.mark.parametrize("bad", [math.nan, math.inf, object()])
def test_details_that_cannot_be_stored_faithfully_are_refused(bad):
    with pytest.raises(UnsafeDetailsError):
        audit_record(action=AuditAction.LIMIT_CHANGED, actor=Actor.system("t"), details={"v": bad})
    assert not AuditEvent.objects.exists()


def test_ipv4_and_mapped_addresses_round_trip():
    for addr in ("192.0.2.10", "::ffff:192.0.2.1", "fe80::1%eth0", "not-an-ip"):
        request = RequestFactory().get("/", REMOTE_ADDR=addr)
        audit_record(action=AuditAction.LOGIN_FAILED, actor=Actor.anonymous(), request=request)
    assert list(AuditEvent.objects.values_list("client_ip", flat=True)) == [
        "192.0.2.10",
        "::ffff:192.0.2.1",
        "fe80::1",
        None,
    ]
    assert audit_verify_chain().ok


@pytest.mark.django_db(transaction=True)
def test_in_autocommit_mode_the_event_commits_on_its_own():
    event = audit_record(action=AuditAction.BREAKER_RESET, actor=Actor.system("tests"))

    with superuser_connection() as other:
        row = other.execute(
            "SELECT hash FROM audit_auditevent WHERE sequence = %s", [event.sequence]
        ).fetchone()
    assert row == (event.hash,)


@pytest.mark.django_db(transaction=True)
def test_rolled_back_transaction_is_invisible_to_other_connections_and_releases_the_lock():
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(action=AuditAction.KEY_ISSUED, actor=Actor.system("tests"))
        raise RuntimeError("issuing the key failed after the audit call")

    with superuser_connection() as other:
        assert other.execute("SELECT count(*) FROM audit_auditevent").fetchone() == (0,)
        # The advisory lock went with the transaction: another session can append at once.
        other.execute("SET lock_timeout = '2s'")
        other.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])


def test_lock_key_is_the_documented_one():
    digest = hashlib.sha256(b"breakwater.audit.chain").digest()[:8]
    assert int.from_bytes(digest, "big", signed=True) == CHAIN_LOCK_KEY


@pytest.mark.django_db(transaction=True)
def test_a_snapshot_older_than_the_lock_is_refused_with_a_reason():
    record_events(1)
    with pytest.raises(AuditIsolationError, match="READ COMMITTED"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        audit_record(action=AuditAction.KEY_ISSUED, actor=Actor.system("tests"))
    assert AuditEvent.objects.count() == 1
