"""Schemathesis hooks that keep a fuzz run's data true to the schema and its world usable."""

from __future__ import annotations

import threading
from typing import Any

from django.db import connection
from schemathesis.core.parameters import ParameterLocation

from apps.breakers.services import breaker_reset_break_glass


def map_case(context: Any, case: Any) -> Any:
    """Dictionaries fill fields one by one, so a real price can land on a positive market
    order, which the schema (and the server) refuse: take it back out."""
    body = case.body
    if (
        isinstance(body, dict)
        and body.get("type") == "market"
        and body.get("price") is not None
        and not (case.meta and case.meta.is_negative_at(ParameterLocation.BODY))
    ):
        case.body = {k: v for k, v in body.items() if k != "price"}
    return case


def after_call(context: Any, case: Any, response: Any) -> None:
    """A fuzz key may halt itself or its accounts (POST /breakers/trip is fuzzed too); a person
    resets such a trip at once, so the rest of the run still reaches the venue instead of
    meeting breaker_halted on every order."""
    if (case.method.upper(), case.operation.path, response.status_code) != (
        "POST",
        "/api/v1/breakers/trip",
        200,
    ):
        return
    breaker = response.json().get("breaker")
    if breaker is None:
        raise AssertionError(f"a 200 trip without its breaker: {response.text[:500]}")
    try:
        breaker_reset_break_glass(
            scope=breaker["scope"],
            target=breaker["target"],
            reason="fuzz run: undo a self-trip",
            operator="fuzz",
        )
    finally:
        if threading.current_thread() is not threading.main_thread():
            connection.close()  # the engine's threads would each keep one open


def register(schema: Any) -> Any:
    for hook in (map_case, after_call):
        schema.hook(hook)
    return schema
