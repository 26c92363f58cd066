"""Celery tasks of the gateway. Thin: take ids, re-read, call a service.

- ``gateway.cancel_on_halt(breaker_id)``: enqueued by the breakers' ``on_halted`` hook after
  the halt commits; retries (capped backoff) until no working order is left in the scope, then
  one more sweep a little later for orders that were being routed while the halt committed.
  Safe to run again (a redelivery after its worker died): only working orders are cancelled,
  so a second run finds nothing more to do, and the later sweep is scheduled once per task.
- ``gateway.halt_sweep``: every 10 s (beat), re-sends cancel-on-halt for a breaker halted for
  longer than a redelivery takes whose scope still has working orders (its message was lost
  with Redis, or it gave up), at most once a minute per breaker.
- ``gateway.dead_mans_switch_sweep``: every second (beat), halts keys whose heartbeat stopped.
- ``gateway.reconcile``: every 5 s, settles ``unknown`` orders and refreshes working ones.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.gateway.services.cancel import (
    halted_breakers_with_working_orders,
    orders_cancel_on_halt,
)
from apps.gateway.services.heartbeat import dead_mans_switch_sweep
from apps.gateway.services.reconcile import orders_reconcile
from config.celery import app, claim_once

SWEEP_EVERY_SECONDS = 1.0
RECONCILE_EVERY_SECONDS = 5.0
SECOND_PASS_DELAY_SECONDS = 2.0
HALT_SWEEP_EVERY_SECONDS = 10.0
HALT_RESEND_AT_MOST_EVERY_SECONDS = 60
MAX_CANCEL_RETRIES = 30


@app.task(
    name="gateway.cancel_on_halt",
    bind=True,
    max_retries=MAX_CANCEL_RETRIES,
    time_limit=60,
    soft_time_limit=50,
    acks_late=True,
)
def cancel_on_halt(self: Any, breaker_id: int, sweep_before: str | None = None) -> dict:
    before = parse_datetime(sweep_before) if sweep_before else None
    started = timezone.now()
    report = orders_cancel_on_halt(breaker_id=breaker_id, decided_before=before)
    if report is None:
        return {"skipped": "not_halted"}
    if not report.done:
        raise self.retry(countdown=min(2**self.request.retries, 30))
    if sweep_before is None and _first_run(self.request.id):
        # Orders accepted just before the halt may commit after this pass: sweep once more.
        cancel_on_halt.apply_async(
            (breaker_id, started.isoformat()), countdown=SECOND_PASS_DELAY_SECONDS
        )
    return {"cancelled": report.cancelled, "remaining": report.remaining}


def _first_run(task_id: str | None) -> bool:
    """Whether this run schedules the later sweep (not a redelivery whose first run did)."""
    return task_id is None or claim_once(f"cancel_on_halt:second_pass:{task_id}")


@app.task(name="gateway.halt_sweep", time_limit=30, soft_time_limit=25, expires=10)
def halt_sweep_task() -> list[int]:
    # Only halts older than a redelivery takes: a cancel-on-halt whose worker died is
    # redelivered by the broker (visibility timeout), and is not lost.
    grace = settings.CELERY_VISIBILITY_TIMEOUT_SECONDS + HALT_RESEND_AT_MOST_EVERY_SECONDS
    resent = []
    halted_before = timezone.now() - timedelta(seconds=grace)
    for breaker_id in halted_breakers_with_working_orders(halted_before=halted_before):
        # One re-send per breaker per minute: a venue that refuses cancels for a while is
        # retried by the task itself, not by a new task every sweep.
        slot = int(timezone.now().timestamp()) // HALT_RESEND_AT_MOST_EVERY_SECONDS
        if claim_once(f"gateway:halt_sweep:{breaker_id}:{slot}"):
            cancel_on_halt.delay(breaker_id)
            resent.append(breaker_id)
    return resent


@app.task(name="gateway.dead_mans_switch_sweep", time_limit=30, soft_time_limit=25, expires=5)
def dead_mans_switch_sweep_task() -> list[str]:
    return dead_mans_switch_sweep()


@app.task(name="gateway.reconcile", time_limit=60, soft_time_limit=50, expires=15)
def reconcile_task() -> dict:
    return orders_reconcile().as_dict()


@app.on_after_finalize.connect
def _schedule(sender: Any, **kwargs: Any) -> None:
    # Beat's runs keep no result (nobody waits for them; one a second would pile up in Redis
    # for CELERY_RESULT_EXPIRES); a caller of .delay() still gets one.
    periodic = {"ignore_result": True}
    sender.add_periodic_task(
        SWEEP_EVERY_SECONDS,
        dead_mans_switch_sweep_task.s(),
        name="gateway dead man's switch",
        **periodic,
    )
    sender.add_periodic_task(
        RECONCILE_EVERY_SECONDS, reconcile_task.s(), name="gateway reconcile orders", **periodic
    )
    sender.add_periodic_task(
        HALT_SWEEP_EVERY_SECONDS,
        halt_sweep_task.s(),
        name="gateway re-send lost cancel-on-halt",
        **periodic,
    )
