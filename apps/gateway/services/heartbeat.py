"""The dead man's switch (cancel-on-disconnect): a key that opted in must send heartbeats.

``heartbeat_record`` arms, re-arms or disarms a key's switch; ``dead_mans_switch_sweep`` (every
second, from beat) halts the ``api_key`` breaker of every key whose last heartbeat is older than
its interval. The halt's hook then cancels the key's working orders (cancel-on-halt). One
silence fires once: ``fired_for`` remembers the heartbeat it answered; a new heartbeat re-arms.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import DurationField, ExpressionWrapper, F, Q
from django.utils import timezone

from apps.apikeys.models import ApiKey
from apps.breakers.models import BreakerScope, BreakerState
from apps.breakers.services import breaker_auto_trip
from apps.gateway.models import DeadMansSwitch

__all__ = ["HeartbeatState", "dead_mans_switch_sweep", "heartbeat_record"]

logger = logging.getLogger(__name__)

CONDITION = "dead_mans_switch"


@dataclass(frozen=True, slots=True)
class HeartbeatState:
    armed: bool
    interval_seconds: int | None
    deadline: datetime | None


def heartbeat_record(
    *, api_key: ApiKey, interval_seconds: int | None = None, now: datetime | None = None
) -> HeartbeatState:
    """Record a heartbeat of ``api_key``. ``interval_seconds`` > 0 arms (or changes) the switch,
    0 disarms it, None keeps the current setting. Guarantees the deadline moves only forward
    from this call's time, in one statement (concurrent heartbeats cannot lose one)."""
    now = now or timezone.now()
    if interval_seconds == 0:
        DeadMansSwitch.objects.filter(api_key=api_key).delete()
        return HeartbeatState(False, None, None)
    if interval_seconds is None:
        updated = DeadMansSwitch.objects.filter(api_key=api_key).update(last_heartbeat_at=now)
        if not updated:
            return HeartbeatState(False, None, None)
        switch = DeadMansSwitch.objects.get(api_key=api_key)
    else:
        switch, _ = DeadMansSwitch.objects.update_or_create(
            api_key=api_key,
            defaults={"interval_seconds": interval_seconds, "last_heartbeat_at": now},
        )
    return HeartbeatState(True, switch.interval_seconds, switch.deadline)


def dead_mans_switch_sweep(*, now: datetime | None = None) -> list[str]:
    """Halt the breaker of every key whose heartbeat is overdue (and not yet answered).
    Returns the key ids it fired for. Claimed with a conditional UPDATE, so two sweeps never
    fire one silence twice."""
    now = now or timezone.now()
    deadline = ExpressionWrapper(
        F("last_heartbeat_at") + F("interval_seconds") * timedelta(seconds=1),
        output_field=DurationField(),
    )
    overdue = (
        DeadMansSwitch.objects.annotate(deadline_at=deadline)
        .filter(deadline_at__lt=now)
        .filter(Q(fired_for__isnull=True) | ~Q(fired_for=F("last_heartbeat_at")))
        .select_related("api_key")
    )
    fired: list[str] = []
    for switch in overdue:
        with transaction.atomic():
            claimed = (
                DeadMansSwitch.objects.filter(
                    pk=switch.pk, last_heartbeat_at=switch.last_heartbeat_at
                )
                .exclude(fired_for=switch.last_heartbeat_at)
                .update(fired_for=switch.last_heartbeat_at, fired_at=now)
            )
            if not claimed:
                continue
            breaker_auto_trip(
                scope=BreakerScope.API_KEY,
                target=switch.api_key.key_id,
                state=BreakerState.HALTED,
                condition=CONDITION,
                reason=(
                    f"Dead man's switch: no heartbeat for {switch.interval_seconds} s "
                    f"(last at {switch.last_heartbeat_at.isoformat()})."
                ),
                component="gateway.dead_mans_switch",
            )
        fired.append(switch.api_key.key_id)
    return fired
