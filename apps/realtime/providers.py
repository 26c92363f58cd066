"""Default snapshot providers for the families whose sources exist today.

Each returns the same shape as the topic's pushed messages, so a page has one handler:

- ``breakers``: ``{"type": "breakers.snapshot", "breakers": [breaker_payload, ...]}``
  (pushed messages carry one breaker each; the snapshot carries every breaker);
- ``surface:<UND>``: ``surface.updated`` (``venues.services.payloads.publish_message``) with
  the ``stale`` flag of the hot surface;
- ``risk`` and ``positions:<label>``: ``risk.updated`` / ``positions.updated`` cut from the
  latest risk snapshot in Redis.

- ``alerts``: ``{"type": "alerts.snapshot", "alerts": [alert, ...]}``, the newest first
  (``apps.realtime.alerts``; pushed messages are ``{"type": "alert", "alert": {...}}``).

Imports are local: the source apps may be mid-change, and a missing one only disables its
family's snapshots.
"""

from __future__ import annotations

from typing import Any

from apps.realtime.snapshots import snapshot_provider_register
from apps.realtime.topics import Topic


def breakers_snapshot(user: Any, topic: Topic) -> dict[str, Any] | None:
    from apps.breakers.models import Breaker
    from apps.breakers.services.changes import breaker_payload

    return {
        "type": "breakers.snapshot",
        "breakers": [breaker_payload(b) for b in Breaker.objects.order_by("pk")],
    }


def surface_snapshot(user: Any, topic: Topic) -> dict[str, Any] | None:
    from apps.venues.selectors import surface_latest
    from apps.venues.services.payloads import publish_message

    view = surface_latest(underlying=topic.argument)
    if view is None:
        return None
    return {**publish_message(view.payload), "stale": view.stale}


def _risk_snapshot() -> dict[str, Any] | None:
    from apps.risk.snapshots import snapshot_read

    return snapshot_read()


def risk_snapshot(user: Any, topic: Topic) -> dict[str, Any] | None:
    snapshot = _risk_snapshot()
    if snapshot is None:
        return None
    # The shape of apps.risk.services.evaluation._publish's "risk" message.
    return {
        "type": "risk.updated",
        "evaluated_at": snapshot["evaluated_at"],
        "book": {k: v for k, v in snapshot["book"].items() if k != "grid"},
        "underlyings": {
            u: {k: v for k, v in data.items() if k != "grid"}
            for u, data in snapshot["underlyings"].items()
        },
        "limits": snapshot.get("limits", []),
    }


def positions_snapshot(user: Any, topic: Topic) -> dict[str, Any] | None:
    snapshot = _risk_snapshot()
    if snapshot is None:
        return None
    account = snapshot.get("accounts", {}).get(topic.argument)
    if account is None:
        return None
    return {
        "type": "positions.updated",
        "account": topic.argument,
        "evaluated_at": snapshot["evaluated_at"],
        "totals": account["totals"],
        "positions": [p for p in snapshot["positions"] if p["account"] == topic.argument],
    }


def alerts_snapshot(user: Any, topic: Topic) -> dict[str, Any] | None:
    from apps.realtime.alerts import alerts_recent

    return {"type": "alerts.snapshot", "alerts": alerts_recent()}


def providers_register_defaults() -> None:
    snapshot_provider_register(family="breakers", provider=breakers_snapshot)
    snapshot_provider_register(family="surface", provider=surface_snapshot)
    snapshot_provider_register(family="risk", provider=risk_snapshot)
    snapshot_provider_register(family="positions", provider=positions_snapshot)
    snapshot_provider_register(family="alerts", provider=alerts_snapshot)
