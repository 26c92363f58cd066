"""Issue test 5 at the socket level, on a real uvicorn server with real websocket clients:
logging out in one tab closes the live socket of another tab within 5 s. (The browser version
comes with the pages.)"""

from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest
import websockets

from apps.accounts.roles import Role
from tests.accounts.factories import make_user
from tests.support.aio import run_async
from tests.support.auth import http_sign_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


async def _open_tab(url: str, origin: str, cookie: str):
    ws = await websockets.connect(url, origin=origin, additional_headers={"Cookie": cookie})
    assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "hello"
    await ws.send(json.dumps({"type": "subscribe", "topic": "breakers"}))
    answer = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert answer == {"type": "subscribed", "topic": "breakers"}
    return ws


def test_logging_out_in_one_tab_closes_the_socket_of_another_tab(live_server_process):
    server = live_server_process
    user = make_user("two-tabs", roles=(Role.TRADER,))
    client = http_sign_in(server.base_url, user)
    cookie = f"sessionid={client.cookies['sessionid']}"
    url = f"{server.ws_url}/ws/live/"

    async def scenario() -> tuple[int, float]:
        other_tab = await _open_tab(url, server.base_url, cookie)
        started = time.monotonic()
        # Tab one logs out through the real logout page (CSRF and all).
        response = await asyncio.to_thread(
            client.post,
            "/accounts/logout/",
            data={"csrfmiddlewaretoken": client.cookies["csrftoken"]},
            headers={"Referer": f"{server.base_url}/"},
        )
        assert response.status_code == 302
        try:
            while True:  # whatever was in flight, then the close
                await asyncio.wait_for(other_tab.recv(), 5)
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code, time.monotonic() - started

    code, seconds = run_async(scenario())
    assert code == 4401
    assert seconds < 5, seconds

    # And the same cookie can no longer open a socket.
    with pytest.raises(websockets.InvalidStatus) as refused:
        run_async(_open_tab(url, server.base_url, cookie))
    assert refused.value.response.status_code == 403


@pytest.mark.xfail(
    strict=False,  # timing-dependent: it may coalesce under load, which must not fail CI
    reason=(
        "open defect, cause not yet found: when both tabs stop reading, the slow tab later "
        "receives every push (no coalescing observed) and ~76 messages wait unread in the "
        "process's channel-layer key; with only one tab frozen the others are not held back "
        "(next test). See docs/realtime.md, 'Known gaps'."
    ),
)
def test_a_slow_tab_gets_the_latest_state_without_holding_back_a_fast_one(
    live_server_process,
):
    """Latest-wins per topic on the server: a tab that stops reading receives far fewer than
    all pushes when it resumes, ending with the newest; a fast tab meanwhile gets everything
    up to the newest promptly."""
    from apps.realtime.publish import publish_now

    server = live_server_process
    user = make_user("slow-tab", roles=(Role.TRADER,))
    client = http_sign_in(server.base_url, user)
    cookie = f"sessionid={client.cookies['sessionid']}"
    url = f"{server.ws_url}/ws/live/"
    pushes = 400
    filler = "x" * 40_000  # 400 x 40 kB = 16 MB: far more than the socket buffers hold

    async def subscribed(**options):
        ws = await websockets.connect(
            url, origin=server.base_url, additional_headers={"Cookie": cookie}, **options
        )
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "hello"
        await ws.send(json.dumps({"type": "subscribe", "topic": "surface:BTC"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "subscribed"
        return ws

    async def scenario():
        # The slow tab buffers at most one frame client-side and has a small receive buffer
        # (loopback autotuning would otherwise let the kernel absorb megabytes), so TCP soon
        # pushes back on the server.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.connect(("127.0.0.1", server.port))
        sock.setblocking(False)
        slow = await subscribed(max_queue=1, sock=sock)
        fast = await subscribed(max_size=None)
        started = time.monotonic()
        for n in range(pushes):
            await asyncio.to_thread(publish_now, "surface:BTC", {"n": n, "filler": filler})
        fast_seen = []
        while not fast_seen or fast_seen[-1] != pushes - 1:
            message = json.loads(await asyncio.wait_for(fast.recv(), 10))
            fast_seen.append(message["payload"]["n"])
        fast_seconds = time.monotonic() - started
        slow_seen = []
        while not slow_seen or slow_seen[-1] != pushes - 1:
            message = json.loads(await asyncio.wait_for(slow.recv(), 10))
            slow_seen.append(message["payload"]["n"])
        await slow.close()
        await fast.close()
        return fast_seen, fast_seconds, slow_seen

    fast_seen, fast_seconds, slow_seen = run_async(scenario(), timeout=120)
    assert fast_seen == sorted(fast_seen)  # in order; a fast reader may still see a few coalesced
    assert fast_seen[-1] == pushes - 1
    assert slow_seen == sorted(slow_seen) and slow_seen[-1] == pushes - 1
    assert len(slow_seen) < pushes / 2, (len(slow_seen), len(fast_seen), fast_seconds)
    assert fast_seconds < 30, fast_seconds


def test_a_tab_that_stops_reading_does_not_hold_back_the_others(live_server_process):
    """A tab that never reads again (a frozen browser) must not delay anyone else: a reading
    tab gets every push promptly while the frozen one's socket is full."""
    import base64
    import os

    from apps.realtime.publish import publish_now

    server = live_server_process
    user = make_user("frozen-tab", roles=(Role.TRADER,))
    client = http_sign_in(server.base_url, user)
    cookie = f"sessionid={client.cookies['sessionid']}"
    url = f"{server.ws_url}/ws/live/"
    pushes = 300
    filler = "x" * 40_000  # 12 MB in all: far more than the frozen socket's buffers

    async def frozen_tab():
        """A raw client: handshake, subscribe, then never read again (tiny receive buffer)."""
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        sock.connect(("127.0.0.1", server.port))
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            (
                "GET /ws/live/ HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\nOrigin: {server.base_url}\r\n"
                f"Cookie: {cookie}\r\n\r\n"
            ).encode()
        )
        assert b" 101 " in sock.recv(4096)
        body = json.dumps({"type": "subscribe", "topic": "surface:BTC"}).encode()
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(body))
        sock.sendall(bytes([0x81, 0x80 | len(body)]) + mask + masked)
        return sock

    async def scenario():
        frozen = await frozen_tab()
        reader = await websockets.connect(
            url, origin=server.base_url, additional_headers={"Cookie": cookie}, max_size=None
        )
        assert json.loads(await asyncio.wait_for(reader.recv(), 5))["type"] == "hello"
        await reader.send(json.dumps({"type": "subscribe", "topic": "surface:BTC"}))
        assert json.loads(await asyncio.wait_for(reader.recv(), 5))["type"] == "subscribed"
        await asyncio.sleep(0.5)  # the frozen tab's subscription is in
        latencies = []

        async def read_all():
            while True:
                message = json.loads(await reader.recv())
                latencies.append(time.time() - message["payload"]["at"])
                if message["payload"]["n"] == pushes - 1:
                    return

        reading = asyncio.create_task(read_all())
        for n in range(pushes):
            await asyncio.to_thread(
                publish_now, "surface:BTC", {"n": n, "at": time.time(), "filler": filler}
            )
        await asyncio.wait_for(reading, 30)
        await reader.close()
        frozen.close()
        return latencies

    latencies = sorted(run_async(scenario(), timeout=120))
    p99 = latencies[int(0.99 * (len(latencies) - 1))]
    assert p99 < 1.0, p99
