"""Refusals of breaker services, each with a stable machine-readable code."""

from __future__ import annotations


class BreakerError(Exception):
    """A breaker change was refused; ``code`` is stable, the message is for people."""

    code = "breaker_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code:
            self.code = code


class BreakerTargetUnknown(BreakerError):
    code = "unknown_target"


class BreakerNotPermitted(BreakerError):
    code = "forbidden"


class FourEyesRequired(BreakerError):
    code = "four_eyes_required"


class InvalidBreakerChange(BreakerError):
    code = "invalid_change"
