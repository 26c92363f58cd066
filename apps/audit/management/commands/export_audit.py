"""Export audit events as JSON Lines (with hashes) for offline verification."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime, time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_date, parse_datetime

from apps.audit.actors import Actor
from apps.audit.services import audit_export


def parse_moment(text: str) -> datetime:
    """ISO 8601 date or date-time; a date means its midnight, a naive time means UTC."""
    moment = parse_datetime(text)
    if moment is None:
        day = parse_date(text)
        if day is None:
            raise CommandError(f"not an ISO 8601 date or date-time: {text!r}")
        moment = datetime.combine(day, time.min)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Write audit events with SINCE <= time < UNTIL as JSON Lines, hashes included; "
        "verify the file offline with `python -m apps.audit.chain FILE`."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", required=True, help="ISO 8601 date or date-time (UTC).")
        parser.add_argument("--until", help="ISO 8601 date or date-time, exclusive (UTC).")
        parser.add_argument("--output", "-o", help="File to write (default: standard output).")

    def handle(self, *args: Any, **options: Any) -> None:
        since = parse_moment(options["since"])
        until = parse_moment(options["until"]) if options["until"] else None
        if until is not None and until <= since:
            raise CommandError("--until must be after --since")
        try:
            operator = getpass.getuser()
        except (OSError, KeyError):  # no login name in some containers
            operator = "unknown"
        actor = Actor.system(f"export_audit:{operator}")
        if options["output"]:
            with open(options["output"], "w", encoding="ascii", newline="\n") as handle:
                summary = audit_export(since=since, until=until, out=handle, actor=actor)
        else:
            summary = audit_export(since=since, until=until, out=self.stdout, actor=actor)
        # On stderr: stdout may be the export itself.
        span = (
            f" (sequence {summary.first_sequence}..{summary.last_sequence}, "
            f"head {summary.last_hash})"
            if summary.count
            else ""
        )
        self.stderr.write(f"exported {summary.count} events{span}")
