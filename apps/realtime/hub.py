"""One channel-layer membership per topic per server process, fanned out in memory.

With one group membership per socket, channels_redis delivers a topic message to N sockets
as N Redis messages, each received and decoded one by one by the same process: with 200 tabs
that alone took most of a 250 ms budget (bench/realtime.py). The hub joins each topic's group
once per process (on its own channel) and hands every message to the process's subscribed
connections, whose outboxes coalesce per topic. Cross-process delivery is still the channel
layer's; the per-process fan-out is a dict lookup and N slot writes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from typing import Protocol

from channels.layers import get_channel_layer

from apps.realtime.publish import group_for_topic

logger = logging.getLogger(__name__)


class Subscriber(Protocol):
    def deliver(self, topic: str, seq: int, text: str) -> None: ...


class Hub:
    def __init__(self) -> None:
        self.layer = get_channel_layer()
        self.channel: str | None = None
        self.topics: dict[str, set[Subscriber]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def join(self, topic: str, subscriber: Subscriber) -> None:
        if self.channel is None:
            # The default prefix: channels_redis reads all of a process's specific channels
            # from one Redis key; another prefix would wait behind the consumers' reads.
            self.channel = await self.layer.new_channel()
        if self._reader is None or self._reader.done():
            self._reader = asyncio.get_running_loop().create_task(self._read())
        # Always (re)join: idempotent, and it repairs a membership lost with a Redis flush.
        await self.layer.group_add(group_for_topic(topic), self.channel)
        self.topics.setdefault(topic, set()).add(subscriber)

    async def leave(self, topic: str, subscriber: Subscriber) -> None:
        subscribers = self.topics.get(topic)
        if subscribers is None:
            return
        subscribers.discard(subscriber)
        if not subscribers:
            del self.topics[topic]
            if self.channel is not None:
                await self.layer.group_discard(group_for_topic(topic), self.channel)
        if not self.topics and self._reader is not None:
            # Nobody left: stop receiving (a reader left pending would be torn down mid-receive
            # with its event loop, which the channel layer's shared receive state dislikes).
            reader, self._reader = self._reader, None
            reader.cancel()
            # wait(), not ``await reader`` under ``except CancelledError``: that would also
            # swallow a cancellation of the caller itself (a revoke in the watcher's task
            # cancelled at loop shutdown then kept the watcher looping forever).
            await asyncio.wait([reader])

    async def _read(self) -> None:
        while True:
            try:
                event = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis hiccup: clients see gaps and resync; keep reading
                logger.warning("realtime hub receive failed", exc_info=True)
                await asyncio.sleep(1.0)
                continue
            # Group names are sanitised topic names, so two topics may share a group: the
            # event's own topic decides who gets it.
            topic = event.get("topic")
            subscribers = tuple(self.topics.get(topic, ()))
            if not subscribers:
                continue
            seq = event.get("seq")
            # Encoded once for all of this process's sockets, not once per socket.
            text = json.dumps(
                {"type": "message", "topic": topic, "seq": seq, "payload": event.get("payload")},
                separators=(",", ":"),
            )
            for subscriber in subscribers:
                subscriber.deliver(topic, seq, text)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def hub() -> Hub:
    """The hub of the running event loop (one per server process)."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        found = _hubs[loop] = Hub()
    return found
