"""`make run`: the whole stack in one terminal, for the demo and for development.

Starts embedded PostgreSQL/Redis when DATABASE_URL / REDIS_URL are unset, migrates,
seeds the demo, then supervises the ASGI server, a Celery worker and Celery beat.
Ctrl-C or SIGTERM stops every child, then the embedded servers, within 10 seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config.local_services import EmbeddedServices, profile_dir  # noqa: E402

PYTHON = sys.executable
STOP_GRACE_SECONDS = 6.0  # children get this long after SIGTERM before SIGKILL


class Supervisor:
    def __init__(self) -> None:
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.stopping = False

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        # Own session per child: the terminal's Ctrl-C reaches only us, and we stop
        # the children in order (and their own children, via the process group).
        self.children[name] = subprocess.Popen(args, cwd=ROOT, env=env, start_new_session=True)

    def stop_all(self) -> None:
        self.stopping = True
        for proc in self.children.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for proc in self.children.values():
            remaining = max(0.0, deadline - time.monotonic())
            try:
                proc.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                pass
        for proc in self.children.values():
            try:  # the group too: prefork pool workers, uvicorn workers
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass

    def first_exited(self) -> str | None:
        for name, proc in self.children.items():
            if proc.poll() is not None:
                return name
        return None


def wait_ready(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own localhost URL
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.25)
    return False


def main() -> int:
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DEMO", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    port = int(os.environ.get("PORT", "8000"))
    host = os.environ.get("HOST", "127.0.0.1")

    def _terminate(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)

    services: EmbeddedServices | None = None
    supervisor = Supervisor()
    try:
        database_url = os.environ.get("DATABASE_URL") or None
        redis_url = os.environ.get("REDIS_URL") or None
        if database_url is None or redis_url is None:
            services = EmbeddedServices("run")
            urls = services.start(database_url=database_url, redis_url=redis_url)
            services.record()
            database_url, redis_url = urls.database_url, urls.redis_url
            print(f"[run] embedded servers up (data in {profile_dir('run')})", flush=True)
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url}

        manage = [PYTHON, "manage.py"]
        subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        if env.get("DEMO") == "1":
            subprocess.run([*manage, "seed_demo"], cwd=ROOT, env=env, check=True)

        supervisor.spawn(
            "web",
            [
                PYTHON,
                "-m",
                "config.serve",  # uvicorn, one socket per worker (config/serve.py)
                "--host",
                host,
                "--port",
                str(port),
                "--workers",
                os.environ.get("WEB_CONCURRENCY", "1"),
                "--timeout-graceful-shutdown",
                "3",
            ],
            # X-Forwarded-For is never trusted here: a local client could spoof its address
            # past per-IP lockouts and key network checks (docs/accounts.md).
            {k: v for k, v in env.items() if k != "FORWARDED_ALLOW_IPS"},
        )
        supervisor.spawn(
            "worker",
            [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                os.environ.get("CELERY_CONCURRENCY", "2"),
                "--without-gossip",
                "--without-mingle",
            ],
            env,
        )
        supervisor.spawn(
            "beat",
            [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "config",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                # Per profile: a soak (scripts/soak.py) beside a `make run` keeps its own file.
                str(
                    profile_dir(os.environ.get("BREAKWATER_PROFILE", "run")) / "celerybeat-schedule"
                ),
            ],
            env,
        )

        base = f"http://{host}:{port}"
        if not wait_ready(f"{base}/readyz", timeout=60):
            print("[run] the web server did not become ready within 60 s", file=sys.stderr)
            return 1
        print(
            f"\n  Breakwater is up at {base}/\n"
            f"  API docs: {base}/api/docs/   readiness: {base}/readyz\n"
            "  Demo sign-in: see README ('Log in to the demo').\n"
            "  Operators: .venv/bin/python manage.py <command>  (reaches these same servers)\n"
            "  Stop with Ctrl-C.\n",
            flush=True,
        )
        while True:
            name = supervisor.first_exited()
            if name is not None:
                print(f"[run] {name} exited unexpectedly; stopping everything", file=sys.stderr)
                return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\n[run] stopping…", flush=True)
        return 0
    except subprocess.CalledProcessError as exc:
        print(f"[run] setup step failed: {' '.join(map(str, exc.cmd[1:]))}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        supervisor.stop_all()
        if services is not None:
            services.stop()
        print("[run] stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
