"""Hooks that tell a user's live connections to re-check at once, without editing other apps.

- ``user_logged_out``: the tab that logged out ends its session; the other tabs' sockets learn
  it now instead of at the next periodic check;
- ``post_save`` of the user (deactivation through ``save()``) and ``m2m_changed`` of its groups
  (role changes).

``sessions_end_for_user`` (MFA reset, password change) bumps ``session_generation`` with a
queryset ``update()`` that sends no signal: the periodic re-check (``apps.realtime.watch``)
catches it within ``WATCH_INTERVAL_SECONDS``. All hooks fire after commit.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import m2m_changed, post_save

from apps.realtime.publish import user_changed_now


def _after_commit(user_id: int | None, reason: str) -> None:
    if user_id is not None:
        transaction.on_commit(lambda: user_changed_now(user_id=user_id, reason=reason))


def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    _after_commit(getattr(user, "pk", None), "logged_out")


def _user_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if not created:
        _after_commit(instance.pk, "user_changed")


def _groups_changed(sender: Any, instance: Any, action: str, **kwargs: Any) -> None:
    if action in {"post_remove", "post_clear", "post_add"} and isinstance(
        instance, get_user_model()
    ):
        _after_commit(instance.pk, "roles_changed")


def connect() -> None:
    user_model = get_user_model()
    user_logged_out.connect(_logged_out, dispatch_uid="realtime.logged_out")
    post_save.connect(_user_saved, sender=user_model, dispatch_uid="realtime.user_saved")
    m2m_changed.connect(
        _groups_changed, sender=user_model.groups.through, dispatch_uid="realtime.groups"
    )
