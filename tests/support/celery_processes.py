"""Celery workers and beat that a fault test starts, kills and restarts."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil

from tests.support.servers import ARTIFACTS, celery_process


class CeleryProcesses:
    """Celery workers and beat a fault test starts, kills and restarts (tests/support/servers.py
    celery_process); every process tree left is killed at teardown, children first."""

    def __init__(self, schedule_dir: Path, **env: str) -> None:
        self.schedule_dir = schedule_dir
        self.env = env
        self.started: list[subprocess.Popen[bytes]] = []

    def worker(self, log_name: str, *, pool: str = "solo") -> subprocess.Popen[bytes]:
        process = celery_process("worker", log_name=log_name, pool=pool, **self.env)
        self.started.append(process)
        return process

    def beat(self, log_name: str = "faults-beat") -> subprocess.Popen[bytes]:
        process = celery_process(
            "beat", log_name=log_name, schedule_dir=self.schedule_dir, **self.env
        )
        self.started.append(process)
        return process

    @staticmethod
    def log(log_name: str) -> str:
        return (ARTIFACTS / f"{log_name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        """SIGKILL, not a warm shutdown: the test is over, and a warm shutdown waits for the
        running task (10 s per worker on a loaded machine). What the dead workers left in the
        broker goes with the next test's flush of its Redis database."""
        for process in reversed(self.started):
            with contextlib.suppress(psutil.NoSuchProcess):
                for child in psutil.Process(process.pid).children(recursive=True):
                    child.kill()
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def celery_processes_in(schedule_dir: Path) -> Iterator[CeleryProcesses]:
    processes = CeleryProcesses(schedule_dir)
    try:
        yield processes
    finally:
        processes.stop_all()
