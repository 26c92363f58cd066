"""``python -m config.serve``: the web server, uvicorn worker processes that each accept on their
own socket.

Under ``uvicorn --workers N`` the parent binds one socket and every worker accepts from it. An
idle worker's event loop accepts every connection waiting at that moment, so the few long-lived
keep-alive connections bots hold often all land on one worker. That worker runs them on one
core (the GIL) while the other worker idles: with 4 bench connections on 2 workers, all four
went to one worker in 4 of 6 runs, halving throughput and tripling p50. Here each worker binds
its own ``SO_REUSEPORT`` socket on the same address and Linux spreads new connections over the
workers' sockets by hashing them. Elsewhere (no ``SO_REUSEPORT`` balancing), and with one
worker, it is plain uvicorn.

Every other setting is fixed here, once, for ``make run``, the image and the tests: the ASGI
app, no lifespan, no access log (requests are audited and logged by the app), the bounded-send
websocket protocol (apps/realtime/uvicorn_ws.py) and proxy headers trusted only from
``FORWARDED_ALLOW_IPS`` (unset: never; a client could otherwise spoof its address past per-IP
lockouts and key network checks, docs/accounts.md).

The parent supervises: a worker that dies is started again (after a pause if it keeps dying
at start-up); SIGTERM or SIGINT stops the workers gracefully (uvicorn's own shutdown, at most
``--timeout-graceful-shutdown`` seconds), then the parent exits.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from typing import Any

import uvicorn

APP = "config.asgi:application"
WS_PROTOCOL = "apps.realtime.uvicorn_ws:BoundedSendWebSocketProtocol"
RESTART_PAUSE_SECONDS = 1.0
QUICK_DEATH_SECONDS = 5.0  # a worker dying sooner than this after its start is "at start-up"

logger = logging.getLogger("breakwater.serve")


def balanced_sockets_supported() -> bool:
    return sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")


def reuse_port_socket(host: str, port: int, *, listen: bool) -> socket.socket:
    """A TCP socket bound to (host, port) in the address's SO_REUSEPORT group."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    if listen:
        sock.listen(2048)
    return sock


def uvicorn_options(args: argparse.Namespace) -> dict[str, Any]:
    forwarded = os.environ.get("FORWARDED_ALLOW_IPS", "").strip()
    return {
        "host": args.host,
        "port": args.port,
        "lifespan": "off",
        "access_log": False,
        "ws": WS_PROTOCOL,
        "proxy_headers": bool(forwarded),
        "forwarded_allow_ips": forwarded or None,
        "timeout_graceful_shutdown": args.timeout_graceful_shutdown,
        "log_level": args.log_level,
    }


def _worker(args: argparse.Namespace) -> None:
    """One worker process: its own listening socket, then uvicorn's server on it."""
    config = uvicorn.Config(APP, **uvicorn_options(args))
    sock = reuse_port_socket(args.host, args.port, listen=True)
    uvicorn.Server(config).run(sockets=[sock])


class Supervisor:
    """Starts ``workers`` processes, starts again the ones that die, stops them on a signal."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.context = multiprocessing.get_context("spawn")  # as uvicorn: no forked state
        self.processes: list[Any] = []
        self.started_at: list[float] = []
        self.stopping = False

    def _start(self) -> tuple[Any, float]:
        process = self.context.Process(target=_worker, args=(self.args,), name="web worker")
        process.start()
        return process, time.monotonic()

    def _stop(self, *_: Any) -> None:
        self.stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        # Bound but not listening: the kernel hands connections only to the workers' listening
        # sockets; this one fails fast when the port is taken and keeps it while workers restart.
        try:
            holder = reuse_port_socket(self.args.host, self.args.port, listen=False)
        except OSError as exc:
            print(f"config.serve: cannot listen on {self.args.host}:{self.args.port}: {exc}",
                  file=sys.stderr)  # fmt: skip
            return 1
        for _ in range(self.args.workers):
            process, at = self._start()
            self.processes.append(process)
            self.started_at.append(at)
        logger.info("web: %d workers on %s:%d", self.args.workers, self.args.host, self.args.port)
        while not self.stopping:
            time.sleep(0.2)
            for i, process in enumerate(self.processes):
                if process.is_alive() or self.stopping:
                    continue
                quick = time.monotonic() - self.started_at[i] < QUICK_DEATH_SECONDS
                logger.error("web worker %s exited (%s); starting another", process.pid,
                             process.exitcode)  # fmt: skip
                if quick:
                    time.sleep(RESTART_PAUSE_SECONDS)  # a crash at start-up: do not spin
                self.processes[i], self.started_at[i] = self._start()
        for process in self.processes:
            if process.is_alive():
                os.kill(process.pid, signal.SIGTERM)  # uvicorn's graceful shutdown
        deadline = time.monotonic() + self.args.timeout_graceful_shutdown + 5
        for process in self.processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        holder.close()
        return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m config.serve", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "1")))
    parser.add_argument("--timeout-graceful-shutdown", type=int, default=10)
    parser.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(message)s"
    )
    if args.workers == 1 or not balanced_sockets_supported():
        # One process (or no kernel balancing): uvicorn's own server and supervisor.
        uvicorn.run(APP, workers=args.workers, **uvicorn_options(args))
        return 0
    return Supervisor(args).run()


if __name__ == "__main__":
    sys.exit(main())
