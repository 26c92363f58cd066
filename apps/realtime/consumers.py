"""The one websocket per browser tab (``/ws/live/``). Protocol: docs/realtime.md.

Client -> server: ``subscribe`` / ``unsubscribe`` / ``snapshot`` (each with ``topic``) and
``ping``. Server -> client: ``hello``, ``subscribed``, ``unsubscribed``, ``refused`` (with
``reason``), ``message`` and ``snapshot`` (``topic``, ``seq``, ``payload``; a snapshot may say
``available: false``), ``pong``, ``error``.

Guarantees: only sessions signed in with a second factor connect (origin checked by
config.asgi); every subscription is checked against the user's current roles and accounts;
the socket closes within ``WATCH_INTERVAL_SECONDS`` (+ one query round) once the session ends,
the user is deactivated, loses a capability or an account it follows; outgoing pushes are
coalesced per topic (latest wins), so a slow browser holds at most one message per topic.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.auth import get_user_model
from django.db import DatabaseError

from apps.accounts.services.sessions import session_is_signed_in_with_mfa
from apps.realtime.hub import hub
from apps.realtime.outbox import Outbox
from apps.realtime.publish import group_for_user, topic_seq_current
from apps.realtime.snapshots import snapshot_build
from apps.realtime.topics import UNKNOWN_TOPIC, Topic, topic_parse, topic_refusal
from apps.realtime.watch import (
    CLOSE_UNAUTHENTICATED,
    Verdict,
    Watched,
    revalidate,
    user_capabilities,
    watcher,
)

logger = logging.getLogger(__name__)

MAX_SUBSCRIPTIONS = 64
ENCODED = "_encoded"  # outbox entries holding the frame's text already (pushed messages)
__all__ = ["CLOSE_UNAUTHENTICATED", "LiveConsumer"]


@database_sync_to_async
def _admit(scope: dict) -> Watched | None:
    """What to watch for this connection, or None if it may not connect at all."""
    user, session = scope.get("user"), scope.get("session")
    if user is None or not user.is_authenticated or session is None:
        return None
    if not session_is_signed_in_with_mfa(session=session) or not session.session_key:
        return None
    return Watched(
        session_key=session.session_key,
        user_id=user.pk,
        capabilities=user_capabilities(user),
    )


def _fresh_user(user_id: int) -> Any:
    return get_user_model().objects.filter(pk=user_id).first()


@database_sync_to_async
def _subscription_refusal(user_id: int, topic: Topic) -> str | None:
    return topic_refusal(user=_fresh_user(user_id), topic=topic)


@database_sync_to_async
def _snapshot(user_id: int, topic: Topic) -> dict[str, Any]:
    try:
        user = _fresh_user(user_id)
        refusal = topic_refusal(user=user, topic=topic)
    except DatabaseError as exc:
        # PostgreSQL down: say "no state to give" instead of never answering. The client then
        # applies the messages it buffered for this topic (pushes still come through Redis) and
        # asks again at the next gap; the page's outage banner says the data may be stale.
        logger.warning("snapshot of %s unavailable: database error (%s)", topic.name, exc)
        return {"type": "snapshot", "topic": topic.name, "available": False}
    if refusal is not None:
        return {"type": "refused", "topic": topic.name, "reason": refusal}
    # The sequence number first: the state read afterwards includes every message up to it.
    try:
        seq = topic_seq_current(topic=topic.name)
    except Exception:
        logger.warning("sequence of %s unreadable", topic.name, exc_info=True)
        return {"type": "snapshot", "topic": topic.name, "available": False}
    payload = snapshot_build(user=user, topic=topic)
    if payload is None:
        return {"type": "snapshot", "topic": topic.name, "seq": seq, "available": False}
    return {
        "type": "snapshot",
        "topic": topic.name,
        "seq": seq,
        "available": True,
        "payload": payload,
    }


_warned_unbounded = False


def _warn_if_send_queue_unbounded() -> None:
    """Once per process: coalescing needs uvicorn started with our websocket protocol."""
    global _warned_unbounded
    if _warned_unbounded:
        return
    _warned_unbounded = True
    module = sys.modules.get("apps.realtime.uvicorn_ws")
    if module is None or not module.in_use:
        logger.warning(
            "websocket send queue not bounded: start uvicorn with --ws "
            "apps.realtime.uvicorn_ws:BoundedSendWebSocketProtocol, or a slow tab's pushes "
            "queue up in the kernel instead of coalescing (docs/realtime.md)"
        )


class LiveConsumer(AsyncJsonWebsocketConsumer):
    watched: Watched

    async def connect(self) -> None:
        watched = await _admit(self.scope)
        if watched is None:
            # Closing before accept rejects the handshake (HTTP 403 to the client).
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.watched = watched
        self.topics: dict[str, Topic] = {}
        self.outbox = Outbox()
        self._snapshot_tasks: dict[str, asyncio.Task[None]] = {}
        self._closing = False
        self._closer: asyncio.Task[None] | None = None
        _warn_if_send_queue_unbounded()
        await self.accept()
        await self.channel_layer.group_add(group_for_user(watched.user_id), self.channel_name)
        self._sender = asyncio.get_running_loop().create_task(self._send_loop())
        watcher().add(self)
        self.outbox.put_control({"type": "hello", "user": self.scope["user"].get_username()})

    async def disconnect(self, code: int) -> None:
        if not hasattr(self, "watched"):
            return
        watcher().discard(self)
        self._sender.cancel()
        if self._closer is not None:
            self._closer.cancel()
        for task in self._snapshot_tasks.values():
            task.cancel()
        try:
            for name in list(self.topics):
                await hub().leave(name, self)
            await self.channel_layer.group_discard(
                group_for_user(self.watched.user_id), self.channel_name
            )
        except Exception:  # Redis gone: the group entries expire on their own
            logger.debug("leaving groups failed", exc_info=True)

    async def _send_loop(self) -> None:
        try:
            while True:
                message = await self.outbox.next()
                text = message.get(ENCODED) or json.dumps(message, separators=(",", ":"))
                await self.send(text_data=text)
        except asyncio.CancelledError:
            raise
        except Exception:  # the socket went away under us; disconnect() cleans up
            logger.debug("websocket send failed", exc_info=True)

    # --- from the browser -------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self._closing:
            return
        try:
            content = json.loads(text_data or "")
        except ValueError:
            self.outbox.put_control({"type": "error", "code": "not_json"})
            return
        if not isinstance(content, dict):
            self.outbox.put_control({"type": "error", "code": "not_an_object"})
            return
        await self.receive_json(content)

    async def receive_json(self, content: dict, **kwargs: object) -> None:
        if self._closing:
            return  # revoked: the close is on its way, nothing is answered or joined any more
        kind = content.get("type")
        if kind == "ping":
            self.outbox.put_control({"type": "pong"})
        elif kind == "subscribe":
            await self._subscribe(content.get("topic"))
        elif kind == "unsubscribe":
            await self._unsubscribe(content.get("topic"))
        elif kind == "snapshot":
            self._request_snapshot(content.get("topic"))
        else:
            self.outbox.put_control({"type": "error", "code": "unknown_message"})

    async def _subscribe(self, raw: Any) -> None:
        topic = topic_parse(raw)
        name = raw if isinstance(raw, str) else None
        if topic is None:
            self.outbox.put_control({"type": "refused", "topic": name, "reason": UNKNOWN_TOPIC})
            return
        if topic.name in self.topics:
            self.outbox.put_control({"type": "subscribed", "topic": topic.name})
            return
        if len(self.topics) >= MAX_SUBSCRIPTIONS:
            self.outbox.put_control(
                {"type": "refused", "topic": topic.name, "reason": "too_many_topics"}
            )
            return
        refusal = await _subscription_refusal(self.watched.user_id, topic)
        if refusal is not None:
            self.outbox.put_control({"type": "refused", "topic": topic.name, "reason": refusal})
            return
        # Join before the client asks for its snapshot, so nothing falls between the two.
        self.topics[topic.name] = topic
        await hub().join(topic.name, self)
        if topic.family == "positions":
            self.watched.account_labels.add(topic.argument)
        self.outbox.put_control({"type": "subscribed", "topic": topic.name})

    async def _unsubscribe(self, raw: Any) -> None:
        topic = self.topics.pop(raw, None) if isinstance(raw, str) else None
        if topic is not None:
            await hub().leave(topic.name, self)
            self.outbox.drop_topic(topic.name)
            if topic.family == "positions":
                self.watched.account_labels.discard(topic.argument)
        self.outbox.put_control({"type": "unsubscribed", "topic": raw})

    def _request_snapshot(self, raw: Any) -> None:
        topic = self.topics.get(raw) if isinstance(raw, str) else None
        if topic is None:
            self.outbox.put_control({"type": "refused", "topic": raw, "reason": "not_subscribed"})
            return
        running = self._snapshot_tasks.get(topic.name)
        if running is not None and not running.done():
            return  # one in flight per topic: repeated gap reports cost one snapshot
        self._snapshot_tasks[topic.name] = asyncio.get_running_loop().create_task(
            self._build_snapshot(topic)
        )

    async def _build_snapshot(self, topic: Topic) -> None:
        answer = await _snapshot(self.watched.user_id, topic)
        if topic.name not in self.topics:
            return  # unsubscribed meanwhile
        if answer["type"] == "snapshot":
            self.outbox.put_snapshot(topic.name, answer)
        else:
            self.outbox.put_control(answer)

    # --- from the channel layer ---------------------------------------------------------------

    def deliver(self, topic: str, seq: int, text: str) -> None:
        """A topic message from this process's hub (apps.realtime.hub), already encoded."""
        if topic in self.topics:
            self.outbox.put_message(topic, {"seq": seq, ENCODED: text})

    async def user_changed(self, event: dict[str, Any]) -> None:
        await revalidate([self])

    async def revoke(self, verdict: Verdict) -> None:
        """Close the socket: the session ended or the user's rights shrank.

        Nothing more goes out at once (sender stopped, topics left, the outbox dropped). The
        close frame itself is sent from its own task: uvicorn's send waits until the socket's
        write buffer drains, which for a tab that stopped reading is never, and the periodic
        re-check awaits this for every socket of the process in turn (apps/realtime/watch.py).
        Such a connection is reset by apps.realtime.uvicorn_ws shortly after instead."""
        if self._closing:
            return
        self._closing = True
        self._sender.cancel()
        for task in self._snapshot_tasks.values():
            task.cancel()
        for name in list(self.topics):
            self.outbox.drop_topic(name)
        topics, self.topics = list(self.topics), {}
        self._closer = asyncio.get_running_loop().create_task(self._close(verdict))
        try:
            for name in topics:
                await hub().leave(name, self)
        except Exception:  # Redis gone: the hub's membership expires on its own
            logger.debug("leaving topics on revoke failed", exc_info=True)

    async def _close(self, verdict: Verdict) -> None:
        try:
            await self.close(code=verdict.code, reason=verdict.reason)
        except Exception:  # the client went away first; disconnect() cleans up
            logger.debug("websocket close failed", exc_info=True)
