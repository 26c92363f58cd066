"""The alert feed: short, human-readable notices of things a risk manager should look at.

An **alert** is one item of the ``alerts`` topic, raised by the app that owns the event (the
wording and the severity are that app's business; this module only stores and delivers):

```
{"id": 17, "at": "2026-12-01T19:53:49.123456+00:00", "severity": "critical",
 "kind": "breaker.tripped", "title": "global HALTED", "detail": "desk asked to stop",
 "link": "/breakers/3/"}
```

- ``severity``: ``critical`` (trading stopped), ``warning`` (restricted, a limit near or past its
  threshold, data stale) or ``info`` (back to normal, a reset requested);
- ``kind``: a stable dotted name (``breaker.tripped``, ``breaker.reset``,
  ``breaker.reset_requested``, ``limit.warning``, ``limit.breach``, ``limit.recovered``,
  ``venue.stale``, ``venue.fresh``).

Raised with :func:`alert_raise` inside the owning service's transaction: after commit the item
is pushed onto a capped Redis list (``bw:realtime:alerts``, newest first, ``ALERTS_KEEP``
items) and *then* published, so a snapshot (which reads the topic's sequence number before the
list) always contains every item up to its sequence number; an item may appear in a snapshot
and again as a message, and clients drop repeats by ``id``. Alerts are a view, not a record
(the audit log is the record): with Redis down they are lost, and nothing on the trading path
depends on them. ``alert_raise`` never raises.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.realtime.publish import _redis, publish_now

__all__ = [
    "ALERTS_KEEP",
    "ALERTS_KEY",
    "SEVERITIES",
    "alert_raise",
    "alerts_recent",
]

logger = logging.getLogger(__name__)

ALERTS_KEY = "bw:realtime:alerts"
ALERTS_ID_KEY = "bw:realtime:alerts:id"
ALERTS_KEEP = 100
SEVERITIES = ("critical", "warning", "info")
TOPIC = "alerts"


def _raise_now(item: dict[str, Any]) -> None:
    try:
        client = _redis()
        item = {"id": int(client.incr(ALERTS_ID_KEY)), **item}
        pipe = client.pipeline(transaction=True)
        pipe.lpush(ALERTS_KEY, json.dumps(item, separators=(",", ":")))
        pipe.ltrim(ALERTS_KEY, 0, ALERTS_KEEP - 1)
        pipe.execute()
    except Exception:  # the viewing path degrades; never the caller's problem
        logger.warning("alert %s not stored", item.get("kind"), exc_info=True)
        return
    publish_now(TOPIC, {"type": "alert", "alert": item})


def alert_raise(*, kind: str, severity: str, title: str, detail: str = "", link: str = "") -> None:
    """Store and publish one alert after the surrounding transaction commits (at once outside
    one). Nothing happens for a transaction that rolls back. Never raises."""
    if severity not in SEVERITIES:
        logger.warning("alert %s has unknown severity %r; sent as warning", kind, severity)
        severity = "warning"
    item = {
        "at": timezone.now().isoformat(),
        "severity": severity,
        "kind": kind,
        "title": title[:200],
        "detail": detail[:500],
        "link": link,
    }
    transaction.on_commit(lambda: _raise_now(item))


def alerts_recent(*, limit: int = 50) -> list[dict[str, Any]]:
    """The newest ``limit`` alerts, newest first. Raises redis.RedisError when Redis is down
    (a snapshot then answers ``available: false`` rather than "no alerts")."""
    raw = _redis().lrange(ALERTS_KEY, 0, max(0, limit - 1))
    items = []
    for value in raw:
        try:
            items.append(json.loads(value))
        except ValueError:
            logger.warning("unreadable alert skipped")
    return items
