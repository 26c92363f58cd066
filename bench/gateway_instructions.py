"""CPU instructions per request of the order path and of a bare authenticated endpoint.

Prints, for ``POST /api/v1/orders`` (every pre-trade check, INSERT, simulated venue, UPDATE),
``GET /api/v1/me`` (the bare authenticated reference of bench/gateway.py) and ``GET /api/ping``
(bare DRF): the instructions one request executes in the Django process, counted by valgrind's
callgrind, and the orders/me ratio.

Why: on a shared 2-core machine latency and CPU time move with the host (the same code's
``/api/ping`` cost 0.57 ms of CPU one hour and 1.4 ms another), so bench/gateway.py compares
figures only within one run. Instruction counts do not move with the host: the same code
gives the same count to within ~0.5%, so a change's effect shows without noise.

What is counted: a request through Django's test client in one process (the whole middleware
chain, DRF, the view, the services, psycopg's and redis-py's client side), after a warm-up,
against the real PostgreSQL and Redis of the run (their own work is not counted: see
bench/gateway.py's ``cpu pg``). uvicorn's HTTP parsing is not counted; it is the same for every
endpoint. Each endpoint runs in its own process under callgrind (about two minutes of start-up
each under valgrind, the three in parallel); counting is switched on only around the measured
requests (``callgrind_control``).

Needs ``valgrind`` (Debian package ``valgrind``). Run with
``env -u DATABASE_URL -u REDIS_URL .venv/bin/python bench/gateway_instructions.py``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REQUESTS = 50
WARM_UP = 20
ENDPOINTS = ("ping", "me", "order")


def _child(endpoint: str, flow_path: str, sync_dir: str) -> None:
    """Under callgrind: warm up, then run REQUESTS requests between the ready/go and done/fin
    handshakes with the parent (which zeroes and dumps the counters around them)."""
    from _harness import setup_django

    setup_django()
    from django.test import Client

    flow = json.loads(Path(flow_path).read_text())
    auth = {"HTTP_AUTHORIZATION": f"Bearer {flow['key']}"}
    client = Client(raise_request_exception=True)

    def ping() -> int:
        return client.get("/api/ping").status_code

    def me() -> int:
        return client.get("/api/v1/me", **auth).status_code

    def order() -> int:
        body = {
            "account": flow["account"],
            "instrument": flow["symbol"],
            "side": "buy",
            "type": "limit",
            "quantity": "1",
            "price": flow["price"],
            "time_in_force": "ioc",
            "client_order_id": uuid.uuid4().hex,
        }
        return client.post(
            "/api/v1/orders", data=json.dumps(body), content_type="application/json", **auth
        ).status_code

    call, expected = {"ping": (ping, 200), "me": (me, 200), "order": (order, 201)}[endpoint]
    for _ in range(WARM_UP):
        assert call() == expected
    sync = Path(sync_dir)
    (sync / f"{endpoint}.ready").touch()
    while not (sync / f"{endpoint}.go").exists():
        time.sleep(0.05)
    statuses = [call() for _ in range(REQUESTS)]
    (sync / f"{endpoint}.done").write_text(json.dumps(statuses))
    while not (sync / f"{endpoint}.fin").exists():
        time.sleep(0.05)


def _wait_for(path: Path, process: subprocess.Popen, what: str) -> None:
    while not path.exists():
        if process.poll() is not None:
            raise SystemExit(f"{what} exited early ({process.returncode}); see its log")
        time.sleep(0.5)


def _total_instructions(out_prefix: Path) -> int:
    # callgrind_control -d writes <prefix>.1 with the counts since the last zeroing.
    dump = Path(f"{out_prefix}.1")
    for line in dump.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise SystemExit(f"no totals in {dump}")


def main() -> None:
    from _harness import machine_note, print_table, scratch_database, setup_django

    if not shutil.which("valgrind"):
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    print(f"Gateway instructions per request ({machine_note()}, callgrind)")
    setup_django()
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    with scratch_database(), tempfile.TemporaryDirectory(prefix="bw-instr-") as tmp:
        from bench.gateway import seed_order_flow
        from tests.support.servers import child_env

        flow = seed_order_flow(stale_after_seconds=3600)
        tmp_path = Path(tmp)
        flow_path = tmp_path / "flow.json"
        flow_path.write_text(
            json.dumps(
                {
                    "key": flow.issued.plaintext,
                    "account": flow.account.label,
                    "symbol": flow.symbol,
                    "price": flow.price,
                }
            )
        )
        env = child_env(PYTHONHASHSEED="0")
        processes: dict[str, tuple[subprocess.Popen, Path]] = {}
        for endpoint in ENDPOINTS:
            out = tmp_path / f"callgrind.{endpoint}"
            log = (tmp_path / f"{endpoint}.log").open("w")
            command = [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                __file__,
                "--child",
                endpoint,
                str(flow_path),
                tmp,
            ]
            processes[endpoint] = (
                subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT),
                out,
            )
        rows, counts = [], {}
        try:
            for endpoint, (process, _) in processes.items():
                _wait_for(tmp_path / f"{endpoint}.ready", process, endpoint)
            # Zero every counter, then let all three measure (they need not overlap exactly:
            # instructions are counted per process, whatever else runs).
            for endpoint, (process, _) in processes.items():
                subprocess.run(["callgrind_control", "-z", str(process.pid)], check=True,
                               capture_output=True)  # fmt: skip
                (tmp_path / f"{endpoint}.go").touch()
            for endpoint, (process, out) in processes.items():
                _wait_for(tmp_path / f"{endpoint}.done", process, endpoint)
                subprocess.run(["callgrind_control", "-d", str(process.pid)], check=True,
                               capture_output=True)  # fmt: skip
                (tmp_path / f"{endpoint}.fin").touch()
                process.wait(timeout=120)
                statuses = json.loads((tmp_path / f"{endpoint}.done").read_text())
                counts[endpoint] = _total_instructions(out) / REQUESTS
                rows.append([endpoint, f"{counts[endpoint] / 1e6:.2f}", str(sorted(set(statuses)))])
        finally:
            for process, _ in processes.values():
                if process.poll() is None:
                    process.kill()
        print_table(
            f"{REQUESTS} requests each after {WARM_UP} warm-up",
            ["endpoint", "M instructions/request", "statuses"],
            rows,
        )
        print(
            f"ratio orders/me: {counts['order'] / counts['me']:.2f}x; "
            f"orders/ping: {counts['order'] / counts['ping']:.2f}x"
        )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(*sys.argv[2:5])
    else:
        main()
