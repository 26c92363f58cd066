"""State of the built-in simulated venue: its market, order book of working orders, positions.

These tables are the *venue's* side of the world (what an exchange would keep); Breakwater's
own view of positions is :class:`apps.venues.models.VenuePosition`, filled by polling. Keeping
the simulation in PostgreSQL makes it survive restarts and be shared by every worker process;
each market row is locked (``SELECT ... FOR UPDATE``) while it steps or matches orders.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.venues.models.venue import Venue

PRICE = {"max_digits": 28, "decimal_places": 12}
QTY = {"max_digits": 28, "decimal_places": 10}


class SimMarket(models.Model):
    """One simulated underlying: spot, smile state, listed expiries/strikes, step counter.

    Guarantees: ``step`` counts simulation steps; step ``n`` draws its random numbers from
    ``SeedSequence([seed, underlying id, n])``, so a seed and a sequence of step lengths always
    reproduce the same path. ``state`` and ``listing`` are the JSON forms of
    :class:`apps.venues.adapters.sim_engine.MarketState` and its listing.
    """

    venue = models.ForeignKey(Venue, on_delete=models.CASCADE, related_name="sim_markets")
    underlying = models.CharField(max_length=16)
    state = models.JSONField()
    listing = models.JSONField(default=dict)
    step = models.PositiveBigIntegerField(default=0)
    stepped_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["venue", "underlying"], name="sim_market_unique")
        ]

    def __str__(self) -> str:
        return f"{self.venue_id}:{self.underlying} step {self.step}"


class SimOrder(models.Model):
    """An order at the simulated venue (working until filled or cancelled).

    Guarantees: a non-empty ``client_order_id`` is unique per account, so a retried placement
    returns the original order instead of trading twice; ``filled_quantity <= quantity``.
    """

    class Status(models.TextChoices):
        OPEN = "open"
        FILLED = "filled"
        CANCELLED = "cancelled"
        REJECTED = "rejected"

    # Indexes are few on purpose: every placement writes each of them (the venue FK is led by
    # the working-orders index's venue, a unique constraint instead of unique=True spares the
    # LIKE-pattern index Django adds for unique text columns).
    venue = models.ForeignKey(
        Venue, on_delete=models.CASCADE, related_name="sim_orders", db_index=False
    )
    account_ref = models.CharField(max_length=128)
    venue_order_id = models.CharField(max_length=40)
    client_order_id = models.CharField(max_length=64, blank=True, default="")
    symbol = models.CharField(max_length=64)
    underlying = models.CharField(max_length=16)
    side = models.CharField(max_length=4)
    order_type = models.CharField(max_length=8)
    time_in_force = models.CharField(max_length=4)
    quantity = models.DecimalField(**QTY)
    limit_price = models.DecimalField(**PRICE, null=True, blank=True)
    reduce_only = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices)
    filled_quantity = models.DecimalField(**QTY, default=0)
    average_price = models.DecimalField(**PRICE, null=True, blank=True)
    reject_reason = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["venue", "account_ref", "client_order_id"],
                condition=~Q(client_order_id=""),
                name="sim_order_client_id_unique",
            ),
            models.UniqueConstraint(fields=["venue_order_id"], name="sim_order_venue_order_id"),
            models.CheckConstraint(
                condition=Q(filled_quantity__lte=models.F("quantity")) & Q(quantity__gt=0),
                name="sim_order_fill_bounded",
            ),
        ]
        indexes = [
            # Only resting orders (the ones a step matches): ioc and market orders are written
            # once, already finished, and never enter it.
            models.Index(
                fields=["venue", "underlying"],
                condition=Q(status="open"),
                name="sim_order_working",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.venue_order_id} {self.side} {self.quantity} {self.symbol} {self.status}"


class SimFill(models.Model):
    """One execution of a simulated order against the venue's quotes."""

    order = models.ForeignKey(SimOrder, on_delete=models.CASCADE, related_name="fills")
    fill_id = models.CharField(max_length=40, unique=True)
    quantity = models.DecimalField(**QTY)
    price = models.DecimalField(**PRICE)
    fee = models.DecimalField(**PRICE, default=0)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.fill_id} {self.quantity}@{self.price}"


class SimPosition(models.Model):
    """The simulated venue's position of one account in one instrument (signed contracts)."""

    venue = models.ForeignKey(Venue, on_delete=models.CASCADE, related_name="sim_positions")
    account_ref = models.CharField(max_length=128)
    symbol = models.CharField(max_length=64)
    underlying = models.CharField(max_length=16)
    size = models.DecimalField(**QTY)
    average_price = models.DecimalField(**PRICE)
    realized_pnl = models.DecimalField(**PRICE, default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["venue", "account_ref", "symbol"], name="sim_position_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.account_ref} {self.symbol} {self.size}"
