"""Seed the demo: idempotent, refuses to run unless DEMO=1 so production never gets demo users."""

from __future__ import annotations

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.dashboard.demo import seed_demo

DEFAULT_DEMO_PASSWORD = "breakwater-demo"  # noqa: S105 - documented demo-only password


class Command(BaseCommand):
    help = "Create or refresh the demo users and data (requires DEMO=1)."

    def handle(self, *args: object, **options: object) -> None:
        if not settings.DEMO:
            raise CommandError(
                "seed_demo runs only with DEMO=1 (it creates users with a known password)."
            )
        password = os.environ.get("DEMO_PASSWORD") or DEFAULT_DEMO_PASSWORD
        summary = seed_demo(password=password)
        self.stdout.write(self.style.SUCCESS(f"Demo seeded: {summary}"))
