"""Snapshot providers per topic family: what a client gets when it (re)synchronises.

An app plugs its family in once (``snapshot_provider_register(family="surface", provider=...)``,
usually from ``AppConfig.ready``); the realtime app registers defaults for the families whose
sources exist (see ``apps.realtime.providers``). A provider runs in a database thread with the
freshly loaded user and the parsed topic, and returns the payload (the same shape as the
topic's pushed messages, so the page's handler treats both alike) or None when there is nothing
to show yet. A family without a provider, a provider returning None or one that fails answers
``{"type": "snapshot", "topic": ..., "available": false}``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from apps.realtime.topics import Topic

logger = logging.getLogger(__name__)

SnapshotProvider = Callable[[Any, Topic], dict[str, Any] | None]
_providers: dict[str, SnapshotProvider] = {}


def snapshot_provider_register(*, family: str, provider: SnapshotProvider) -> None:
    """Register (or replace) the provider of one topic family."""
    _providers[family] = provider


def snapshot_provider_unregister(*, family: str) -> None:
    _providers.pop(family, None)


def snapshot_build(*, user: Any, topic: Topic) -> dict[str, Any] | None:
    """The topic's current state for ``user``, or None when unavailable (never raises)."""
    provider = _providers.get(topic.family)
    if provider is None:
        return None
    try:
        return provider(user, topic)
    except Exception:  # a broken source must not end the socket; the client shows "stale"
        logger.warning("snapshot provider for %s failed", topic.name, exc_info=True)
        return None
