"""Users, their second-factor devices and the login throttle.

Secrets at rest: TOTP seeds are stored only encrypted with the project's field-encryption keys
(config/field_encryption.py) and backup codes only as PBKDF2 hashes, unlike django-otp's stock
plugins (seed in clear hex, backup codes as plain strings). Our devices subclass django-otp's
``Device``, so its middleware and ``user.is_verified()`` work unchanged.
"""

from __future__ import annotations

import time
from base64 import b32encode
from binascii import unhexlify
from urllib.parse import quote, urlencode

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django_otp.models import Device, TimestampMixin
from django_otp.oath import TOTP

from config import field_encryption


class User(AbstractUser):
    """A person who signs in to Breakwater (bots use API keys, never users' sessions).

    Guarantees: bumping ``session_generation`` ends every session of the user at their next
    request (the session auth hash covers it, for HTTP and websockets alike); the MFA failure
    fields count consecutive second-factor failures across all the user's devices.
    """

    must_change_password = models.BooleanField(
        default=False, help_text="The user must choose a new password before doing anything."
    )
    session_generation = models.PositiveIntegerField(
        default=0, help_text="Incremented to end all of the user's sessions."
    )
    mfa_failure_count = models.PositiveIntegerField(default=0)
    mfa_last_failure_at = models.DateTimeField(null=True, blank=True)
    mfa_locked_until = models.DateTimeField(
        null=True, blank=True, help_text="Hard lock after repeated second-factor failures."
    )

    class Meta:
        db_table = "accounts_user"

    def get_session_auth_hash(self) -> str:
        # Django compares this with the hash stored in the session on every request; adding
        # the generation makes "end all sessions" a single UPDATE, whatever the session store.
        return salted_hmac(
            "breakwater.accounts.User.get_session_auth_hash",
            f"{self.password}:{self.session_generation}",
            algorithm="sha256",
        ).hexdigest()


class Capability(models.Model):
    """No table: the owner of the role permissions listed in apps.accounts.roles."""

    class Meta:
        managed = False
        default_permissions = ()
        db_table = "accounts_capability_unused"

    def __str__(self) -> str:
        return "capability"


class TotpDevice(TimestampMixin, Device):
    """A TOTP authenticator (RFC 6238, SHA-1, 30 s, 6 digits) whose seed is encrypted at rest.

    Guarantees: ``last_t`` only grows, so a code (time step) is accepted at most once; the
    caller verifies under ``select_for_update`` (see services.mfa) so concurrent submissions
    of one code cannot both pass. One device per user.
    """

    encrypted_key = models.TextField(help_text="Fernet ciphertext of the hex seed.")
    step = models.PositiveSmallIntegerField(default=30)
    t0 = models.BigIntegerField(default=0)
    digits = models.PositiveSmallIntegerField(default=6)
    tolerance = models.PositiveSmallIntegerField(default=1)
    drift = models.SmallIntegerField(default=0)
    last_t = models.BigIntegerField(default=-1)

    class Meta:
        verbose_name = "TOTP device"
        constraints = [models.UniqueConstraint(fields=["user"], name="accounts_one_totp_per_user")]

    @property
    def secret_hex(self) -> str:
        return field_encryption.decrypt(self.encrypted_key)

    @secret_hex.setter
    def secret_hex(self, value: str) -> None:
        self.encrypted_key = field_encryption.encrypt(value)

    @property
    def secret_base32(self) -> str:
        """The seed as authenticator apps want it typed in."""
        return b32encode(unhexlify(self.secret_hex)).decode("ascii")

    def totp(self, *, at: float | None = None) -> TOTP:
        totp = TOTP(unhexlify(self.secret_hex), self.step, self.t0, self.digits, self.drift)
        totp.time = time.time() if at is None else at
        return totp

    def current_code(self) -> str:
        return str(self.totp().token()).zfill(self.digits)

    def config_url(self, *, issuer: str) -> str:
        """otpauth:// URL for the QR code (Key Uri Format)."""
        issuer = issuer.replace(":", "")
        label = f"{issuer}:{self.user.get_username()}"
        params = urlencode(
            {
                "secret": self.secret_base32,
                "algorithm": "SHA1",
                "digits": self.digits,
                "period": self.step,
            }
        )
        return f"otpauth://totp/{quote(label)}?{params}&issuer={quote(issuer)}"

    def verify_token(self, token: str) -> bool:
        """Check and consume a code. The caller must hold this row locked (services.mfa)."""
        token = token.strip().replace(" ", "")
        if not token.isdigit() or len(token) != self.digits:
            return False
        totp = self.totp()
        if not totp.verify(int(token), self.tolerance, self.last_t + 1):
            return False
        self.last_t = totp.t()
        self.drift = totp.drift
        self.set_last_used_timestamp(commit=False)
        self.save(update_fields=["last_t", "drift", "last_used_at"])
        return True


class BackupCodeDevice(TimestampMixin, Device):
    """The holder of a user's single-use backup codes (one per user)."""

    class Meta:
        verbose_name = "backup-code device"
        constraints = [
            models.UniqueConstraint(fields=["user"], name="accounts_one_backup_device_per_user")
        ]

    def verify_token(self, token: str) -> bool:
        """Check and consume a backup code. The caller must hold this row locked."""
        from apps.accounts.services.backup_codes import backup_code_matches

        normalized = token.strip().replace("-", "").replace(" ", "").lower()
        for code in self.codes.filter(used_at__isnull=True).order_by("id"):
            if backup_code_matches(code=normalized, encoded=code.code_hash):
                code.used_at = timezone.now()
                code.save(update_fields=["used_at"])
                self.set_last_used_timestamp(commit=True)
                return True
        return False


class BackupCode(models.Model):
    """One backup code, stored only as a password-style hash; usable once."""

    device = models.ForeignKey(BackupCodeDevice, on_delete=models.CASCADE, related_name="codes")
    code_hash = models.CharField(max_length=200)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"backup code #{self.pk} ({'used' if self.used_at else 'unused'})"


class LoginThrottle(models.Model):
    """Password attempts for one (username, client IP) pair.

    ``key`` is an HMAC of the pair, so the table never holds typed usernames (people type
    passwords into the username box). Rows are locked while an attempt is reserved, which is
    what closes django-axes' burst leak (jazzband/django-axes#592).
    """

    key = models.CharField(max_length=64, unique=True)
    attempts = models.PositiveIntegerField(default=0)
    last_attempt_at = models.DateTimeField()
    locked_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"login throttle {self.key[:8]}… ({self.attempts} attempts)"
