"""Encryption of individual database fields (TOTP seeds, venue credentials) with rotatable keys.

Keys come from ``settings.FIELD_ENCRYPTION_KEYS`` (env ``FIELD_ENCRYPTION_KEYS``, comma-separated
Fernet keys). The first key encrypts; every key decrypts (``MultiFernet``), so a key is rotated
by putting the new key first, running each app's re-encryption (``reencrypt``) over its rows,
then dropping the old key.

With no key configured:
- in DEBUG mode or when ``settings.FIELD_ENCRYPTION_DERIVE_FROM_SECRET_KEY`` is true (the test
  settings), a key is derived from ``SECRET_KEY`` with HKDF-SHA256 (info
  ``breakwater-field-encryption-v1``), so development and tests need no extra setup. Changing
  ``SECRET_KEY`` then makes existing ciphertexts unreadable;
- otherwise every call raises ``FieldEncryptionNotConfigured``: production never silently
  stores secrets under a key derived from something else.

Generate a key with
``python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"``.
"""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

__all__ = [
    "FieldDecryptionError",
    "FieldEncryptionNotConfigured",
    "decrypt",
    "encrypt",
    "reencrypt",
]

_HKDF_INFO = b"breakwater-field-encryption-v1"


class FieldEncryptionNotConfigured(ImproperlyConfigured):
    """No usable key: set FIELD_ENCRYPTION_KEYS (refused outside debug/tests)."""


class FieldDecryptionError(ValueError):
    """The ciphertext was not made by any configured key, or it was altered."""


def _derived_key(secret_key: str) -> bytes:
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
        secret_key.encode()
    )
    return base64.urlsafe_b64encode(raw)


@functools.lru_cache(maxsize=8)
def _fernet_for(keys: tuple[str, ...], secret_key: str, may_derive: bool) -> MultiFernet:
    if keys:
        try:
            return MultiFernet([Fernet(key.encode()) for key in keys])
        except (ValueError, TypeError) as exc:
            raise FieldEncryptionNotConfigured(
                "FIELD_ENCRYPTION_KEYS must hold Fernet keys (32 url-safe base64-encoded bytes), "
                "comma-separated"
            ) from exc
    if not may_derive:
        raise FieldEncryptionNotConfigured(
            "FIELD_ENCRYPTION_KEYS is not set. Generate a key with "
            '`python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())"` and set it; '
            "secrets are never stored without one outside DEBUG mode."
        )
    return MultiFernet([Fernet(_derived_key(secret_key))])


def _fernet() -> MultiFernet:
    # Read settings on every call (cached per value) so override_settings in tests works.
    keys = tuple(getattr(settings, "FIELD_ENCRYPTION_KEYS", ()) or ())
    may_derive = bool(
        settings.DEBUG or getattr(settings, "FIELD_ENCRYPTION_DERIVE_FROM_SECRET_KEY", False)
    )
    return _fernet_for(keys, settings.SECRET_KEY, may_derive)


def encrypt(plaintext: str) -> str:
    """Encrypt with the first key; the result is ASCII, authenticated and timestamped."""
    return _fernet().encrypt(plaintext.encode()).decode("ascii")


def decrypt(token: str) -> str:
    """Decrypt with any configured key; raises FieldDecryptionError if none fits."""
    try:
        return _fernet().decrypt(token.encode("ascii")).decode()
    except (InvalidToken, UnicodeError) as exc:
        raise FieldDecryptionError(
            "ciphertext cannot be decrypted with the configured keys"
        ) from exc


def reencrypt(token: str) -> str:
    """Re-encrypt a ciphertext under the current first key (for key rotation)."""
    try:
        return _fernet().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError) as exc:
        raise FieldDecryptionError(
            "ciphertext cannot be decrypted with the configured keys"
        ) from exc
