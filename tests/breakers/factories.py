"""Small helpers for the breakers tests."""

from __future__ import annotations

from apps.audit.actors import Actor
from apps.breakers.models import Breaker
from apps.breakers.services import breaker_trip

OPERATOR = Actor.system("tests")


def trip(scope: str = "global", target: str = "", *, state: str = "halted", reason: str = "test"):
    return breaker_trip(scope=scope, target=target, state=state, reason=reason, actor=OPERATOR)


def state_of(scope: str = "global", target: str = "") -> str:
    breaker = Breaker.objects.filter(scope=scope, target=target).first()
    return breaker.state if breaker else "active"
