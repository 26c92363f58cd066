"""Print a demo user's current TOTP code, so the demo needs no phone (refused unless DEMO=1)."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.models import TotpDevice


class Command(BaseCommand):
    help = "Print the current TOTP code of a demo user (requires DEMO=1)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: object, **options: object) -> None:
        if not settings.DEMO:
            raise CommandError("demo_otp runs only with DEMO=1: it reveals second-factor codes.")
        username = str(options["username"])
        device = (
            TotpDevice.objects.select_related("user")
            .filter(user__username=username, confirmed=True)
            .first()
        )
        if device is None:
            raise CommandError(f"{username} has no authenticator; run `manage.py seed_demo` first.")
        remaining = device.step - int(time.time() - device.t0) % device.step
        self.stdout.write(device.current_code())
        self.stderr.write(
            f"valid for {remaining} more s; each code works once (wait for the next one "
            "if it was just used)"
        )
