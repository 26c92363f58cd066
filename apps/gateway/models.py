"""Orders, their fills, the gateway's positions, per-account limits and dead man's switches.

Idempotency is a database rule: ``(api_key, client_order_id)`` is unique, so two concurrent
submissions of one client order id can never both insert, and only the request whose INSERT
won ever calls a venue (apps.gateway.services.orders).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone


class OrderSide(models.TextChoices):
    BUY = "buy", "Buy"
    SELL = "sell", "Sell"


class OrderType(models.TextChoices):
    LIMIT = "limit", "Limit"
    MARKET = "market", "Market"


class TimeInForce(models.TextChoices):
    GTC = "gtc", "Good till cancelled"
    IOC = "ioc", "Immediate or cancel"


class OrderStatus(models.TextChoices):
    # Internal pre-routing state: the row exists (idempotency won) but the venue has not
    # answered yet. Never visible outside the placing transaction except after a crash.
    RECEIVED = "received", "Received"
    REJECTED = "rejected", "Rejected"
    OPEN = "open", "Open"
    PARTIALLY_FILLED = "partially_filled", "Partially filled"
    FILLED = "filled", "Filled"
    CANCELLED = "cancelled", "Cancelled"
    VENUE_ERROR = "venue_error", "Venue error"
    UNKNOWN = "unknown", "Unknown (venue did not answer)"


# Orders that may still trade at the venue: they count against open-order limits and, in the
# worst case, in the reduce-only rule; cancel-on-halt must leave none of them in its scope.
WORKING_STATUSES: tuple[str, ...] = (
    OrderStatus.RECEIVED,
    OrderStatus.OPEN,
    OrderStatus.PARTIALLY_FILLED,
    OrderStatus.UNKNOWN,
)
FINAL_STATUSES: tuple[str, ...] = (
    OrderStatus.REJECTED,
    OrderStatus.FILLED,
    OrderStatus.CANCELLED,
    OrderStatus.VENUE_ERROR,
)


class OrderQuerySet(models.QuerySet["Order"]):
    def restrict(self, api_key: Any) -> OrderQuerySet:
        """The only way API code reads orders: a key sees the orders of its trading accounts
        (none listed = none), plus its own rejects for accounts it may not use."""
        through = type(api_key).trading_accounts.through
        allowed = through.objects.filter(
            apikey_id=api_key.pk, tradingaccount_id=OuterRef("account_id")
        )
        return self.filter(
            Q(Exists(allowed)) | Q(api_key_id=api_key.pk, status=OrderStatus.REJECTED)
        )

    def working(self) -> OrderQuerySet:
        return self.filter(status__in=WORKING_STATUSES)


class Order(models.Model):
    """One bot order, from arrival to its final state.

    Guarantees: unique per (api key, client order id) (a retry returns this row and never
    trades twice); ``arrived_at`` is taken before any check and ``decided_at`` when the
    pipeline accepted or rejected it (microseconds), so the order of a breaker trip and an
    acceptance can be proven; a rejected order keeps its ``reject_code``; ``filled_quantity``
    is the sum of its ``Fill`` rows.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client_order_id = models.CharField(max_length=64)
    # The FK indexes of api_key and account are left out: the unique (api_key, client order
    # id) and (account, status) indexes lead with them, and every index is written twice per
    # order (the INSERT and the status UPDATE, which changes an indexed column).
    api_key = models.ForeignKey(
        "apikeys.ApiKey", on_delete=models.PROTECT, related_name="orders", db_index=False
    )
    # Null only for rejects naming an account or instrument that does not exist; the raw
    # text is kept in account_label / symbol either way.
    account = models.ForeignKey(
        "venues.TradingAccount",
        on_delete=models.PROTECT,
        related_name="orders",
        null=True,
        blank=True,
        db_index=False,
    )
    account_label = models.CharField(max_length=64)
    instrument = models.ForeignKey(
        "venues.Instrument", on_delete=models.PROTECT, related_name="orders", null=True, blank=True
    )
    symbol = models.CharField(max_length=64)
    side = models.CharField(max_length=4, choices=OrderSide.choices)
    order_type = models.CharField(max_length=8, choices=OrderType.choices)
    quantity = models.DecimalField(max_digits=24, decimal_places=8)
    limit_price = models.DecimalField(max_digits=24, decimal_places=8, null=True, blank=True)
    time_in_force = models.CharField(max_length=4, choices=TimeInForce.choices)
    reduce_only = models.BooleanField(default=False)

    status = models.CharField(max_length=20, choices=OrderStatus.choices)
    reject_code = models.CharField(max_length=40, blank=True, default="")
    reject_detail = models.CharField(max_length=500, blank=True, default="")
    venue_order_id = models.CharField(max_length=100, blank=True, default="")
    venue_message = models.CharField(max_length=500, blank=True, default="")
    filled_quantity = models.DecimalField(max_digits=24, decimal_places=8, default=Decimal(0))
    average_price = models.DecimalField(max_digits=24, decimal_places=8, null=True, blank=True)

    arrived_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = OrderQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["api_key", "client_order_id"], name="order_unique_client_order_id"
            ),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="order_quantity_positive"),
            models.CheckConstraint(
                condition=~Q(status="rejected") | ~Q(reject_code=""),
                name="order_rejected_has_code",
            ),
        ]
        indexes = [
            models.Index(fields=["account", "status"], name="order_account_status"),
            # The working orders of an account (every order's book read, cancel-on-halt):
            # only the few working rows, however long the history (the book statement names
            # the same statuses as literals, so its generic plan can use it).
            models.Index(
                fields=["account"],
                condition=Q(status__in=WORKING_STATUSES),
                name="order_working_by_account",
            ),
            models.Index(fields=["arrived_at"], name="order_arrived_at"),
            # Reject counts by code since a time (the dashboard); accepted orders stay out.
            models.Index(
                fields=["arrived_at", "reject_code"],
                condition=Q(status=OrderStatus.REJECTED),
                name="order_rejects_by_time",
            ),
        ]
        ordering = ["-arrived_at"]

    def __str__(self) -> str:
        return f"{self.side} {self.quantity} {self.symbol} ({self.status})"

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled_quantity

    @property
    def is_working(self) -> bool:
        return self.status in WORKING_STATUSES


class Fill(models.Model):
    """One execution of an order at its venue. Unique per (order, venue fill id): settling the
    same venue report twice never double-counts a fill or its position change."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="fills")
    venue_fill_id = models.CharField(max_length=100)
    price = models.DecimalField(max_digits=24, decimal_places=8)
    quantity = models.DecimalField(max_digits=24, decimal_places=8)
    fee = models.DecimalField(max_digits=24, decimal_places=8, default=Decimal(0))
    filled_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order", "venue_fill_id"], name="fill_unique_venue_id")
        ]

    def __str__(self) -> str:
        return f"{self.quantity} @ {self.price}"


class Position(models.Model):
    """The signed position (contracts) of an account in an instrument, from the gateway's own
    fills; updated in the transaction that records each fill. Pre-trade checks (position limit,
    reduce-only) read it; the venue's reported view is venues.VenuePosition."""

    account = models.ForeignKey(
        "venues.TradingAccount", on_delete=models.PROTECT, related_name="gateway_positions"
    )
    instrument = models.ForeignKey(
        "venues.Instrument", on_delete=models.PROTECT, related_name="gateway_positions"
    )
    size = models.DecimalField(max_digits=24, decimal_places=8, default=Decimal(0))
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "instrument"], name="gateway_position_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.account_id}/{self.instrument_id}: {self.size}"


class GatewayLimits(models.Model):
    """Pre-trade limits of one trading account. An account without a row uses the defaults
    (``apps.gateway.checks.DEFAULT_LIMITS``); a null field also means the default."""

    account = models.OneToOneField(
        "venues.TradingAccount", on_delete=models.CASCADE, related_name="gateway_limits"
    )
    max_order_quantity = models.DecimalField(max_digits=24, decimal_places=8, null=True, blank=True)
    max_order_notional = models.DecimalField(
        max_digits=24,
        decimal_places=8,
        null=True,
        blank=True,
        help_text="In the instrument's settlement currency times the index (USD).",
    )
    max_position = models.DecimalField(
        max_digits=24,
        decimal_places=8,
        null=True,
        blank=True,
        help_text="Largest absolute position per instrument after the order fills (contracts).",
    )
    max_open_orders = models.PositiveIntegerField(null=True, blank=True)
    max_orders_per_second = models.FloatField(null=True, blank=True)
    order_burst = models.PositiveIntegerField(null=True, blank=True)
    price_collar = models.FloatField(
        null=True,
        blank=True,
        help_text="Largest relative distance of a limit price from the mark (0.1 = 10%).",
    )
    svi_collar_vol_points = models.FloatField(
        null=True,
        blank=True,
        help_text=(
            "Options: largest distance, in vol points, of a limit price's implied vol from our "
            "own SVI fit at its strike (empty = off)."
        ),
    )

    class Meta:
        verbose_name_plural = "gateway limits"

    def __str__(self) -> str:
        return f"limits of {self.account_id}"


class DeadMansSwitch(models.Model):
    """Cancel-on-disconnect for one API key: if no heartbeat arrives for ``interval_seconds``
    the key's breaker is halted (which cancels its working orders). ``fired_for`` remembers the
    heartbeat a firing answered, so one silence fires once."""

    api_key = models.OneToOneField(
        "apikeys.ApiKey", on_delete=models.CASCADE, related_name="dead_mans_switch"
    )
    interval_seconds = models.PositiveIntegerField()
    last_heartbeat_at = models.DateTimeField()
    fired_for = models.DateTimeField(null=True, blank=True)
    fired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(interval_seconds__gte=1), name="dms_interval_positive"
            )
        ]

    def __str__(self) -> str:
        return f"dead man's switch of key {self.api_key_id} ({self.interval_seconds} s)"

    @property
    def deadline(self):
        from datetime import timedelta

        return self.last_heartbeat_at + timedelta(seconds=self.interval_seconds)
