"""Waiting for something a real process does, with a bound and a message that says what."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``predicate`` until it returns something truthy, and return that; fail with
    ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)
    return value


def seconds_until(predicate: Callable[[], Any], timeout: float, what: str) -> float:
    """``wait_for``, returning how many seconds it took."""
    started = time.monotonic()
    wait_for(predicate, timeout, what)
    return time.monotonic() - started
