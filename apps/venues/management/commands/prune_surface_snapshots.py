"""Delete surface snapshots older than a retention period (default 30 days)."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.venues.services.snapshots import surface_snapshots_prune


class Command(BaseCommand):
    help = "Delete SurfaceSnapshot rows older than --older-than-days (default 30)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than-days", type=float, default=30.0)

    def handle(self, *args: object, **options: object) -> None:
        days = float(options["older_than_days"])  # type: ignore[arg-type]
        if days <= 0:
            raise CommandError("--older-than-days must be positive")
        deleted = surface_snapshots_prune(older_than=timedelta(days=days))
        self.stdout.write(
            self.style.SUCCESS(f"Deleted {deleted} snapshot(s) older than {days:g} days.")
        )
