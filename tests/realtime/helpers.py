"""Websocket clients for the realtime tests: the real ASGI app with a real signed-in session."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from django.test import Client

from config.asgi import application
from tests.accounts.factories import sign_in


def _websocket_communicator() -> type:
    """channels.testing's package __init__ imports daphne (for its live-server test case,
    unused here). Until daphne is a dev dependency, load the real WebsocketCommunicator from
    its own module under a bare package object, so none of its code is replaced."""
    try:
        from channels.testing import WebsocketCommunicator

        return WebsocketCommunicator
    except ModuleNotFoundError as missing:
        if missing.name != "daphne":
            raise
    import sys
    import types
    from pathlib import Path

    import channels

    package = types.ModuleType("channels.testing")
    package.__path__ = [str(Path(channels.__file__).parent / "testing")]
    sys.modules["channels.testing"] = package
    from channels.testing.websocket import WebsocketCommunicator

    return WebsocketCommunicator


WebsocketCommunicator = _websocket_communicator()


def session_cookie(user) -> str:
    """Sign ``user`` in through the real login views (password + TOTP); the session cookie."""
    client = Client()
    sign_in(client, user)
    return f"sessionid={client.cookies['sessionid'].value}"


class Tab:
    """One browser tab's socket, talking the protocol of docs/realtime.md."""

    def __init__(self, cookie: str, origin: str = "http://testserver") -> None:
        self.communicator = WebsocketCommunicator(
            application,
            "/ws/live/",
            headers=[(b"origin", origin.encode()), (b"cookie", cookie.encode())],
        )

    async def open(self) -> dict[str, Any]:
        connected, _ = await self.communicator.connect(timeout=5)
        assert connected
        return await self.receive()

    async def send(self, **message: Any) -> None:
        await self.communicator.send_to(text_data=json.dumps(message))

    async def receive(self, timeout: float = 5) -> dict[str, Any]:
        return json.loads(await self.communicator.receive_from(timeout=timeout))

    async def receive_until(self, kind: str, topic: str | None = None, timeout: float = 5):
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            message = await self.receive(timeout=max(remaining, 0.01))
            if message["type"] == kind and (topic is None or message.get("topic") == topic):
                return message

    async def request(self, kind: str, topic: str) -> dict[str, Any]:
        """Send ``kind`` for ``topic``; the server's answer about that topic."""
        await self.send(type=kind, topic=topic)
        while True:
            message = await self.receive()
            if message.get("topic") == topic and message["type"] != "message":
                return message

    async def close(self) -> None:
        await self.communicator.disconnect()

    async def closed_with(self, timeout: float) -> int:
        """Wait for the server to close the socket; its close code."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            output = await self.communicator.receive_output(timeout=max(remaining, 0.01))
            if output["type"] == "websocket.close":
                return output.get("code", 1000)
