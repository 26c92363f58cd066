"""Poll a venue once from the command line (chain, or positions), printing what happened.

For operators checking a venue without waiting for beat, and for debugging adapters.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.venues.models import Venue
from apps.venues.services.polling import describe_timings, venue_poll_chain, venue_poll_positions


class Command(BaseCommand):
    help = "Poll one venue now: its option chains (default) or --positions."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("venue", help="Venue name, e.g. SIM")
        parser.add_argument("--positions", action="store_true")

    def handle(self, *args: object, **options: object) -> None:
        venue = Venue.objects.filter(name=str(options["venue"]).upper()).first()
        if venue is None:
            raise CommandError(f"No venue named {options['venue']!r}.")
        if options["positions"]:
            outcome = venue_poll_positions(venue_id=venue.pk)
        else:
            outcome = venue_poll_chain(venue_id=venue.pk)
        if not outcome.ran:
            raise CommandError(f"Skipped: {outcome.skipped}")
        for result in outcome.results:
            state = "ok" if result.ok else f"FAILED {result.error}"
            self.stdout.write(
                f"{result.underlying}: {state}; {result.received} quotes, {result.valid} valid, "
                f"{result.slices} smiles; dropped {result.dropped}"
            )
        if outcome.results:
            self.stdout.write(f"timings (ms): {describe_timings(outcome.results)}")
        if not outcome.ok:
            raise CommandError(outcome.error or "poll failed")
        self.stdout.write(self.style.SUCCESS("Poll succeeded."))
