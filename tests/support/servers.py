"""Real server processes for end-to-end tests: uvicorn (ASGI) and Celery, on the test database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_database_url() -> str:
    """URL of the database pytest-django created, so child processes share it."""
    db = connection.settings_dict
    host = db.get("HOST") or "127.0.0.1"
    if host.startswith("/"):
        host = quote(host, safe="")
    port = f":{db['PORT']}" if db.get("PORT") else ""
    auth = db.get("USER") or "postgres"
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{auth}@{host}{port}/{db['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "TEST_REDIS_DB": settings.REDIS_URL.rsplit("/", 1)[-1],
        "PYTHONUNBUFFERED": "1",
    }
    env.update(extra)
    return env


@dataclass
class RunningServer:
    base_url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@contextmanager
def uvicorn_server(
    *, workers: int = 1, ready_path: str = "/readyz", **env: str
) -> Iterator[RunningServer]:
    """Start the real ASGI app under uvicorn on a free port; wait until ``ready_path`` answers
    200 (``/healthz`` for a server whose dependencies are down on purpose)."""
    ARTIFACTS.mkdir(exist_ok=True)
    port = free_port()
    log_path = ARTIFACTS / f"uvicorn-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            # The production launcher (config/serve.py: uvicorn, one socket per worker, the
            # bounded-send websocket protocol, no proxy headers unless FORWARDED_ALLOW_IPS).
            [
                sys.executable,
                "-m",
                "config.serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            cwd=ROOT,
            env=child_env(**env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = RunningServer(f"http://127.0.0.1:{port}", port, process, log_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"uvicorn exited early:\n{server.log()}")
            try:
                if httpx.get(f"{server.base_url}{ready_path}", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn not ready in 60 s:\n{server.log()}")
            time.sleep(0.2)
        yield server
    finally:
        _stop(process)


def celery_process(
    kind: str,
    *,
    log_name: str,
    pool: str = "solo",
    schedule_dir: Path | None = None,
    **env: str,
) -> subprocess.Popen[bytes]:
    """One real Celery ``worker`` (``pool`` solo, or prefork with one child) or ``beat`` as a
    subprocess on the test database and Redis (``env`` overrides child_env), logging to
    test-artifacts/<log_name>.log. The caller stops it (:func:`stop_process`)."""
    ARTIFACTS.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "celery", "-A", "config", kind, "--loglevel", "INFO"]
    if kind == "worker":
        command += ["--pool", pool, "--without-gossip", "--without-mingle"]
        if pool == "prefork":
            command += ["--concurrency", "1"]
    else:
        assert schedule_dir is not None, "beat needs a schedule_dir"
        command += ["--schedule", str(schedule_dir / "celerybeat-schedule")]
    with open(ARTIFACTS / f"{log_name}.log", "wb") as log:
        return subprocess.Popen(
            command, cwd=ROOT, env=child_env(**env), stdout=log, stderr=subprocess.STDOUT
        )


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """TERM, then KILL after 10 s."""
    _stop(process)


@contextmanager
def celery_worker_and_beat(schedule_dir: Path, **env: str) -> Iterator[None]:
    """A real Celery worker (solo pool: the machine has two cores) and beat as subprocesses on
    the test database and Redis, stopped (TERM, then KILL) on exit. Logs in test-artifacts/."""
    processes = []
    try:
        for kind in ("worker", "beat"):
            processes.append(
                celery_process(
                    kind, log_name=f"dashboard-celery-{kind}", schedule_dir=schedule_dir, **env
                )
            )
        yield
    finally:
        for process in processes:
            _stop(process)
