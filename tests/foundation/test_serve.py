"""The web launcher (config/serve.py) against real processes: connections spread over the
workers, a dead worker is replaced while the others keep serving, SIGTERM stops everything,
and a taken port fails at once with a message."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import httpx
import psutil
import pytest

from config.serve import balanced_sockets_supported
from tests.support.servers import ROOT, child_env, free_port, uvicorn_server
from tests.support.waiting import wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not balanced_sockets_supported(), reason="SO_REUSEPORT balancing is Linux's"
    ),
]


def workers_of(server) -> list[psutil.Process]:
    """The live worker processes (not multiprocessing's resource tracker, not a dead worker the
    supervisor has yet to reap)."""
    found = []
    for p in psutil.Process(server.process.pid).children():
        try:
            if "resource_tracker" not in " ".join(p.cmdline()):
                found.append(p)
        except psutil.Error:  # a zombie, or gone
            continue
    return found


def established_on(process: psutil.Process, port: int) -> int:
    return sum(
        1
        for c in process.net_connections(kind="tcp")
        if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port
    )


def test_keep_alive_connections_spread_over_both_workers_and_a_dead_worker_is_replaced():
    with uvicorn_server(workers=2) as server:
        workers = workers_of(server)
        assert len(workers) == 2
        # 16 keep-alive connections opened at once, as a bot fleet reconnecting would: under a
        # shared socket one idle worker accepted them all; with a socket each, the kernel
        # hashes them over both (all 16 on one worker by chance: 1 in 32,768).
        # Each worker accepts on a socket of its own (under uvicorn's --workers, every worker
        # shows the parent's one listening socket).
        sockets = [listening_socket(w, server.port) for w in workers]
        assert None not in sockets and len(set(sockets)) == 2, sockets
        clients = [httpx.Client(base_url=server.base_url) for _ in range(16)]
        try:
            for client in clients:
                assert client.get("/api/ping").status_code == 200
            per_worker = [established_on(w, server.port) for w in workers]
            assert sum(per_worker) == 16, per_worker
            assert min(per_worker) >= 1, per_worker
        finally:
            for client in clients:
                client.close()

        os.kill(workers[0].pid, signal.SIGKILL)
        # The survivor answers throughout; a replacement joins the socket group.
        assert httpx.get(f"{server.base_url}/api/ping", timeout=5).status_code == 200
        wait_for(
            lambda: len(workers_of(server)) == 2 and workers[0].pid not in
            [w.pid for w in workers_of(server)],
            30,
            "a replacement worker",
        )  # fmt: skip
        replacement = next(w for w in workers_of(server) if w.pid != workers[1].pid)
        wait_for(lambda: _listening(replacement, server.port), 60, "the replacement to listen")
        assert httpx.get(f"{server.base_url}/readyz", timeout=5).status_code == 200

        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=30) == 0
        assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers[1:])


def listening_socket(process: psutil.Process, port: int) -> str | None:
    """The kernel's name ("socket:[inode]") of the socket ``process`` listens on at ``port``."""
    for c in process.net_connections(kind="tcp"):
        if c.status == psutil.CONN_LISTEN and c.laddr.port == port and c.fd != -1:
            return os.readlink(f"/proc/{process.pid}/fd/{c.fd}")
    return None


def _listening(process: psutil.Process, port: int) -> bool:
    return listening_socket(process, port) is not None


def test_a_port_taken_by_another_server_fails_at_once_with_a_message():
    port = free_port()
    taken = socket.socket()
    taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    taken.bind(("127.0.0.1", port))
    taken.listen()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "config.serve", "--port", str(port), "--workers", "2"],
            cwd=ROOT,
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        taken.close()
    assert result.returncode != 0
    assert "Address already in use" in result.stderr
