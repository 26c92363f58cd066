"""The password step of signing in, with a lockout per (username, client IP).

Why not django-axes: axes checks "is this locked?" before the password and records the failure
after it, so a burst of parallel guesses all pass the check before any failure is counted
(jazzband/django-axes#592). Here an attempt is *reserved* (counted) under a row lock before the
password is checked, and released only by a success, so no more than LOGIN_FAILURE_LIMIT
guesses ever reach the password hasher per window, however many arrive at once.

The client IP is REMOTE_ADDR unless TRUSTED_PROXY_COUNT says how many proxies of ours append
to X-Forwarded-For; a client-supplied X-Forwarded-For is never trusted otherwise.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from hashlib import sha256

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.accounts.models import LoginThrottle, User
from apps.audit.actions import AuditAction
from apps.audit.actors import Actor
from apps.audit.services import audit_record


def client_ip(request: HttpRequest) -> str:
    """The address the request came from, trusting X-Forwarded-For only behind our proxies."""
    remote = request.META.get("REMOTE_ADDR", "") or "unknown"
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [p for p in forwarded if p]
    # Each trusted proxy appends the address it saw; the entry our outermost proxy appended
    # is the client. Entries further left were written by the client and prove nothing.
    if len(forwarded) >= proxies:
        return forwarded[-proxies]
    return remote


def _throttle_key(*, username: str, ip: str) -> str:
    message = f"{username.strip().casefold()}\x00{ip}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, sha256).hexdigest()


@dataclass(frozen=True)
class PasswordOutcome:
    """Result of the password step. ``user`` is set only on success."""

    user: User | None
    locked_until: datetime | None = None
    # True when this very attempt was refused because of an existing lock (no password check).
    refused_while_locked: bool = False


def _reserve_attempt(*, key: str, now: datetime) -> tuple[bool, datetime | None, bool]:
    """Count an attempt before checking the password.

    Returns (allowed, locked_until, this_attempt_reached_the_limit).
    """
    limit = settings.LOGIN_FAILURE_LIMIT
    window = timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)
    with transaction.atomic():
        try:
            with transaction.atomic():
                LoginThrottle.objects.get_or_create(key=key, defaults={"last_attempt_at": now})
        except IntegrityError:  # a parallel attempt created it first
            pass
        row = LoginThrottle.objects.select_for_update().get(key=key)
        if row.locked_until is not None and row.locked_until > now:
            return False, row.locked_until, False
        if row.locked_until is not None or row.last_attempt_at < now - window:
            row.attempts, row.locked_until = 0, None  # the lock or the window has passed
        row.attempts += 1
        row.last_attempt_at = now
        reached = row.attempts >= limit
        if reached:
            # Locked from now: attempts that arrive while this one is being checked are refused.
            row.locked_until = now + window
        row.save()
        return True, row.locked_until, reached


def _password_matches(*, username: str, password: str) -> User | None:
    user = User.objects.filter(username=username).first()
    if user is None:
        # Same work as for a real user, so a missing username cannot be told apart by timing.
        make_password(password)
        return None
    if not user.check_password(password) or not user.is_active:
        return None
    return user


def login_password_check(*, username: str, password: str, request: HttpRequest) -> PasswordOutcome:
    """Check a username and password under the lockout; audit failures and lockouts.

    Guarantees: a missing username, an inactive user and a wrong password take the same path
    (one pass through the password hasher) and produce the same outcome; at most
    LOGIN_FAILURE_LIMIT attempts per (username, IP) reach the hasher per lockout window.
    """
    ip = client_ip(request)
    key = _throttle_key(username=username, ip=ip)
    now = timezone.now()
    allowed, locked_until, reached_limit = _reserve_attempt(key=key, now=now)
    claimed = username[:150]
    if not allowed:
        return PasswordOutcome(user=None, locked_until=locked_until, refused_while_locked=True)

    user = _password_matches(username=username, password=password)
    if user is not None:
        LoginThrottle.objects.filter(key=key).delete()
        return PasswordOutcome(user=user)

    with transaction.atomic():
        audit_record(
            action=AuditAction.LOGIN_FAILED,
            actor=Actor.anonymous(claimed_username=claimed),
            details={"ip": ip, "step": "password"},
            request=request,
        )
        if reached_limit:
            audit_record(
                action=AuditAction.LOCKED_OUT,
                actor=Actor.anonymous(claimed_username=claimed),
                details={
                    "ip": ip,
                    "attempts": settings.LOGIN_FAILURE_LIMIT,
                    "locked_until": locked_until.isoformat() if locked_until else None,
                },
                request=request,
            )
    return PasswordOutcome(user=None, locked_until=locked_until if reached_limit else None)
