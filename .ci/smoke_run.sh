#!/usr/bin/env bash
# Start `make run` in the background, wait for /readyz, check an anonymous websocket is
# refused, stop it with SIGINT (as Ctrl-C would) and assert nothing is left running.
set -euo pipefail
ROOT="$PWD"
PORT="${SMOKE_PORT:-18765}"
LOG="$ROOT/test-artifacts/make-run.log"
mkdir -p "$ROOT/test-artifacts"

leftovers() {
  # Everything make run starts carries the checkout path, the port, or its celery app.
  pgrep -af "scripts/run.py|config.serve|uvicorn config.asgi|celery -A config|$ROOT/.local" || true
}

start=$(date +%s)
setsid env PORT="$PORT" make run >"$LOG" 2>&1 &
RUN_PID=$!
ready=""
for _ in $(seq 1 300); do
  if curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then ready=1; break; fi
  if ! kill -0 "$RUN_PID" 2>/dev/null; then break; fi
  sleep 1
done
if [ -z "$ready" ]; then
  echo "make run did not become ready"; tail -50 "$LOG"; kill -INT -"$RUN_PID" || true; exit 1
fi
echo "ready after $(( $(date +%s) - start )) s"

.venv/bin/python - "$PORT" <<'PY'
import asyncio, sys
import websockets

async def main(port: str) -> None:
    try:
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws/live/", origin=f"http://127.0.0.1:{port}"):
            raise SystemExit("anonymous websocket was accepted")
    except websockets.InvalidStatus as exc:
        assert exc.response.status_code == 403, exc.response.status_code
        print("anonymous websocket refused with 403")

asyncio.run(main(sys.argv[1]))
PY

kill -INT -"$RUN_PID"
stopped=""
for _ in $(seq 1 20); do
  if [ -z "$(leftovers)" ] && ! kill -0 "$RUN_PID" 2>/dev/null; then stopped=1; break; fi
  sleep 0.5
done
if [ -z "$stopped" ]; then
  echo "processes left behind after SIGINT:"; leftovers; tail -30 "$LOG"; exit 1
fi
echo "make run stopped cleanly, no process left"
