"""Celery application. Configuration lives in Django settings under the CELERY_ namespace.

Every task counts its deliveries (docs/operations.md "Task delivery and worker crashes"): with
late acks a message whose worker dies is delivered again, and a task that kills its worker
every time (out of memory, a segfault in a native library) would crash-loop the workers
forever. So each run increments a counter in Redis per task id and attempt (a retry is a new
attempt); the run after ``CELERY_TASK_MAX_DELIVERIES`` deliveries does not execute the task:
it logs an error, raises an alert on the dashboard and acks the message. The counter is
deleted when the run ends (whatever its outcome), so Redis holds one only per message in flight
or lost with its worker; the TTL is a backstop for those.
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Any

import redis
from celery import Celery, Task

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

logger = logging.getLogger("breakwater.tasks")

DELIVERY_KEY_PREFIX = "bw:celery:deliveries:"
DELIVERY_KEY_TTL_SECONDS = 86400


@functools.lru_cache(maxsize=4)
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)


def delivery_count(task_id: str, attempt: int) -> int | None:
    """Count one more delivery of (task id, attempt); the total, or None if Redis failed."""
    from django.conf import settings

    key = f"{DELIVERY_KEY_PREFIX}{task_id}:{attempt}"
    try:
        pipe = _redis(settings.REDIS_URL).pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, DELIVERY_KEY_TTL_SECONDS)
        count, _ = pipe.execute()
    except redis.RedisError:
        # The broker just delivered this message, so Redis is back or flapping: run the task
        # rather than lose it; the cap is a guard against crash loops, not a gate.
        logger.warning("delivery count of task %s unavailable: Redis unreachable", task_id)
        return None
    return int(count)


def delivery_forget(task_id: str, attempt: int) -> None:
    """Drop the counter of a run that ended: its message is acked now and never redelivered.
    (Keeping it for its TTL cost a key per task run, ~4 a second at rest.)"""
    from django.conf import settings

    try:
        _redis(settings.REDIS_URL).delete(f"{DELIVERY_KEY_PREFIX}{task_id}:{attempt}")
    except redis.RedisError:
        pass  # it expires on its own


def claim_once(name: str, *, ttl_seconds: int = DELIVERY_KEY_TTL_SECONDS) -> bool:
    """True the first time ``name`` is claimed (SET NX in Redis): lets a redelivered task skip
    a side effect its dead first run already had. True as well when Redis is unreachable
    (then a duplicate is possible, a loss is not)."""
    from django.conf import settings

    try:
        return bool(
            _redis(settings.REDIS_URL).set(f"bw:celery:once:{name}", 1, nx=True, ex=ttl_seconds)
        )
    except redis.RedisError:
        return True


def _report_dropped(task: Task, deliveries: int) -> None:
    from apps.realtime.alerts import alert_raise

    logger.error(
        "task dropped after %d deliveries: %s[%s] (its worker died every time it ran; "
        "see the worker logs and docs/operations.md)",
        deliveries - 1,
        task.name,
        task.request.id,
    )
    alert_raise(
        kind="task.dropped",
        severity="critical",
        title=f"Task {task.name} dropped after {deliveries - 1} deliveries",
        detail=f"Task id {task.request.id}: its worker died each time it ran it.",
    )


class DeliveryCappedTask(Task):
    """The base of every task: at most ``CELERY_TASK_MAX_DELIVERIES`` runs of one message."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        request = self.request
        if request.id and not request.called_directly and not request.is_eager:
            from django.conf import settings

            cap = settings.CELERY_TASK_MAX_DELIVERIES
            attempt = request.retries or 0
            deliveries = delivery_count(request.id, attempt)
            try:
                if deliveries is not None and deliveries > cap:
                    _report_dropped(self, deliveries)
                    return {"dropped": "max_deliveries", "deliveries": deliveries - 1}
                return super().__call__(*args, **kwargs)
            finally:
                # Reached when the run returns or raises (a retry included), not when its
                # process dies: then the counter must survive for the redelivery.
                delivery_forget(request.id, attempt)
        return super().__call__(*args, **kwargs)


app = Celery("breakwater", task_cls=DeliveryCappedTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.imports = ["config.tasks"]
app.autodiscover_tasks()
