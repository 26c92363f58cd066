"""Recompute the audit hash chain: exit 0 when intact, 1 naming the first bad event."""

from __future__ import annotations

import re
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit.services import audit_verify_chain

_ANCHOR = re.compile(r"^(\d+):([0-9a-f]{64})$")


def _anchor(text: str) -> tuple[int, str]:
    match = _ANCHOR.match(text.strip().lower())
    if not match:
        raise CommandError(f"--anchor must look like SEQUENCE:HASH, got {text!r}")
    return int(match.group(1)), match.group(2)


class Command(BaseCommand):
    help = (
        "Verify the audit log's hash chain. Prints 'OK <count> events, head <hash>' and exits 0, "
        "or names the first missing, edited or reordered event and exits 1."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--anchor",
            action="append",
            default=[],
            metavar="SEQUENCE:HASH",
            help="A head printed earlier and kept elsewhere; fails if the chain no longer has it "
            "(catches a rewritten or truncated tail). Repeatable.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        anchors = dict(_anchor(a) for a in options["anchor"])
        result = audit_verify_chain(anchors=anchors)
        if result.ok:
            self.stdout.write(f"OK {result.count} events, head {result.head}")
            return
        self.stderr.write(
            f"FAILED first bad event: sequence {result.first_bad_sequence} ({result.reason}); "
            f"{result.count} verified before it"
        )
        sys.exit(1)
