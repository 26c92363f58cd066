"""A channel-layer subscriber on its own thread, event loop and layer instance (as a consumer
would be), for tests that check what services publish."""

from __future__ import annotations

import asyncio
import threading
import time

from channels_redis.core import RedisChannelLayer
from django.conf import settings

from apps.realtime.publish import group_for_topic


class Listener(threading.Thread):
    """A subscriber on its own event loop and channel-layer instance (as a consumer would be)."""

    def __init__(self, topic: str) -> None:
        super().__init__(daemon=True)
        self.topic = topic
        self.messages: list[dict] = []
        self.ready = threading.Event()
        self.stopped = threading.Event()

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        layer = RedisChannelLayer(**settings.CHANNEL_LAYERS["default"]["CONFIG"])
        channel = await layer.new_channel()
        await layer.group_add(group_for_topic(self.topic), channel)
        self.ready.set()
        while not self.stopped.is_set():
            try:
                self.messages.append(await asyncio.wait_for(layer.receive(channel), 0.2))
            except TimeoutError:
                continue
        await layer.group_discard(group_for_topic(self.topic), channel)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.messages)
