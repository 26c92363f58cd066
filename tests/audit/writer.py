"""A separate writer process for the concurrency test: ``python -m tests.audit.writer NAME N``.

Sets Django up on the database in DATABASE_URL, prints ``ready``, waits for a line on stdin
(so that every writer starts at the same moment), then appends N events, each in its own
transaction, and prints ``done``.
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    name, count = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    from django.db import connection

    from apps.audit.actions import AuditAction
    from apps.audit.actors import Actor
    from apps.audit.services import audit_record

    connection.ensure_connection()
    print("ready", flush=True)
    sys.stdin.readline()
    actor = Actor.system(name)
    for i in range(count):
        audit_record(
            action=AuditAction.KEY_EXPIRED_USE,
            actor=actor,
            target=("apikeys.apikey", f"{name}-{i}"),
            details={"writer": name, "i": i, "pid": os.getpid()},
        )
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
