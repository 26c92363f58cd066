"""Breaker services: the only code that changes breaker state (see docs/breakers.md).

``breaker_trip`` / ``breaker_reset`` / ``breaker_reset_request`` / ``breaker_reset_approve``
for people, bots and the break-glass command; ``breaker_auto_trip`` /
``breaker_condition_clear`` for automatic conditions; ``breaker_effective_state`` is the
trading path's read (apps.breakers.enforcement).
"""

from apps.breakers.enforcement import (
    BreakerRef,
    EffectiveState,
    breaker_effective_state,
    breaker_mirror_resync,
)
from apps.breakers.services.changes import (
    BreakerChange,
    breaker_auto_trip,
    breaker_condition_clear,
    breaker_payload,
    breaker_reset,
    breaker_reset_break_glass,
    breaker_trip,
    four_eyes_applies,
)
from apps.breakers.services.errors import (
    BreakerError,
    BreakerNotPermitted,
    BreakerTargetUnknown,
    FourEyesRequired,
    InvalidBreakerChange,
)
from apps.breakers.services.four_eyes import breaker_reset_approve, breaker_reset_request
from apps.breakers.services.targets import breaker_target_normalise, breaker_target_validate

__all__ = [
    "BreakerChange",
    "BreakerError",
    "BreakerNotPermitted",
    "BreakerRef",
    "BreakerTargetUnknown",
    "EffectiveState",
    "FourEyesRequired",
    "InvalidBreakerChange",
    "breaker_auto_trip",
    "breaker_condition_clear",
    "breaker_effective_state",
    "breaker_mirror_resync",
    "breaker_payload",
    "breaker_reset",
    "breaker_reset_approve",
    "breaker_reset_break_glass",
    "breaker_reset_request",
    "breaker_target_normalise",
    "breaker_target_validate",
    "breaker_trip",
    "four_eyes_applies",
]
