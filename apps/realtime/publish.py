"""The sink every app publishes through: ``publish(topic, payload)`` after commit.

Topics are colon names (``surface:BTC``, ``breakers``); the channel-layer group name is
derived from the topic because groups only allow a restricted alphabet.

Every published message carries the topic's sequence number, a Redis ``INCR`` per topic taken
at publish time, so a browser can tell it missed something (``seq != last + 1``) and ask for a
snapshot. Delivery is best-effort (channel layers drop to full channels), so nothing may depend
on one push arriving: the sequence number and the snapshot are what make it safe.
"""

from __future__ import annotations

import asyncio
import logging
import re
from functools import lru_cache
from typing import Any

import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)
_GROUP_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]")
SEQ_KEY_PREFIX = "bw:realtime:seq:"


def group_for_topic(topic: str) -> str:
    return "topic." + _GROUP_UNSAFE.sub("_", topic)


def group_for_user(user_id: int) -> str:
    """The group every live connection of one user joins ("your sessions changed")."""
    return f"user.{int(user_id)}"


@lru_cache(maxsize=1)
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)


def topic_seq_next(*, topic: str) -> int:
    """The next sequence number of ``topic`` (1, 2, ...). Raises redis.RedisError."""
    return int(_redis().incr(SEQ_KEY_PREFIX + topic))


def topic_seq_current(*, topic: str) -> int:
    """The last sequence number handed out for ``topic`` (0 before the first publish).

    Read *before* building a snapshot: the snapshot then reflects at least every message up
    to this number, so the client may drop messages with ``seq <= snapshot.seq``."""
    raw = _redis().get(SEQ_KEY_PREFIX + topic)
    return int(raw) if raw else 0


def publish_now(topic: str, payload: dict[str, Any]) -> None:
    """Send immediately; prefer publish() inside a transaction."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        seq = topic_seq_next(topic=topic)
        async_to_sync(layer.group_send)(
            group_for_topic(topic),
            {"type": "topic.message", "topic": topic, "seq": seq, "payload": payload},
        )
    except Exception:  # the viewing path degrades; the trading path never depends on this
        logger.warning("publish to %s failed", topic, exc_info=True)


def publish(topic: str, payload: dict[str, Any]) -> None:
    """Publish once the surrounding transaction commits (immediately when there is none)."""
    transaction.on_commit(lambda: publish_now(topic, payload))


def user_changed_now(*, user_id: int, reason: str) -> None:
    """Ask every live connection of the user to re-check its session and roles now (logout,
    deactivation, role change). Best effort: the periodic re-check catches a lost message."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass  # the usual case: a sync view, task or command
    else:
        # Saved from async code (no async_to_sync possible here): the periodic re-check
        # (apps.realtime.watch) catches the change within its interval.
        logger.debug("user.changed for %s left to the periodic check", user_id)
        return
    try:
        async_to_sync(layer.group_send)(
            group_for_user(user_id), {"type": "user.changed", "reason": reason}
        )
    except Exception:
        logger.warning("user.changed for %s failed", user_id, exc_info=True)
