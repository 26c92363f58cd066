"""The database itself refuses to change or remove audit events."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from apps.audit.chain import GENESIS_HASH
from apps.audit.models import AppendOnlyError, AuditEvent
from tests.audit.helpers import record_events

pytestmark = pytest.mark.django_db


def _sql(statement: str, params: list | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])


def _refused(statement: str, params: list | None = None) -> str:
    with pytest.raises(DatabaseError) as caught, transaction.atomic():
        _sql(statement, params)
    return str(caught.value)


def test_update_through_the_app_connection_is_refused():
    record_events(2)

    message = _refused("UPDATE audit_auditevent SET details = '{}'::jsonb WHERE sequence = 1")

    assert "append-only" in message and "UPDATE" in message
    assert AuditEvent.objects.get(sequence=1).details["new"] == 500


def test_delete_through_the_app_connection_is_refused():
    record_events(2)

    message = _refused("DELETE FROM audit_auditevent WHERE sequence = 2")

    assert "append-only" in message and "DELETE" in message
    assert AuditEvent.objects.count() == 2


def test_truncate_is_refused_outside_the_test_runners_flush():
    record_events(1)
    # The test runner's own exemption (apps.audit.apps) is switched off for this transaction.
    with transaction.atomic():
        _sql("SET LOCAL breakwater.audit_allow_truncate = 'off'")
        message = _refused("TRUNCATE audit_auditevent")
    assert "append-only" in message and "TRUNCATE" in message
    assert AuditEvent.objects.count() == 1


def test_an_app_role_that_is_not_superuser_cannot_change_events_even_with_all_privileges():
    record_events(2)
    with transaction.atomic():
        # CREATE ROLE is transactional: rolled back with the test, never seen by anyone else.
        _sql("CREATE ROLE bw_audit_app_probe NOLOGIN NOSUPERUSER")
        _sql("GRANT ALL ON audit_auditevent TO bw_audit_app_probe")
        _sql("SET LOCAL ROLE bw_audit_app_probe")
        for statement in (
            "UPDATE audit_auditevent SET actor_label = 'someone else'",
            "DELETE FROM audit_auditevent",
            "TRUNCATE audit_auditevent",  # even with the test runner's exemption set
        ):
            assert "append-only" in _refused(statement)
        # ...and the trigger cannot be side-stepped by replica mode.
        assert "permission denied" in _refused("SET session_replication_role = replica")
        _sql("RESET ROLE")
    assert AuditEvent.objects.count() == 2


def test_replica_mode_does_not_skip_the_triggers():
    record_events(1)
    with transaction.atomic():
        _sql("SET LOCAL session_replication_role = replica")
        assert "append-only" in _refused("DELETE FROM audit_auditevent")


def test_an_insert_that_does_not_extend_the_head_is_refused():
    events = record_events(2)
    columns = (
        "sequence, version, occurred_at, actor_kind, actor_id, actor_label, action, target_type, "
        "target_id, details, user_agent, prev_hash, hash"
    )
    forged = (
        f"INSERT INTO audit_auditevent ({columns}) VALUES "  # noqa: S608
        "(%s, 1, now(), 'system', 'x', 'x', 'key.issued', '', '', '{}', '', %s, %s)"
    )
    # A fork: a second successor of event 1.
    assert "does not extend" in _refused(forged, [2, events[0].hash, "f" * 64])
    # A gap: skipping sequence 3.
    assert "does not extend" in _refused(forged, [4, events[1].hash, "e" * 64])
    # A new genesis.
    assert "does not extend" in _refused(forged, [3, GENESIS_HASH, "d" * 64])
    assert AuditEvent.objects.count() == 2


def test_orm_refuses_updates_and_deletes_before_reaching_the_database():
    record_events(1)
    event = AuditEvent.objects.get()

    event.actor_label = "someone else"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().update(actor_label="x")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
