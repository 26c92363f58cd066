"""Break-glass: issue a key from the shell. The key is printed alone on the last line, once."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from apps.apikeys.services import key_issue


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


class Command(BaseCommand):
    help = "Issue an API key. Prints the key once, alone on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--owner", required=True, help="username of the key's owner")
        parser.add_argument("--name", required=True)
        parser.add_argument("--scopes", required=True, type=_csv, help="comma-separated")
        parser.add_argument("--accounts", type=_csv, default=[], help="trading-account labels")
        parser.add_argument("--networks", type=_csv, default=[], help="allowed CIDRs")
        parser.add_argument("--expires-days", type=int, default=None)
        parser.add_argument("--rate", type=float, default=10.0, help="requests per second")
        parser.add_argument("--burst", type=int, default=None)

    def handle(self, *args: object, **options) -> None:
        User = get_user_model()
        try:
            owner = User.objects.get(username=options["owner"], is_active=True)
        except User.DoesNotExist:
            raise CommandError(f"no active user {options['owner']!r}") from None
        expires_at = None
        if options["expires_days"] is not None:
            expires_at = timezone.now() + timedelta(days=options["expires_days"])
        rate = options["rate"]
        burst = options["burst"] or max(1, int(rate * 2))
        try:
            issued = key_issue(
                owner=owner,
                name=options["name"],
                scopes=options["scopes"],
                actor=None,
                expires_at=expires_at,
                allowed_networks=options["networks"],
                rate_per_second=rate,
                burst=burst,
                accounts=options["accounts"],
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        key = issued.api_key
        self.stdout.write(
            f"Issued {key.key_id} '{key.name}' for {owner.username}: "
            f"scopes {','.join(key.scopes)}, expires {key.expires_at:%Y-%m-%d %H:%M} UTC. "
            "Store the key now; it is not shown again."
        )
        if key.trades_from_anywhere:
            self.stdout.write(self.style.WARNING("Warning: orders:write from any network."))
        self.stdout.write(issued.plaintext)
