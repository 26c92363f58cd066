"""Session state for the two-step login, step-up freshness and session lifetimes.

A session passes through two states:
- *pending*: the password was right; the session holds the user's id (not a login). Nothing
  but the second-factor pages accepts it, and it expires after ``PENDING_SECONDS``;
- *signed in*: ``django.contrib.auth.login`` plus django-otp's device marker, both done only
  after the second factor, with a new session id. ``AUTH_AT`` (absolute lifetime), ``SEEN_AT``
  (idle timeout) and ``MFA_AT`` (step-up freshness) are epoch seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import auth
from django.db.models import F
from django.http import HttpRequest
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp import login as otp_login
from django_otp.models import Device

from apps.accounts.models import User
from apps.accounts.roles import PRIVILEGED_ROLES

PENDING_USER_ID = "bw_pending_user_id"
PENDING_AT = "bw_pending_at"
PENDING_GENERATION = "bw_pending_generation"
AUTH_AT = "bw_auth_at"
SEEN_AT = "bw_seen_at"
MFA_AT = "bw_mfa_at"
PRIVILEGED = "bw_privileged"

PENDING_SECONDS = 300
# The idle clock is written to the session at most this often, so a busy page does not
# rewrite its session row on every request; idle timeouts are precise to this many seconds.
SEEN_WRITE_INTERVAL = 30

AUTH_BACKEND = "apps.accounts.backends.SessionOnlyBackend"


def _now() -> float:
    return time.time()


def session_pending_begin(*, request: HttpRequest, user: User) -> None:
    """Remember that the password step passed, under a fresh session id."""
    request.session.flush()
    request.session[PENDING_USER_ID] = user.pk
    request.session[PENDING_AT] = _now()
    request.session[PENDING_GENERATION] = user.session_generation


def session_pending_user(request: HttpRequest) -> User | None:
    """The user who passed the password step in this session, if still valid."""
    user_id = request.session.get(PENDING_USER_ID)
    started = request.session.get(PENDING_AT)
    if user_id is None or started is None or _now() - float(started) > PENDING_SECONDS:
        return None
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or user.session_generation != request.session.get(PENDING_GENERATION):
        return None
    return user


def session_pending_clear(request: HttpRequest) -> None:
    for key in (PENDING_USER_ID, PENDING_AT, PENDING_GENERATION):
        request.session.pop(key, None)


def session_sign_in(*, request: HttpRequest, user: User, device: Device) -> None:
    """Complete the login after the second factor: new session id, MFA marker, clocks."""
    session_pending_clear(request)
    auth.login(request, user, backend=AUTH_BACKEND)  # cycles the session key
    otp_login(request, device)
    now = _now()
    request.session[AUTH_AT] = now
    request.session[SEEN_AT] = now
    request.session[MFA_AT] = now
    request.session[PRIVILEGED] = user_is_privileged(user=user)


def session_step_up_record(*, request: HttpRequest, device: Device) -> None:
    """A second-factor check just passed: new session id, fresh step-up clock."""
    request.session.cycle_key()
    otp_login(request, device)
    request.session[MFA_AT] = _now()


def session_mfa_is_recent(request: HttpRequest) -> bool:
    """True when the last second-factor check of this session is within MFA_STEP_UP_SECONDS."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_verified():
        return False
    checked = request.session.get(MFA_AT)
    return checked is not None and _now() - float(checked) <= settings.MFA_STEP_UP_SECONDS


def user_is_privileged(*, user: User) -> bool:
    return user.groups.filter(name__in=[role.value for role in PRIVILEGED_ROLES]).exists()


@dataclass(frozen=True)
class Expiry:
    reason: str  # "idle" or "absolute"
    seconds: int


def session_expiry(request: HttpRequest) -> Expiry | None:
    """Whether this signed-in session has outlived its idle timeout or absolute lifetime."""
    return session_store_expiry(request.session)


def session_store_expiry(session: Any) -> Expiry | None:
    """As ``session_expiry``, for a bare session (e.g. a websocket scope's ``session``)."""
    now = _now()
    auth_at = session.get(AUTH_AT)
    seen_at = session.get(SEEN_AT)
    if auth_at is None or seen_at is None:
        return Expiry("absolute", 0)  # signed in by some other path: not ours, end it
    absolute = settings.SESSION_ABSOLUTE_SECONDS
    if now - float(auth_at) > absolute:
        return Expiry("absolute", absolute)
    idle = (
        settings.SESSION_IDLE_SECONDS_PRIVILEGED
        if session.get(PRIVILEGED, True)
        else settings.SESSION_IDLE_SECONDS
    )
    if now - float(seen_at) > idle:
        return Expiry("idle", idle)
    return None


def session_is_signed_in_with_mfa(*, session: Any) -> bool:
    """For websocket consumers (Channels does not run Django middleware): the session was
    signed in through the second factor and is within its idle and absolute limits. The
    user itself comes from Channels' AuthMiddleware, which already ends sessions whose
    user was deactivated, reset or changed password (session auth hash)."""
    return bool(session.get(DEVICE_ID_SESSION_KEY)) and session_store_expiry(session) is None


def session_touch(*, request: HttpRequest, user: User) -> None:
    """Record activity (for the idle timeout) and re-read whether the user's roles are
    privileged, so a role change shortens or lengthens the idle timeout within seconds."""
    now = _now()
    if now - float(request.session.get(SEEN_AT, 0)) >= SEEN_WRITE_INTERVAL:
        request.session[SEEN_AT] = now
        request.session[PRIVILEGED] = user_is_privileged(user=user)


def sessions_end_for_user(*, user: User) -> None:
    """End every session of the user (HTTP and websocket) at its next request.

    Works through the session auth hash (``User.get_session_auth_hash``), so it covers any
    session store and sessions started elsewhere. The caller saves nothing else on ``user``.
    """
    User.objects.filter(pk=user.pk).update(session_generation=F("session_generation") + 1)
    user.refresh_from_db(fields=["session_generation"])
