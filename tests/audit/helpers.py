"""Shared helpers for audit tests: real processes and a second (superuser) connection."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from apps.audit.actions import AuditAction
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from tests.support.servers import ROOT, child_env, test_database_url


def record_events(count: int, *, component: str = "tests") -> list[AuditEvent]:
    """Append ``count`` ordinary events (each in its own transaction when not in one)."""
    return [
        audit_record(
            action=AuditAction.LIMIT_CHANGED,
            actor=Actor.system(component),
            target=("risk.limit", str(i)),
            details={"field": "max_notional", "old": 1000 * i, "new": 1000 * i + 500},
        )
        for i in range(count)
    ]


@contextmanager
def superuser_connection() -> Iterator[psycopg.Connection]:
    """A separate autocommit connection as the test database's superuser (postgres)."""
    with psycopg.connect(test_database_url(), autocommit=True) as conn:
        (is_super,) = conn.execute("SELECT current_setting('is_superuser')").fetchone()
        assert is_super == "on", "tamper tests need a superuser connection"
        yield conn


def tamper(*statements: str) -> None:
    """Run SQL with the append-only triggers disabled, as a rogue superuser would."""
    with superuser_connection() as conn, conn.transaction():
        conn.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
        for sql in statements:
            conn.execute(sql)
        for trigger in ("append_only", "no_truncate", "extends_head"):
            conn.execute(
                f"ALTER TABLE audit_auditevent ENABLE ALWAYS TRIGGER audit_event_{trigger}"
            )


def manage(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``manage.py`` in a separate process on the test database, as an operator would."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
