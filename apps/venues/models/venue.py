"""Venues (where Breakwater trades and reads market data) and their polling health."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.postgres.fields import ArrayField
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

VENUE_NAME_VALIDATOR = RegexValidator(
    r"^[A-Z0-9][A-Z0-9_-]{0,31}$", "Upper-case letters, digits, '-' and '_' (e.g. SIM, DERIBIT)."
)
UNDERLYING_VALIDATOR = RegexValidator(r"^[A-Z0-9]{2,16}$", "An upper-case code such as BTC.")


class AdapterKind(models.TextChoices):
    """How Breakwater talks to a venue (apps.venues.adapters.registry maps each to a class)."""

    SIMULATED = "simulated", "Simulated venue (built in, no network)"
    DERIBIT = "deribit", "Deribit (ccxt)"


class Venue(models.Model):
    """A venue and how often it is polled.

    Guarantees: intervals are positive (database checks), ``name`` is a stable upper-case code
    used in Redis keys, topics and the API (``?venue=SIM``). Polling state lives in
    :class:`VenueHealth`, so editing a venue in the admin never overwrites what a worker wrote.
    ``config`` holds adapter settings that are not secret (the simulated venue's seed, a ccxt
    venue's ``testnet`` flag); secrets belong to :class:`TradingAccount` credentials.
    """

    name = models.CharField(max_length=32, unique=True, validators=[VENUE_NAME_VALIDATOR])
    description = models.CharField(max_length=200, blank=True, default="")
    adapter = models.CharField(max_length=32, choices=AdapterKind.choices)
    enabled = models.BooleanField(default=True, help_text="Disabled venues are not polled.")
    underlyings = ArrayField(
        models.CharField(max_length=16, validators=[UNDERLYING_VALIDATOR]),
        default=list,
        help_text="Underlyings whose option chains are polled, e.g. BTC, ETH.",
    )
    quote_interval_seconds = models.FloatField(default=2.0, help_text="Chain poll interval.")
    position_interval_seconds = models.FloatField(default=5.0, help_text="Position poll interval.")
    stale_after_seconds = models.FloatField(
        default=10.0, help_text="Market data older than this is marked stale."
    )
    max_quote_age_seconds = models.FloatField(
        default=30.0, help_text="Quotes with an older venue timestamp are dropped as stale."
    )
    snapshot_interval_seconds = models.PositiveIntegerField(
        default=60, help_text="One surface snapshot per underlying per this many seconds."
    )
    priority = models.SmallIntegerField(
        default=100,
        help_text="Lower wins: the default market-data source for an underlying quoted by "
        "several venues.",
    )
    config = models.JSONField(default=dict, blank=True, help_text="Adapter settings (no secrets).")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["priority", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quote_interval_seconds__gte=0.2)
                & Q(position_interval_seconds__gte=0.2)
                & Q(stale_after_seconds__gt=0)
                & Q(max_quote_age_seconds__gt=0),
                name="venue_intervals_positive",
            ),
            models.CheckConstraint(
                condition=Q(snapshot_interval_seconds__gte=1), name="venue_snapshot_interval"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def stale_after(self) -> timedelta:
        return timedelta(seconds=self.stale_after_seconds)


class VenueHealth(models.Model):
    """What the pollers last saw of a venue; written only by workers (one row per venue).

    Guarantees: ``consecutive_errors`` is 0 exactly when the last chain poll succeeded (and
    ``positions_consecutive_errors`` likewise for positions); ``next_*_at`` is when the
    dispatcher may enqueue the next poll (pushed back exponentially after errors);
    ``last_error`` is secret-free text (credentials are redacted before it is stored).
    """

    venue = models.OneToOneField(
        Venue, on_delete=models.CASCADE, primary_key=True, related_name="health"
    )
    last_chain_ok_at = models.DateTimeField(null=True, blank=True)
    last_positions_ok_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    consecutive_errors = models.PositiveIntegerField(
        default=0, help_text="Chain polls failed in a row (0 after a success)."
    )
    positions_consecutive_errors = models.PositiveIntegerField(default=0)
    error_count = models.PositiveBigIntegerField(default=0, help_text="Adapter errors, all time.")
    last_error = models.TextField(blank=True, default="")
    last_error_job = models.CharField(max_length=16, blank=True, default="")
    last_error_at = models.DateTimeField(null=True, blank=True)
    next_chain_at = models.DateTimeField(default=timezone.now)
    next_positions_at = models.DateTimeField(default=timezone.now)
    market_data_stale = models.BooleanField(default=True)
    stale_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "venue health"

    def __str__(self) -> str:
        return f"health of {self.venue_id}"

    def is_stale(self, stale_after: timedelta, now: datetime | None = None) -> bool:
        if self.last_chain_ok_at is None:
            return True
        return (now or timezone.now()) - self.last_chain_ok_at > stale_after
