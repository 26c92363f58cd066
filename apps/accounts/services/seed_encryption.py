"""Key rotation for TOTP seeds: move every stored seed to the first FIELD_ENCRYPTION_KEYS key.

Without this, dropping an old key after a rotation would leave every seed encrypted with it
unreadable, and those users could no longer sign in (their authenticator app is unchanged).
"""

from __future__ import annotations

from django.db import transaction

from apps.accounts.models import TotpDevice
from config import field_encryption


def totp_seeds_reencrypt_all() -> int:
    """Re-encrypt every TOTP seed under the current first key; returns the count.

    All rows or none (one transaction, rows locked, so a sign-in cannot write a device row in
    between). Raises ``FieldDecryptionError`` and changes nothing if a seed cannot be
    decrypted with any configured key. The seeds themselves are unchanged, so the users'
    authenticator apps keep working."""
    with transaction.atomic():
        devices = list(TotpDevice.objects.select_for_update().order_by("pk"))
        for device in devices:
            device.encrypted_key = field_encryption.reencrypt(device.encrypted_key)
        TotpDevice.objects.bulk_update(devices, ["encrypted_key"])
    return len(devices)
