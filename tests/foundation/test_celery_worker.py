import uuid

import pytest
from celery.contrib.testing.worker import start_worker

from config.celery import app
from config.tasks import probe

pytestmark = pytest.mark.django_db(transaction=True)


def test_task_runs_on_a_real_worker_through_redis():
    token = uuid.uuid4().hex
    # A real worker thread consuming from the real Redis broker; the result comes back
    # through the Redis result backend.
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        result = probe.delay(token).get(timeout=30)
    assert result["token"] == token
    assert result["db_now"]  # the worker queried PostgreSQL


def test_celery_is_configured_for_safe_delivery():
    conf = app.conf
    assert conf.task_serializer == "json" and conf.accept_content == ["json"]
    assert conf.task_acks_late is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_time_limit and conf.task_soft_time_limit
