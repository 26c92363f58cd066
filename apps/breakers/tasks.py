"""Celery tasks for breakers. Thin: each calls services.

``breakers.maintain`` runs every few seconds (registered here, not in settings): it rewrites the
Redis mirror from PostgreSQL (repairing a lost after-commit write or a Redis restart), checks
the venues' automatic conditions and expires old four-eyes requests.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import DatabaseError

from apps.breakers.enforcement import breaker_mirror_resync
from apps.breakers.mirror import MirrorUnavailable
from apps.breakers.services.four_eyes import reset_requests_expire
from apps.breakers.services.venues import venues_conditions_sweep
from config.celery import app

logger = logging.getLogger(__name__)

MAINTAIN_EVERY_SECONDS = 3.0


def breakers_maintain() -> dict[str, Any]:
    """The body of ``breakers.maintain`` (also called by tests and the bench)."""
    outcome: dict[str, Any] = {}
    try:
        outcome["mirror_removed"] = breaker_mirror_resync()
    except (MirrorUnavailable, DatabaseError) as exc:
        logger.warning("breaker mirror resync failed: %s", exc)
        outcome["mirror_error"] = str(exc)
    outcome["venues"] = venues_conditions_sweep()
    outcome["expired_requests"] = reset_requests_expire()
    return outcome


@app.task(name="breakers.maintain", time_limit=30, soft_time_limit=25, ignore_result=True)
def maintain() -> dict[str, Any]:
    return breakers_maintain()


app.add_periodic_task(
    MAINTAIN_EVERY_SECONDS,
    maintain.s(),
    name="breakers.maintain",
    expires=MAINTAIN_EVERY_SECONDS * 2,
)
