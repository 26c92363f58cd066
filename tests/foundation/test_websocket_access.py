import asyncio

import pytest
import websockets

from apps.accounts.roles import Role
from tests.accounts.factories import make_user
from tests.support.aio import run_async
from tests.support.auth import http_sign_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


async def _handshake(url: str, origin: str, cookie: str | None = None):
    headers = {"Cookie": cookie} if cookie else {}
    async with websockets.connect(
        url, origin=origin, additional_headers=headers, open_timeout=5
    ) as ws:
        return await asyncio.wait_for(ws.recv(), 5)


def test_anonymous_websocket_is_refused(live_server_process):
    server = live_server_process
    with pytest.raises(websockets.InvalidStatus) as refused:
        run_async(_handshake(f"{server.ws_url}/ws/live/", origin=server.base_url))
    assert refused.value.response.status_code == 403


def test_websocket_from_a_foreign_origin_is_refused_even_with_a_session(live_server_process):
    server = live_server_process
    user = make_user("ws-user", roles=(Role.VIEWER,))
    client = http_sign_in(server.base_url, user)
    cookie = f"sessionid={client.cookies['sessionid']}"

    # Same origin, signed in: accepted, so the refusal below is about the origin alone.
    hello = run_async(
        _handshake(f"{server.ws_url}/ws/live/", origin=server.base_url, cookie=cookie)
    )
    assert '"hello"' in hello

    with pytest.raises(websockets.InvalidStatus) as refused:
        run_async(
            _handshake(f"{server.ws_url}/ws/live/", origin="https://evil.example", cookie=cookie)
        )
    assert refused.value.response.status_code == 403


def test_a_session_that_passed_only_the_password_is_refused(live_server_process):
    import httpx

    server = live_server_process
    user = make_user("half-signed-in", roles=(Role.VIEWER,))
    client = httpx.Client(base_url=server.base_url, follow_redirects=False)
    client.get("/accounts/login/")
    response = client.post(
        "/accounts/login/",
        data={
            "username": user.username,
            "password": "correct horse battery staple",
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
        },
        headers={"Referer": f"{server.base_url}/accounts/login/"},
    )
    assert response.headers["Location"] == "/accounts/login/code/"  # waiting for the code
    cookie = f"sessionid={client.cookies['sessionid']}"
    with pytest.raises(websockets.InvalidStatus) as refused:
        run_async(_handshake(f"{server.ws_url}/ws/live/", origin=server.base_url, cookie=cookie))
    assert refused.value.response.status_code == 403
