"""Re-encrypt every stored TOTP seed under the newest field-encryption key.

Rotation (docs/operations.md): put the new key first in FIELD_ENCRYPTION_KEYS (keep the old
ones after it), restart web and workers, run this and ``reencrypt_venue_credentials``, then
drop the old key and restart. Seeds are never printed.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apps.accounts.services.seed_encryption import totp_seeds_reencrypt_all
from config.field_encryption import FieldDecryptionError


class Command(BaseCommand):
    help = "Re-encrypt all TOTP seeds with the first FIELD_ENCRYPTION_KEYS key."

    def handle(self, *args: object, **options: object) -> None:
        try:
            count = totp_seeds_reencrypt_all()
        except FieldDecryptionError as exc:
            raise CommandError(
                "A stored TOTP seed cannot be decrypted with any configured key; nothing was "
                "changed. Add the key it was encrypted with to FIELD_ENCRYPTION_KEYS."
            ) from exc
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted the TOTP seeds of {count} user(s)."))
