"""API keys for trading bots: stored as a public id plus a peppered digest, never in clear."""

from __future__ import annotations

import ipaddress
from datetime import datetime

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.apikeys.scopes import Scope


def validate_network(value: str) -> None:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValidationError(f"{value!r} is not an IPv4/IPv6 address or CIDR network") from None


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def restrict(self, user: settings.AUTH_USER_MODEL) -> ApiKeyQuerySet:  # type: ignore[name-defined]
        """Keys a person may see: admins see all, everyone else their own."""
        if user.has_perm("accounts.manage_api_keys"):
            return self
        return self.filter(owner=user)

    def usable(self, now: datetime | None = None) -> ApiKeyQuerySet:
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True, expires_at__gt=now)


class ApiKey(models.Model):
    """A scoped, expiring, revocable credential for one bot.

    Guarantees: the plaintext secret is never stored (only an HMAC digest under a named
    pepper); ``key_id`` is public and unique; a revoked key stays revoked (``revoked_at`` is
    never cleared by any service); rotation keeps the previous digest valid only until
    ``previous_valid_until``.
    """

    key_id = models.CharField(max_length=16, unique=True, editable=False)
    name = models.CharField(max_length=100)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_keys"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    secret_digest = models.CharField(max_length=64, editable=False)
    pepper_id = models.CharField(max_length=32, editable=False)
    # Rotation grace: the previous secret keeps working until previous_valid_until.
    previous_secret_digest = models.CharField(max_length=64, blank=True, default="", editable=False)
    previous_pepper_id = models.CharField(max_length=32, blank=True, default="", editable=False)
    previous_valid_until = models.DateTimeField(null=True, blank=True, editable=False)
    rotated_at = models.DateTimeField(null=True, blank=True)

    # Where the key may trade and read positions/orders. None listed means none (fail closed).
    trading_accounts = models.ManyToManyField(
        "venues.TradingAccount", related_name="api_keys", blank=True
    )
    scopes = ArrayField(models.CharField(max_length=32, choices=Scope.choices), default=list)
    allowed_networks = ArrayField(
        models.CharField(max_length=64, validators=[validate_network]), default=list, blank=True
    )
    expires_at = models.DateTimeField()
    rate_per_second = models.FloatField(default=10.0)
    burst = models.PositiveIntegerField(default=20)

    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    revoke_reason = models.CharField(max_length=500, blank=True, default="")

    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(rate_per_second__gt=0), name="apikey_rate_positive"),
            models.CheckConstraint(condition=Q(burst__gte=1), name="apikey_burst_positive"),
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("created_at")),
                name="apikey_expiry_after_creation",
            ),
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True) | ~Q(revoke_reason=""),
                name="apikey_revocation_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key_id} ({self.name})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at <= (now or timezone.now())

    @property
    def status(self) -> str:
        if self.is_revoked:
            return "revoked"
        if self.is_expired():
            return "expired"
        return "active"

    @property
    def trades_from_anywhere(self) -> bool:
        """A key that can place orders from any address deserves a visible warning."""
        return Scope.ORDERS_WRITE in self.scopes and not self.allowed_networks

    def expires_soon(self, days: int = 7) -> bool:
        return not self.is_expired() and (self.expires_at - timezone.now()).days < days
