"""Break-glass breaker control for operators with shell access (the browser is unavailable).

    manage.py breaker status [--scope SCOPE] [--target NAME]
    manage.py breaker trip  --scope global|venue|account|underlying|api_key [--target NAME]
                            --reason TEXT [--state halted|reduce_only]
    manage.py breaker reset --scope ... [--target NAME] --reason TEXT [--state reduce_only]

Audited as ``shell:<operating-system user>``. Four-eyes applies to the browser, not here:
whoever can run this already holds the database credentials. ``status`` reads PostgreSQL (the
truth) and says whether the Redis mirror agrees.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit.actors import Actor, shell_operator_name
from apps.breakers.enforcement import breaker_effective_state
from apps.breakers.mirror import MirrorUnavailable, mirror_read
from apps.breakers.models import Breaker, BreakerScope, BreakerState
from apps.breakers.services import (
    BreakerError,
    breaker_reset_break_glass,
    breaker_target_normalise,
    breaker_trip,
)


class Command(BaseCommand):
    help = "Show, trip or reset circuit breakers from the shell (break-glass; audited)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["status", "trip", "reset"])
        parser.add_argument("--scope", choices=BreakerScope.values)
        parser.add_argument("--target", default="", help="venue, account label, underlying, key id")
        parser.add_argument("--reason", default="", help="why (required for trip and reset)")
        parser.add_argument(
            "--state",
            choices=[BreakerState.HALTED, BreakerState.REDUCE_ONLY],
            help="trip: halted (default) or reduce_only; reset: relax halted to reduce_only",
        )

    def handle(self, *args: object, **options: object) -> None:
        action = str(options["action"])
        if action == "status":
            self._status(options.get("scope"), str(options.get("target") or ""))
            return
        scope = options.get("scope")
        if not scope:
            raise CommandError("--scope is required for trip and reset")
        reason = str(options.get("reason") or "").strip()
        if not reason:
            raise CommandError("--reason is required for trip and reset")
        operator = shell_operator_name()
        try:
            if action == "trip":
                change = breaker_trip(
                    scope=str(scope),
                    target=str(options["target"]),
                    state=str(options.get("state") or BreakerState.HALTED),
                    reason=reason,
                    actor=Actor.system(f"shell:{operator}"),
                )
            else:
                change = breaker_reset_break_glass(
                    scope=str(scope),
                    target=str(options["target"]),
                    reason=reason,
                    operator=operator,
                    to_state=str(options.get("state") or BreakerState.ACTIVE),
                )
        except BreakerError as exc:
            raise CommandError(f"{exc} ({exc.code})") from None
        breaker = change.breaker
        if change.changed:
            self.stdout.write(
                self.style.SUCCESS(
                    f"{breaker.label}: {change.previous_state} -> {breaker.state} "
                    f"(by shell:{operator}, version {breaker.version})"
                )
            )
        else:
            self.stdout.write(f"{breaker.label} is already {breaker.state}; nothing changed")

    def _status(self, scope: object, target: str) -> None:
        breakers = Breaker.objects.all()
        if scope:
            try:
                scope, target = breaker_target_normalise(scope=str(scope), target=target or None)
            except BreakerError:
                scope, target = str(scope), target
            breakers = breakers.filter(scope=scope)
            if target:
                breakers = breakers.filter(target=target)
        rows = list(breakers.order_by("scope", "target"))
        try:
            mirrored = mirror_read([b.mirror_field for b in rows])
            mirror_note = "mirror: ok" if mirrored is not None else "mirror: not built yet"
        except MirrorUnavailable as exc:
            mirrored, mirror_note = None, f"mirror: Redis unavailable ({exc})"
        if not rows:
            self.stdout.write("No breaker has ever tripped: everything is active.")
        for i, breaker in enumerate(rows):
            mirror_state = ""
            if mirrored is not None:
                value = mirrored[i]
                seen = value.state if value else "absent"
                if seen != breaker.state:
                    mirror_state = f"  [mirror says {seen}]"
            since = breaker.changed_at.strftime("%Y-%m-%d %H:%M:%S UTC")
            self.stdout.write(
                f"{breaker.label:<28} {breaker.state.upper():<12} since {since} "
                f"by {breaker.changed_by_label or '-'}: {breaker.reason or '-'}{mirror_state}"
            )
        effective = breaker_effective_state()
        self.stdout.write(
            f"global effective state: {effective.state} ({effective.source}); {mirror_note}"
        )
