"""Topic names and who may subscribe to them.

| topic | who |
|---|---|
| ``breakers``, ``risk``, ``alerts`` | ``accounts.view_dashboards`` |
| ``surface:<UND>`` | ``accounts.view_vol_surfaces`` |
| ``positions:<account label>`` | the account is in ``TradingAccount.objects.visible_to(user)`` |

Anything else is refused as ``unknown_topic``. A positions topic for an account the user may
not see and one for an account that does not exist are refused alike (``forbidden``), so the
refusal never reveals which accounts exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

DASHBOARD_TOPICS = frozenset({"breakers", "risk", "alerts"})
VIEW_DASHBOARDS = "accounts.view_dashboards"
VIEW_SURFACES = "accounts.view_vol_surfaces"
_UNDERLYING = re.compile(r"^[A-Z0-9]{2,16}$")
# Labels are free text (max 64); control characters never name an account.
_ACCOUNT_LABEL = re.compile(r"^[^\x00-\x1f\x7f]{1,64}$")
MAX_TOPIC_LENGTH = 100

# Refusal reasons (sent to the client as ``reason``).
UNKNOWN_TOPIC = "unknown_topic"
FORBIDDEN = "forbidden"


@dataclass(frozen=True)
class Topic:
    name: str
    family: str  # "breakers", "risk", "alerts", "surface", "positions"
    argument: str  # the underlying or the account label; "" for plain topics


def topic_parse(raw: Any) -> Topic | None:
    """The topic, or None when ``raw`` names no topic we serve."""
    if not isinstance(raw, str) or not raw or len(raw) > MAX_TOPIC_LENGTH:
        return None
    if raw in DASHBOARD_TOPICS:
        return Topic(raw, raw, "")
    family, sep, argument = raw.partition(":")
    if not sep:
        return None
    if family == "surface" and _UNDERLYING.match(argument):
        return Topic(raw, family, argument)
    if family == "positions" and _ACCOUNT_LABEL.match(argument):
        return Topic(raw, family, argument)
    return None


def topic_refusal(*, user: Any, topic: Topic) -> str | None:
    """Why ``user`` may not subscribe to ``topic`` (None: allowed). Touches the database;
    ``user`` should be freshly loaded so role changes count at once."""
    if user is None or not user.is_authenticated or not user.is_active:
        return FORBIDDEN
    if topic.family in DASHBOARD_TOPICS:
        return None if user.has_perm(VIEW_DASHBOARDS) else FORBIDDEN
    if topic.family == "surface":
        return None if user.has_perm(VIEW_SURFACES) else FORBIDDEN
    if topic.family == "positions":
        from apps.venues.models import TradingAccount

        visible = TradingAccount.objects.visible_to(user).filter(label=topic.argument).exists()
        return None if visible else FORBIDDEN
    return UNKNOWN_TOPIC


def visible_account_labels(*, user: Any, labels: set[str]) -> set[str]:
    """Which of ``labels`` the user may still see (one query)."""
    from apps.venues.models import TradingAccount

    if not labels:
        return set()
    return set(
        TradingAccount.objects.visible_to(user)
        .filter(label__in=labels)
        .values_list("label", flat=True)
    )
