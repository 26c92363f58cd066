"""Re-validation of live connections: sockets close within seconds when their session ends.

Channels captures the user at connect (django/channels#1324), so a socket would outlive a
logout, a deactivation, an MFA reset or a role change. Each process keeps a registry of its
connections and, every ``WATCH_INTERVAL_SECONDS``, checks all of them in one database round
(one query for the sessions, two per distinct user), comparing with what held at connect:

- the session still exists, belongs to the same user and carries the user's current session
  auth hash (``session_generation`` covers deactivation, MFA reset, password change, "end all
  sessions"), the second-factor marker and its idle / absolute limits;
- the user is active and has lost no capability it had at connect, and still sees every
  account whose positions topic the connection follows.

A ``user.changed`` group message (``apps.realtime.signals``) triggers the same check for one
user's connections at once. The periodic check is the guarantee; the message is a shortcut.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any, Protocol

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from apps.accounts.services.sessions import session_is_signed_in_with_mfa
from apps.realtime.topics import visible_account_labels

logger = logging.getLogger(__name__)

WATCH_INTERVAL_SECONDS = 1.5

# Close codes (4000-4999 are ours): the client does not reconnect on 4401 (sign in again);
# on 4403 it reconnects and re-subscribes, and is told which topics it may no longer follow.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_PERMISSIONS_CHANGED = 4403


@dataclass
class Watched:
    """What held when the connection was accepted (and its positions topics now)."""

    session_key: str
    user_id: int
    capabilities: frozenset[str]
    account_labels: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Verdict:
    code: int
    reason: str


class Revocable(Protocol):
    watched: Watched

    async def revoke(self, verdict: Verdict) -> None: ...


def user_capabilities(user: Any) -> frozenset[str]:
    return frozenset(user.get_all_permissions()) if user.is_active else frozenset()


def _sessions(keys: set[str]) -> dict[str, dict[str, Any]]:
    """Decoded session data per key, for the live (unexpired) sessions among ``keys``."""
    engine = import_module(settings.SESSION_ENGINE)
    if settings.SESSION_ENGINE == "django.contrib.sessions.backends.db":
        from django.contrib.sessions.models import Session

        store = engine.SessionStore()
        rows = Session.objects.filter(session_key__in=keys, expire_date__gt=timezone.now())
        return {row.session_key: store.decode(row.session_data) for row in rows}
    out = {}
    for key in keys:  # other engines: one load each
        session = engine.SessionStore(session_key=key)
        data = session.load()
        if session.session_key == key and data:  # load() of a dead key starts a new session
            out[key] = data
    return out


def watched_check(entries: list[Watched]) -> list[Verdict | None]:
    """For each entry, None if the connection may stay, else why it must close. Sync (DB)."""
    sessions = _sessions({e.session_key for e in entries})
    users = {u.pk: u for u in get_user_model().objects.filter(pk__in={e.user_id for e in entries})}
    capabilities = {pk: user_capabilities(u) for pk, u in users.items()}
    labels_wanted: dict[int, set[str]] = {}
    for entry in entries:
        labels_wanted.setdefault(entry.user_id, set()).update(entry.account_labels)
    labels_visible = {
        pk: visible_account_labels(user=users[pk], labels=wanted)
        for pk, wanted in labels_wanted.items()
        if wanted and pk in users
    }
    verdicts: list[Verdict | None] = []
    for entry in entries:
        session, user = sessions.get(entry.session_key), users.get(entry.user_id)
        if session is None or user is None or str(session.get(SESSION_KEY)) != str(user.pk):
            verdicts.append(Verdict(CLOSE_UNAUTHENTICATED, "signed_out"))
        elif not constant_time_compare(
            session.get(HASH_SESSION_KEY, ""), user.get_session_auth_hash()
        ):
            verdicts.append(Verdict(CLOSE_UNAUTHENTICATED, "sessions_ended"))
        elif not user.is_active:
            verdicts.append(Verdict(CLOSE_UNAUTHENTICATED, "deactivated"))
        elif not session_is_signed_in_with_mfa(session=session):
            verdicts.append(Verdict(CLOSE_UNAUTHENTICATED, "session_expired"))
        elif not entry.capabilities <= capabilities[user.pk]:
            verdicts.append(Verdict(CLOSE_PERMISSIONS_CHANGED, "roles_changed"))
        elif not entry.account_labels <= labels_visible.get(user.pk, set()):
            verdicts.append(Verdict(CLOSE_PERMISSIONS_CHANGED, "accounts_changed"))
        else:
            verdicts.append(None)
    return verdicts


async def revalidate(connections: list[Revocable]) -> None:
    """Check ``connections`` now and revoke those that may no longer stay open."""
    if not connections:
        return
    # Copies: a subscription may change the live sets while the check runs in its thread.
    entries = [
        Watched(w.session_key, w.user_id, w.capabilities, set(w.account_labels))
        for w in (c.watched for c in connections)
    ]
    verdicts = await database_sync_to_async(watched_check)(entries)
    for connection, verdict in zip(connections, verdicts, strict=True):
        if verdict is not None:
            await connection.revoke(verdict)


FAILURE_REPORT_EVERY_SECONDS = 60.0


class Watcher:
    """The connections of one event loop and the task that re-checks them periodically."""

    def __init__(self) -> None:
        self.connections: set[Revocable] = set()
        self._task: asyncio.Task[None] | None = None
        self._failing_since: float | None = None  # loop time of the first failed round
        self._reported_at = 0.0

    def add(self, connection: Revocable) -> None:
        self.connections.add(connection)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def discard(self, connection: Revocable) -> None:
        self.connections.discard(connection)

    async def _run(self) -> None:
        while self.connections:
            await asyncio.sleep(WATCH_INTERVAL_SECONDS)
            try:
                await revalidate(list(self.connections))
            except Exception as exc:  # a database hiccup: try again next round, keep sockets open
                self._failed(exc)
            else:
                self._succeeded()

    def _failed(self, exc: Exception) -> None:
        """One warning when re-validation starts failing and one a minute while it does (a
        database outage fails every round: a traceback every 2 s buried the logs)."""
        now = asyncio.get_running_loop().time()
        if self._failing_since is None:
            self._failing_since = now
        elif now - self._reported_at < FAILURE_REPORT_EVERY_SECONDS:
            return
        self._reported_at = now
        first_line = (str(exc).strip().splitlines() or [""])[0]
        logger.warning(
            "websocket re-validation failing for %.0f s (%s: %s); sockets stay open, retrying "
            "every %.0f s",
            now - self._failing_since,
            type(exc).__name__,
            first_line,
            WATCH_INTERVAL_SECONDS,
            exc_info=logger.isEnabledFor(logging.DEBUG),
        )

    def _succeeded(self) -> None:
        if self._failing_since is not None:
            down = asyncio.get_running_loop().time() - self._failing_since
            logger.warning("websocket re-validation works again after %.0f s", down)
            self._failing_since = None


_watchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Watcher] = (
    weakref.WeakKeyDictionary()
)


def watcher() -> Watcher:
    """The watcher of the running event loop (one per server process)."""
    loop = asyncio.get_running_loop()
    found = _watchers.get(loop)
    if found is None:
        found = _watchers[loop] = Watcher()
    return found
