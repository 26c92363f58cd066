"""What the sign-in pages tell people: what happened and when to retry, never whether a
username exists."""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.utils import timezone


def _wait(seconds: float) -> str:
    seconds = max(1, int(seconds + 0.999))
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = round(seconds / 60)
    return f"about {minutes} minute{'s' if minutes != 1 else ''}"


def retry_text(retry_at: datetime) -> str:
    """'at 14:05:09 UTC (in 15 seconds)'."""
    remaining = (retry_at - timezone.now()).total_seconds()
    return f"at {retry_at.astimezone(UTC):%H:%M:%S} UTC (in {_wait(remaining)})"


def password_failed() -> str:
    return (
        "The username or password was not accepted. "
        f"After {settings.LOGIN_FAILURE_LIMIT} failed attempts, sign-in for a username from "
        f"your address pauses for {_wait(settings.LOGIN_LOCKOUT_SECONDS)}."
    )


def password_locked(retry_at: datetime) -> str:
    return (
        "Too many failed sign-in attempts: sign-in for this username from your address is "
        f"paused. You can try again {retry_text(retry_at)}."
    )


def code_invalid(retry_at: datetime | None) -> str:
    text = "That code was not accepted (wrong, already used, or expired)."
    if retry_at is not None:
        text += f" To slow down guessing, the next try is possible {retry_text(retry_at)}."
    return text


def code_throttled(retry_at: datetime) -> str:
    return (
        "Too many wrong codes in a row, so this try was not checked. "
        f"Try again {retry_text(retry_at)}."
    )


def code_locked(retry_at: datetime) -> str:
    return (
        f"Your second factor is locked after {settings.MFA_FAILURE_LOCK_LIMIT} wrong codes "
        f"in a row. Try again {retry_text(retry_at)}, or ask an admin to reset your MFA."
    )
