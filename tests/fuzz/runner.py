"""Run schemathesis's engine (what ``st run`` runs: examples, coverage, fuzzing and stateful
phases, every check) on a loaded schema and collect what a test needs to assert on.

The engine is driven directly, not through schemathesis's pytest plugin: its lazy fixture
loader relies on pytest internals that pytest 9 removed (``Node._nodeid``).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from schemathesis.engine import Status, events, from_schema

from tests.fuzz import checks as _checks  # noqa: F401  (registers the scope check)


def is_2xx(status: int) -> bool:
    return 200 <= status < 300


@dataclass
class FuzzReport:
    """Requests sent and answers received, per operation, and every failed check."""

    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    codes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (operation, error code)
    phases: Counter[str] = field(default_factory=Counter)  # requests per phase
    failures: dict[tuple[str, str, str], str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    def count(self, operation: str, predicate: Any = lambda status: True) -> int:
        return sum(
            n for (op, status), n in self.statuses.items() if op == operation and predicate(status)
        )

    def operations(self) -> set[str]:
        return {op for op, _ in self.statuses}

    def summary(self) -> str:
        """One line per operation: how many answers of each status (printed with -s / on
        failure, so a CI log shows how deep the run went)."""
        by_phase = ", ".join(f"{p} {n}" for p, n in sorted(self.phases.items()))
        lines = [f"{self.requests} requests in {self.elapsed:.1f} s ({by_phase})"]
        for op in sorted(self.operations()):
            by_status = sorted((s, n) for (o, s), n in self.statuses.items() if o == op)
            codes = sorted((c, n) for (o, c), n in self.codes.items() if o == op)
            lines.append(
                f"  {op}: "
                + ", ".join(f"{s}x{n}" for s, n in by_status)
                + (" | " + ", ".join(f"{c}x{n}" for c, n in codes) if codes else "")
            )
        return "\n".join(lines)

    def problems(self) -> str:
        return "\n\n".join([*self.failures.values(), *self.errors])


def _error_code(response: Any) -> str | None:
    if response.status_code < 400:
        return None
    try:
        body = response.json()
    except Exception:
        return "<not json>"
    return str(body.get("code")) if isinstance(body, dict) else "<not an object>"


def _record(report: FuzzReport, recorder: Any, phase: str) -> None:
    report.phases[phase] += sum(1 for i in recorder.interactions.values() if i.response)
    for case_id, interaction in recorder.interactions.items():
        node = recorder.cases.get(case_id)
        operation = node.value.operation.label if node else recorder.label
        if interaction.response is None:
            report.errors.append(f"{operation}: no response (network error)")
            continue
        report.statuses[(operation, interaction.response.status_code)] += 1
        code = _error_code(interaction.response)
        if code:
            report.codes[(operation, code)] += 1
    for checks in recorder.checks.values():
        for check in checks:
            if check.status != Status.FAILURE or check.failure_info is None:
                continue
            failure = check.failure_info.failure
            key = (str(failure.operation), check.name, failure.title)
            report.failures.setdefault(
                key,
                f"[{check.name}] {failure.operation}: {failure.title}\n{failure.message}\n"
                f"  reproduce: {check.failure_info.code_sample}",
            )


def fuzz_run(schema: Any) -> FuzzReport:
    """Run every enabled phase against the live server; never raises on a failed check."""
    report = FuzzReport()
    started = time.monotonic()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            _record(report, event.recorder, str(event.phase.value))
        elif isinstance(event, events.FuzzScenarioFinished):
            _record(report, event.recorder, "fuzz")
        elif isinstance(event, events.NonFatalError):
            report.errors.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            report.errors.append(f"fatal: {event.exception!r}")
        elif isinstance(event, events.EngineFinished):
            report.errors += [f"after run: {f.title}: {f.message}" for f in event.failures]
    report.elapsed = time.monotonic() - started
    return report
