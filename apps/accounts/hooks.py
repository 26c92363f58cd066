"""Explicit in-process hooks for apps that build on accounts.

accounts imports no domain app (DESIGN.md), yet deactivating a person must also revoke the
API keys they own, in the same transaction. Dependent apps register a callback here from
their AppConfig.ready(); user_deactivate() calls every callback inside its transaction, so a
failure rolls the whole deactivation back. (Not Django signals: the call is explicit and
ordered, and it runs for workers and commands exactly as for requests.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

UserDeactivatedHook = Callable[..., None]  # (*, user, actor, request) -> None

_user_deactivated: list[UserDeactivatedHook] = []


def on_user_deactivated(callback: UserDeactivatedHook) -> UserDeactivatedHook:
    if callback not in _user_deactivated:
        _user_deactivated.append(callback)
    return callback


def run_user_deactivated(*, user: Any, actor: Any, request: Any) -> None:
    for callback in list(_user_deactivated):
        callback(user=user, actor=actor, request=request)
