"""Celery tasks for risk. Thin: each calls a service.

``risk.evaluate`` runs every ``RISK_EVALUATE_EVERY_SECONDS`` (2 s; registered here, not in
settings) and on demand after position polls and fills (``risk_evaluate_soon``). A second
evaluation while one runs returns at once (the service holds a lock).
"""

from __future__ import annotations

from typing import Any

from apps.risk.services.evaluation import risk_evaluate
from config.celery import app

RISK_EVALUATE_EVERY_SECONDS = 2.0


@app.task(name="risk.evaluate", time_limit=30, soft_time_limit=25, ignore_result=True)
def evaluate() -> dict[str, Any]:
    result = risk_evaluate()
    if result is None:
        return {"ran": False}
    return {
        "ran": True,
        "positions": len(result.snapshot["positions"]),
        "trips": [c.breaker.label for c in result.trips],
        "ms": {k: round(v * 1000, 2) for k, v in result.timings.items()},
    }


app.add_periodic_task(
    RISK_EVALUATE_EVERY_SECONDS,
    evaluate.s(),
    name="risk.evaluate",
    expires=RISK_EVALUATE_EVERY_SECONDS * 2,
)
