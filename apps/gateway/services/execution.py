"""Applying what a venue says about an order: status, fills, and the positions they move.

Shared by placement, cancels, cancel-on-halt and reconciliation, so a venue report is
interpreted one way everywhere. Idempotent: fills are keyed by the venue's fill id, so settling
the same report twice records nothing twice.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import connection
from django.utils import timezone

from apps.gateway.models import Fill, Order, OrderStatus
from apps.realtime.publish import publish
from apps.venues.adapters.base import OrderResult
from apps.venues.adapters.base import OrderStatus as VenueStatus
from config.model_sql import insert, update_fields

__all__ = ["order_apply_result", "position_add"]

_POSITION_UPSERT = """
INSERT INTO gateway_position (account_id, instrument_id, size, updated_at)
VALUES (%s, %s, %s, %s)
ON CONFLICT (account_id, instrument_id)
DO UPDATE SET size = gateway_position.size + EXCLUDED.size, updated_at = EXCLUDED.updated_at
RETURNING size
"""


def position_add(*, account_id: int, instrument_id: int, delta: Decimal) -> Decimal:
    """Add ``delta`` contracts to the position, atomically (one upsert, no lost update under
    concurrency). Returns the new size. Call inside the transaction that records the fill."""
    with connection.cursor() as cursor:
        cursor.execute(_POSITION_UPSERT, [account_id, instrument_id, delta, timezone.now()])
        return Decimal(cursor.fetchone()[0])


def _status_of(result: OrderResult) -> str:
    if result.status == VenueStatus.OPEN:
        return OrderStatus.PARTIALLY_FILLED if result.filled_quantity > 0 else OrderStatus.OPEN
    if result.status == VenueStatus.FILLED:
        return OrderStatus.FILLED
    if result.status == VenueStatus.CANCELLED:
        return OrderStatus.CANCELLED
    return OrderStatus.REJECTED


def order_apply_result(*, order: Order, result: OrderResult, fresh: bool = False) -> Order:
    """Bring ``order`` in line with the venue's ``result``: new fills are stored and moved into
    the position, then status, filled quantity and average price are saved. ``fresh`` says the
    order has no fills yet (placement), which saves a query. Runs in the caller's transaction;
    the ``positions:<account>`` topic is published after commit when a fill moved a position."""
    known: set[str] = set()
    if result.fills and not fresh:
        known = set(order.fills.values_list("venue_fill_id", flat=True))
    new = [f for f in result.fills if f.fill_id not in known]
    if new:
        for f in new:
            insert(
                Fill(
                    order=order,
                    venue_fill_id=f.fill_id,
                    price=f.price,
                    quantity=f.quantity,
                    fee=f.fee,
                    filled_at=f.timestamp,
                )
            )
        delta = sum((f.quantity for f in new), Decimal(0))
        if order.side == "sell":
            delta = -delta
        size = position_add(
            account_id=order.account_id, instrument_id=order.instrument_id, delta=delta
        )
        publish(
            f"positions:{order.account_label}",
            {"account": order.account_label, "symbol": order.symbol, "size": str(size)},
        )
    order.status = _status_of(result)
    if order.status == OrderStatus.REJECTED:
        order.reject_code = "venue_rejected"
        order.venue_message = (result.reject_code or "rejected by the venue")[:500]
    order.venue_order_id = result.venue_order_id or order.venue_order_id
    order.filled_quantity = result.filled_quantity
    order.average_price = result.average_price
    order.updated_at = timezone.now()
    update_fields(
        order,
        [
            "status",
            "reject_code",
            "venue_message",
            "venue_order_id",
            "filled_quantity",
            "average_price",
            "updated_at",
        ],
    )
    return order
