"""Per-connection outgoing queue with latest-wins coalescing per topic.

Pushed messages never queue up behind a slow browser: each topic has one slot, and a newer
message replaces the one not yet sent (the client sees the sequence jump and resynchronises
if the topic needs it). Snapshots have their own slot per topic and go out before that topic's
pending message, which is dropped if the snapshot already covers it (``seq <= snapshot.seq``).
Control replies (``subscribed``, ``refused``, ``pong``...) are few and bounded by the client's
own requests; they go first, in order. Memory per connection is therefore bounded by the number
of subscribed topics, whatever the browser's speed.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

MAX_CONTROL = 256  # a client flooding requests loses the oldest replies, never the server


class Outbox:
    def __init__(self) -> None:
        self._control: deque[dict[str, Any]] = deque(maxlen=MAX_CONTROL)
        self._snapshots: dict[str, dict[str, Any]] = {}
        self._messages: dict[str, dict[str, Any]] = {}
        self._ready = asyncio.Event()
        self.coalesced = 0  # messages replaced before they were sent (for tests and metrics)

    def put_control(self, message: dict[str, Any]) -> None:
        self._control.append(message)
        self._ready.set()

    def put_message(self, topic: str, message: dict[str, Any]) -> None:
        """Latest wins: replaces a not-yet-sent message of the same topic."""
        if topic in self._messages:
            self.coalesced += 1
            del self._messages[topic]  # re-insert at the end: topics take turns fairly
        self._messages[topic] = message
        self._ready.set()

    def put_snapshot(self, topic: str, snapshot: dict[str, Any]) -> None:
        self._snapshots[topic] = snapshot
        self._ready.set()

    def drop_topic(self, topic: str) -> None:
        self._messages.pop(topic, None)
        self._snapshots.pop(topic, None)

    def take(self) -> dict[str, Any] | None:
        """The next message to send, or None when empty."""
        if self._control:
            return self._control.popleft()
        if self._snapshots:
            topic = next(iter(self._snapshots))
            snapshot = self._snapshots.pop(topic)
            pending = self._messages.get(topic)
            if pending is not None and pending.get("seq", 0) <= snapshot.get("seq", 0):
                del self._messages[topic]  # the snapshot already includes it
            return snapshot
        if self._messages:
            topic = next(iter(self._messages))
            return self._messages.pop(topic)
        return None

    def __len__(self) -> int:
        return len(self._control) + len(self._snapshots) + len(self._messages)

    async def next(self) -> dict[str, Any]:
        """Wait for and return the next message to send."""
        while True:
            message = self.take()
            if message is not None:
                return message
            self._ready.clear()
            await self._ready.wait()
