"""export_audit writes JSON Lines that can be verified offline, and is itself audited."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.management import call_command

from apps.audit.chain import GENESIS_HASH, PAYLOAD_FIELDS
from apps.audit.models import AuditEvent
from tests.audit.helpers import manage, record_events
from tests.support.servers import ROOT


def offline_verify(path) -> subprocess.CompletedProcess[str]:
    """The offline checker needs no Django and no database: only the file."""
    return subprocess.run(
        [sys.executable, "-m", "apps.audit.chain", str(path)],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def export(**options) -> list[dict]:
    out, err = io.StringIO(), io.StringIO()
    call_command("export_audit", stdout=out, stderr=err, **options)
    return [json.loads(line) for line in out.getvalue().splitlines()]


@pytest.mark.django_db
def test_export_lines_hold_the_hashed_payload_and_hash(tmp_path):
    events = record_events(5)

    lines = export(since="2000-01-01")

    assert [line["sequence"] for line in lines] == [1, 2, 3, 4, 5]
    assert set(lines[0]) == {*PAYLOAD_FIELDS, "hash"}
    assert [line["hash"] for line in lines] == [e.hash for e in events]
    assert lines[0]["prev_hash"] == GENESIS_HASH
    assert lines[0]["occurred_at"].endswith("Z") and len(lines[0]["occurred_at"]) == 27

    path = tmp_path / "audit.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = offline_verify(path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"OK 5 events, head {events[-1].hash}")


@pytest.mark.django_db
def test_a_tampered_export_fails_offline(tmp_path):
    record_events(5)
    lines = export(since="2000-01-01")
    lines[2]["details"]["new"] = 1  # someone "corrects" a limit in the exported file

    path = tmp_path / "audit.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = offline_verify(path)

    assert result.returncode == 1
    assert "event 3" in result.stderr


@pytest.mark.django_db
def test_export_window_is_a_contiguous_slice_linked_to_its_predecessor(tmp_path):
    events = record_events(6)
    stored = list(AuditEvent.objects.all())
    since = stored[2].occurred_at.isoformat()
    until = (stored[4].occurred_at + timedelta(microseconds=1)).isoformat()

    lines = export(since=since, until=until)

    assert [line["sequence"] for line in lines] == [3, 4, 5]
    assert lines[0]["prev_hash"] == events[1].hash
    path = tmp_path / "slice.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = offline_verify(path)
    assert result.returncode == 0, result.stderr
    assert f"links to {events[1].hash}" in result.stdout


@pytest.mark.django_db
def test_export_is_itself_audited():
    record_events(2)

    export(since="2000-01-01", until="2999-01-01")

    last = AuditEvent.objects.last()
    assert last.action == "audit.exported"
    assert last.actor_kind == "system" and last.actor_id.startswith("export_audit:")
    assert last.details["count"] == 2 and last.details["last_sequence"] == 2


@pytest.mark.django_db
def test_bad_bounds_are_refused_with_a_message():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="ISO 8601"):
        export(since="last tuesday")
    with pytest.raises(CommandError, match="after"):
        export(since="2025-02-01", until="2025-01-01")


@pytest.mark.django_db(transaction=True)
def test_operator_commands_from_a_shell(tmp_path):
    # A fresh database: nothing to export, and the chain verifies empty.
    empty = manage("export_audit", "--since", "2000-01-01")
    assert empty.returncode == 0, empty.stderr
    assert empty.stdout == ""
    assert "exported 0 events" in empty.stderr

    record_events(3)
    path = tmp_path / "export.jsonl"
    written = manage("export_audit", "--since", "2000-01-01", "--output", str(path))
    assert written.returncode == 0, written.stderr
    assert "exported 4 events" in written.stderr  # three, plus the first export's own event

    offline = offline_verify(path)
    assert offline.returncode == 0, offline.stderr
    assert offline.stdout.startswith("OK 4 events")
    verified = manage("verify_audit")
    assert verified.returncode == 0 and verified.stdout.startswith("OK 5 events")
