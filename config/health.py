"""Liveness and readiness probes for load balancers, compose and CI."""

from __future__ import annotations

import time

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def _check_postgres() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure means "not ready"; the message is shown to operators
        connection.close()
        return f"{type(exc).__name__}: {exc}".strip()[:200]
    return None


def _check_redis() -> str | None:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"{type(exc).__name__}: {exc}"[:200]
    finally:
        client.close()
    return None


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is alive and serving requests; says nothing about dependencies."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready only when PostgreSQL and Redis both answer; 503 names what failed."""
    started = time.perf_counter()
    checks = {"postgres": _check_postgres(), "redis": _check_redis()}
    failed = [name for name, error in checks.items() if error]
    body = {
        "status": "unavailable" if failed else "ready",
        "failed": failed,
        "checks": {name: (error or "ok") for name, error in checks.items()},
        "elapsed_ms": round((time.perf_counter() - started) * 1000, 1),
    }
    return JsonResponse(body, status=503 if failed else 200)
