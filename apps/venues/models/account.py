"""Trading accounts (with encrypted venue credentials) and the positions last reported for them."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.venues.models.instrument import Instrument
from apps.venues.models.venue import Venue


class TradingAccountQuerySet(models.QuerySet["TradingAccount"]):
    def visible_to(self, user: Any) -> TradingAccountQuerySet:
        """Accounts a person may see: all for ``view_all_positions``, their own for traders,
        none otherwise. The one place row-level access to accounts is decided."""
        if user is None or not getattr(user, "is_authenticated", False):
            return self.none()
        if user.has_perm("accounts.view_all_positions"):
            return self
        if user.has_perm("accounts.view_own_positions"):
            return self.filter(traders=user)
        return self.none()


class TradingAccount(models.Model):
    """An account (or sub-account) at a venue that Breakwater trades for.

    Guarantees: credentials are stored only as a Fernet ciphertext under the field-encryption
    keys (``credentials_ciphertext``); no model method, ``__str__``, admin page or API returns
    them in clear (decryption happens in :mod:`apps.venues.services.credentials` only, for the
    adapter). ``(venue, external_id)`` is unique: one row per account at the venue.
    """

    venue = models.ForeignKey(Venue, on_delete=models.PROTECT, related_name="accounts")
    label = models.CharField(max_length=64, unique=True, help_text="Display name, e.g. SIM-A.")
    external_id = models.CharField(
        max_length=128, help_text="The venue's id for the account or sub-account."
    )
    active = models.BooleanField(default=True)
    traders = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="trading_accounts", blank=True
    )
    credentials_ciphertext = models.TextField(blank=True, default="", editable=False)
    credentials_updated_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = TradingAccountQuerySet.as_manager()

    class Meta:
        ordering = ["label"]
        constraints = [
            models.UniqueConstraint(fields=["venue", "external_id"], name="account_unique_at_venue")
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def has_credentials(self) -> bool:
        return bool(self.credentials_ciphertext)


class VenuePosition(models.Model):
    """A position as the venue last reported it (the position poller keeps this in sync).

    Guarantees: one row per (account, instrument); rows the venue no longer reports are deleted
    by the poll that notices, so the table mirrors the venue as of ``reported_at``. Sizes are
    signed contracts (negative = short); ``average_price`` is in the instrument's quote currency
    (coin for inverse options).
    """

    account = models.ForeignKey(TradingAccount, on_delete=models.CASCADE, related_name="positions")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="positions")
    size = models.DecimalField(max_digits=28, decimal_places=10)
    average_price = models.DecimalField(max_digits=28, decimal_places=12)
    reported_at = models.DateTimeField()

    class Meta:
        ordering = ["account", "instrument__symbol"]
        constraints = [
            models.UniqueConstraint(fields=["account", "instrument"], name="position_unique")
        ]

    def __str__(self) -> str:
        return f"{self.account} {self.instrument} {self.size}"
