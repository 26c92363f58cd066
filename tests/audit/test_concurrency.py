"""Several processes appending at once still build one linear chain."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time

import pytest

from apps.audit.models import AuditEvent
from apps.audit.services import audit_verify_chain
from tests.audit.helpers import manage
from tests.support.servers import ROOT, child_env

WRITERS = 4
EVENTS_EACH = 500


@pytest.mark.django_db(transaction=True)
def test_four_processes_writing_500_events_each_build_one_chain():
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.audit.writer", f"writer-{n}", str(EVENTS_EACH)],
            cwd=ROOT,
            env=child_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(WRITERS)
    ]
    try:
        for proc in procs:  # every writer connected before any starts
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        started = time.monotonic()
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=90) for proc in procs]
        elapsed = time.monotonic() - started
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert out.strip() == "done"

    total = WRITERS * EVENTS_EACH
    assert AuditEvent.objects.count() == total
    # No fork: every event has its own predecessor, and sequence runs 1..total.
    assert AuditEvent.objects.values("prev_hash").distinct().count() == total
    assert list(AuditEvent.objects.values_list("sequence", flat=True)) == list(range(1, total + 1))
    per_writer = {
        f"writer-{n}": AuditEvent.objects.filter(actor_id=f"writer-{n}").count()
        for n in range(WRITERS)
    }
    assert set(per_writer.values()) == {EVENTS_EACH}, per_writer
    # The writers really overlapped: the chain switches between them far more often than
    # the WRITERS - 1 switches that one-after-another writing would give.
    authors = list(AuditEvent.objects.values_list("actor_id", flat=True))
    switches = sum(a != b for a, b in itertools.pairwise(authors))
    assert switches > 10 * WRITERS, switches

    result = audit_verify_chain()
    assert result.ok and result.count == total, result
    cli = manage("verify_audit")
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.startswith(f"OK {total} events, head ")
    print(f"{total} events from {WRITERS} processes in {elapsed:.1f} s, {switches} switches")
