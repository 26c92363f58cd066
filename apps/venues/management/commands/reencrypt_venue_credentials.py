"""Re-encrypt every stored venue credential under the newest field-encryption key.

Rotation: put the new key first in FIELD_ENCRYPTION_KEYS (keep the old ones after it), restart,
run this command, then drop the old key. Secrets are never printed.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apps.audit.actors import Actor
from apps.venues.services.credentials import credentials_reencrypt_all
from config.field_encryption import FieldDecryptionError


class Command(BaseCommand):
    help = "Re-encrypt all trading-account credentials with the first FIELD_ENCRYPTION_KEYS key."

    def handle(self, *args: object, **options: object) -> None:
        try:
            count = credentials_reencrypt_all(
                actor=Actor.system("manage.py reencrypt_venue_credentials")
            )
        except FieldDecryptionError as exc:
            raise CommandError(
                "A stored credential cannot be decrypted with any configured key; nothing was "
                "changed. Add the key it was encrypted with to FIELD_ENCRYPTION_KEYS."
            ) from exc
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted credentials of {count} account(s)."))
