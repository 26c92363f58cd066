"""Instruments listed by a venue, refreshed from the adapter's ``list_instruments``."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.venues.models.venue import Venue


class InstrumentKind(models.TextChoices):
    OPTION = "option", "Option"
    FUTURE = "future", "Future"
    PERPETUAL = "perpetual", "Perpetual"
    SPOT = "spot", "Spot"


class OptionType(models.TextChoices):
    CALL = "call", "Call"
    PUT = "put", "Put"


class Instrument(models.Model):
    """One tradable instrument at one venue.

    Guarantees: ``(venue, symbol)`` is unique; options always have strike, expiry and option
    type, other kinds never have a strike or option type (database checks). Instruments are
    never deleted by the sync (orders and positions refer to them): delisted or expired ones
    become ``active=False``. ``quote_currency`` is what prices are quoted in (the coin for
    Deribit's inverse options), ``contract_size`` the underlying units per contract.
    """

    # No index of its own: the unique (venue, symbol) index serves venue lookups, and with a
    # second one a planner working from stale statistics (a venue's instruments just synced)
    # scanned the venue's instruments for one symbol on every order.
    venue = models.ForeignKey(
        Venue, on_delete=models.PROTECT, related_name="instruments", db_index=False
    )
    symbol = models.CharField(max_length=64)
    underlying = models.CharField(max_length=16)
    kind = models.CharField(max_length=16, choices=InstrumentKind.choices)
    strike = models.DecimalField(max_digits=24, decimal_places=8, null=True, blank=True)
    expiry = models.DateTimeField(null=True, blank=True)
    option_type = models.CharField(max_length=4, choices=OptionType.choices, blank=True, default="")
    contract_size = models.DecimalField(max_digits=24, decimal_places=8, default=1)
    quote_currency = models.CharField(max_length=16)
    settlement_currency = models.CharField(max_length=16, blank=True, default="")
    tick_size = models.DecimalField(max_digits=24, decimal_places=10, null=True, blank=True)
    min_trade_amount = models.DecimalField(max_digits=24, decimal_places=10, null=True, blank=True)
    active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["venue", "underlying", "expiry", "strike", "option_type"]
        constraints = [
            models.UniqueConstraint(fields=["venue", "symbol"], name="instrument_unique_symbol"),
            models.CheckConstraint(
                condition=(
                    Q(kind="option")
                    & Q(strike__gt=0)
                    & Q(expiry__isnull=False)
                    & Q(option_type__in=["call", "put"])
                )
                | (~Q(kind="option") & Q(strike__isnull=True) & Q(option_type="")),
                name="instrument_option_fields",
            ),
        ]
        indexes = [models.Index(fields=["underlying", "active"], name="instrument_und_active")]

    def __str__(self) -> str:
        return f"{self.venue_id}:{self.symbol}"
