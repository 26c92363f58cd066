"""Operational tasks that belong to no domain app."""

from __future__ import annotations

from django.db import connection
from django.utils import timezone

from config.celery import app


@app.task(name="ops.probe", time_limit=10, soft_time_limit=8)
def probe(token: str) -> dict[str, str]:
    """Round trip through a worker and the database: proves a worker is consuming and can query."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        (db_now,) = cursor.fetchone()
    return {"token": token, "db_now": db_now.isoformat(), "worker_now": timezone.now().isoformat()}
