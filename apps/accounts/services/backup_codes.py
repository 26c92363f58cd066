"""Single-use backup codes: generated once, shown once, stored only as PBKDF2 hashes."""

from __future__ import annotations

import secrets

from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import transaction

from apps.accounts.models import BackupCode, BackupCodeDevice, User

BACKUP_CODE_COUNT = 10
# 10 characters from 32 symbols without look-alike letters (no i, l, o): 50 bits each.
_ALPHABET = "abcdefghjkmnpqrstuvwxyz023456789"
_LENGTH = 10
# The codes carry 50 random bits, so the hash needs far fewer iterations than a
# person-chosen password to make offline guessing hopeless; fewer iterations keep checking a
# submitted code against the ten stored hashes well under a second. The iteration count is
# stored in each hash (password-style ``pbkdf2_sha256$iterations$salt$hash``), so it can be
# raised later without invalidating existing codes.
_ITERATIONS = 20_000
_hasher = PBKDF2PasswordHasher()


def _normalize(code: str) -> str:
    return code.strip().replace("-", "").replace(" ", "").lower()


def backup_code_format(code: str) -> str:
    """Display form: two groups of five, easier to copy by hand."""
    return f"{code[:5]}-{code[5:]}"


def backup_code_hash(*, code: str) -> str:
    return _hasher.encode(_normalize(code), _hasher.salt(), iterations=_ITERATIONS)


def backup_code_matches(*, code: str, encoded: str) -> bool:
    """Constant-time comparison of one submitted code with one stored hash."""
    normalized = _normalize(code)
    if len(normalized) != _LENGTH:
        return False
    return _hasher.verify(normalized, encoded)


def backup_codes_regenerate(*, user: User) -> list[str]:
    """Replace all of the user's backup codes with ten new ones and return them (display form).

    Guarantees: the plaintext exists only in the return value; the database holds hashes; any
    earlier code stops working in the same transaction.
    """
    codes = [
        "".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH)) for _ in range(BACKUP_CODE_COUNT)
    ]
    with transaction.atomic():
        device, _ = BackupCodeDevice.objects.select_for_update().get_or_create(
            user=user, defaults={"name": "Backup codes", "confirmed": True}
        )
        device.codes.all().delete()
        BackupCode.objects.bulk_create(
            BackupCode(device=device, code_hash=backup_code_hash(code=code)) for code in codes
        )
    return [backup_code_format(code) for code in codes]
