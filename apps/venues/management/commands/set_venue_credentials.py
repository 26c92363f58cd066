"""Set (or --clear) a trading account's venue credentials, read from the terminal, not argv.

Arguments on a command line are visible to every user of the machine (``ps``) and end up in
shell history, so the key and secret are prompted for (or read from stdin, one per line).
"""

from __future__ import annotations

import getpass
import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit.actors import Actor
from apps.venues.adapters.base import Credentials
from apps.venues.models import TradingAccount
from apps.venues.services.credentials import trading_account_credentials_set


class Command(BaseCommand):
    help = "Store a trading account's API key and secret (encrypted), or remove them with --clear."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("account", help="Trading account label, e.g. DERIBIT-MAIN")
        parser.add_argument("--clear", action="store_true", help="Remove stored credentials")
        parser.add_argument("--operator", default="", help="Who is doing this (for the audit log)")

    def handle(self, *args: object, **options: object) -> None:
        account = TradingAccount.objects.filter(label=options["account"]).first()
        if account is None:
            raise CommandError(f"No trading account labelled {options['account']!r}.")
        operator = str(options["operator"] or getpass.getuser())
        actor = Actor.system(f"manage.py set_venue_credentials by {operator}")
        if options["clear"]:
            trading_account_credentials_set(account=account, credentials=None, actor=actor)
            self.stdout.write(self.style.SUCCESS(f"Credentials of {account} removed."))
            return
        if sys.stdin.isatty():
            api_key = getpass.getpass("API key (client id): ")
            secret = getpass.getpass("API secret: ")
        else:
            api_key = sys.stdin.readline().strip()
            secret = sys.stdin.readline().strip()
        if not api_key or not secret:
            raise CommandError("Both an API key and a secret are required.")
        trading_account_credentials_set(
            account=account, credentials=Credentials(api_key=api_key, secret=secret), actor=actor
        )
        self.stdout.write(self.style.SUCCESS(f"Credentials of {account} stored (encrypted)."))
