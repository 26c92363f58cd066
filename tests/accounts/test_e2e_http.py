"""Against the real server: the two-step sign-in over HTTP, and what a session that only
passed the password step can do (nothing, not even open the websocket)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import websockets

from tests.accounts.e2e import sign_in_over_http
from tests.accounts.factories import PASSWORD, make_user
from tests.support.aio import run_async

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


async def _handshake(url: str, origin: str, cookie: str) -> str:
    async with websockets.connect(
        url, origin=origin, additional_headers={"Cookie": cookie}, open_timeout=5
    ) as ws:
        return await asyncio.wait_for(ws.recv(), 5)


def test_password_only_session_gets_no_page_and_no_websocket(live_server_process):
    server = live_server_process
    user = make_user("ws-user")
    pending = httpx.Client(base_url=server.base_url, follow_redirects=False)
    pending.get("/accounts/login/")
    response = pending.post(
        "/accounts/login/",
        data={
            "username": "ws-user",
            "password": PASSWORD,
            "csrfmiddlewaretoken": pending.cookies["csrftoken"],
        },
        headers={"Referer": f"{server.base_url}/accounts/login/"},
    )
    assert response.headers["location"] == "/accounts/login/code/"
    assert pending.get("/").headers["location"].startswith("/accounts/login/")
    with pytest.raises(websockets.InvalidStatus) as refused:
        run_async(
            _handshake(
                f"{server.ws_url}/ws/live/",
                server.base_url,
                f"sessionid={pending.cookies['sessionid']}",
            )
        )
    assert refused.value.response.status_code == 403

    signed_in = sign_in_over_http(server.base_url, user)
    assert signed_in.get("/", follow_redirects=True).status_code == 200  # the role's home
    hello = run_async(
        _handshake(
            f"{server.ws_url}/ws/live/",
            server.base_url,
            f"sessionid={signed_in.cookies['sessionid']}",
        )
    )
    assert '"hello"' in hello
