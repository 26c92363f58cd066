"""Reads of the audit log for people (the dashboard's audit page)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet

from apps.audit.actions import AuditAction
from apps.audit.models import AuditEvent

__all__ = ["audit_action_choices", "audit_events_filtered"]


def audit_action_choices() -> list[tuple[str, str]]:
    """Filter choices: each area (``breaker.*``: every action of that area) then each action,
    both in the enumeration's order."""
    areas: list[str] = []
    for value in AuditAction.values:
        area = value.split(".", 1)[0]
        if area not in areas:
            areas.append(area)
    return [(f"{a}.*", f"All {a}.* actions") for a in areas] + list(AuditAction.choices)


def audit_events_filtered(
    *,
    actor: str = "",
    action: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEvent]:
    """Events matching every given filter, newest first.

    ``actor`` matches the actor's label (username, key name, component) case-insensitively as
    a substring, or its id exactly; ``action`` is one action (``breaker.tripped``) or a whole
    area (``breaker.*``); ``since`` is inclusive and ``until`` exclusive (aware datetimes)."""
    events = AuditEvent.objects.all()
    actor = actor.strip()
    if actor:
        events = events.filter(Q(actor_label__icontains=actor) | Q(actor_id=actor))
    if action.endswith(".*"):
        events = events.filter(action__startswith=action[:-1])
    elif action:
        events = events.filter(action=action)
    if since is not None:
        events = events.filter(occurred_at__gte=since)
    if until is not None:
        events = events.filter(occurred_at__lt=until)
    return events.order_by("-sequence")
