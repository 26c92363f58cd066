"""Explicit hooks for apps that act when a breaker halts (the gateway's cancel-on-halt).

Breakers know nothing about orders (the gateway depends on breakers, not the reverse), yet a
breaker going to ``halted`` must cancel the working orders in its scope. The gateway registers
a callback here from its ``AppConfig.ready()``::

    from apps.breakers.hooks import on_halted

    def cancel_working_orders(breaker_id: int) -> None:
        cancel_on_halt.delay(breaker_id)   # a task that retries until done and audits

    on_halted(cancel_working_orders)

Every callback runs after the transaction that halted the breaker commits (never for a change
that rolled back), in the process that made the change, with the breaker's id. A callback must
be quick (enqueue a task) and must not raise; an exception is logged and the other callbacks
still run. Not a Django signal: the call is explicit and ordered, and runs for workers, commands
and requests alike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction

__all__ = ["HaltedHook", "halted_hooks", "on_halted", "run_halted_on_commit"]

logger = logging.getLogger(__name__)

HaltedHook = Callable[[int], None]

_halted: list[HaltedHook] = []


def on_halted(callback: HaltedHook) -> HaltedHook:
    """Register ``callback(breaker_id)``, called after each commit that halts a breaker."""
    if callback not in _halted:
        _halted.append(callback)
    return callback


def halted_hooks() -> tuple[HaltedHook, ...]:
    return tuple(_halted)


def _run(breaker_id: int) -> None:
    for callback in list(_halted):
        try:
            callback(breaker_id)
        except Exception:  # one broken consumer must not stop the others (or the trip)
            logger.exception("on_halted callback %r failed for breaker %s", callback, breaker_id)


def run_halted_on_commit(breaker_id: int) -> None:
    """Schedule the callbacks for after the current transaction commits."""
    transaction.on_commit(lambda: _run(breaker_id))


def unregister(callback: HaltedHook) -> None:
    """Remove a callback (tests)."""
    if callback in _halted:
        _halted.remove(callback)
