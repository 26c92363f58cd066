from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.apikeys.models import ApiKey
from apps.apikeys.services import key_revoke


class Command(BaseCommand):
    help = "Revoke an API key by its public id, at once and everywhere."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("key_id")
        parser.add_argument("--reason", required=True)

    def handle(self, *args: object, **options) -> None:
        try:
            api_key = ApiKey.objects.get(key_id=options["key_id"])
        except ApiKey.DoesNotExist:
            raise CommandError(f"no key {options['key_id']!r}") from None
        if not options["reason"].strip():
            raise CommandError("--reason must say why")
        was_revoked = api_key.is_revoked
        key_revoke(api_key=api_key, actor=None, reason=options["reason"], system="revoke_key")
        self.stdout.write(f"{api_key.key_id} {'was already' if was_revoked else 'is now'} revoked.")
