"""Placing and cancelling orders: the trading path.

``order_submit`` runs the pre-trade pipeline, then inserts the order. The INSERT is the
idempotency rule: ``(api_key, client_order_id)`` is unique, so of N concurrent submissions of
one client order id exactly one inserts; the others wait on the unique index until the winner's
transaction commits, fail, and return the winner's (final) order as a replay. Only the winner
calls the venue, inside the transaction that holds its row, so a replay never sees a half-routed
order and never trades.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from apps.apikeys.models import ApiKey
from apps.gateway.checks import CheckContext, Reject, check_breaker, pipeline_run
from apps.gateway.models import Order, OrderStatus
from apps.gateway.services.counters import reject_count_after_commit
from apps.gateway.services.execution import order_apply_result
from apps.venues.adapters.base import (
    OrderRequest,
    Side,
    VenueError,
    VenueRejected,
    VenueUnavailable,
)
from apps.venues.adapters.registry import adapter_for
from apps.venues.models import Instrument, TradingAccount
from apps.venues.services.credentials import account_ref_for

__all__ = [
    "OrderInput",
    "SubmitOutcome",
    "order_cancel",
    "order_submit",
]

logger = logging.getLogger(__name__)

_UNIQUE_CLIENT_ID = "order_unique_client_order_id"


@dataclass(frozen=True, slots=True)
class OrderInput:
    """A validated order request (the API serializer builds it)."""

    account: str
    instrument: str
    side: str
    order_type: str
    quantity: Decimal
    limit_price: Decimal | None
    time_in_force: str
    reduce_only: bool
    client_order_id: str


@dataclass(frozen=True, slots=True)
class SubmitOutcome:
    order: Order
    replayed: bool
    reject: Reject | None  # set when this submission was rejected (not on replays)


def _account_for(api_key: ApiKey, label: str) -> tuple[TradingAccount | None, bool]:
    through = ApiKey.trading_accounts.through
    account = (
        TradingAccount.objects.select_related("venue", "gateway_limits")
        .annotate(
            key_allowed=Exists(
                through.objects.filter(apikey_id=api_key.pk, tradingaccount_id=OuterRef("pk"))
            )
        )
        .filter(label=label)
        .first()
    )
    return account, bool(account is not None and account.key_allowed)


def order_submit(*, api_key: ApiKey, data: OrderInput, arrived_at: datetime) -> SubmitOutcome:
    """Check, store and (if accepted) route one order.

    Guarantees: an order is sent to a venue only if every check of the pipeline passed and
    this request's INSERT won the (key, client order id); a retry returns the original order
    (``replayed=True``) without any venue call; ``arrived_at`` (taken by the caller before any
    check) and ``decided_at`` are stored. Raises ``GatewayUnavailable`` or ``DatabaseError`` when
    a dependency cannot be consulted: nothing is then stored or sent.
    """
    account, allowed = _account_for(api_key, data.account)
    instrument = None
    if account is not None and allowed:
        instrument = (
            Instrument.objects.filter(venue_id=account.venue_id, symbol=data.instrument)
            .only(
                "id",
                "symbol",
                "underlying",
                "expiry",
                "active",
                "contract_size",
                "quote_currency",
                "kind",
            )
            .first()
        )
    ctx = CheckContext(
        api_key=api_key,
        account=account,
        account_allowed=allowed,
        instrument=instrument,
        side=data.side,
        order_type=data.order_type,
        quantity=data.quantity,
        limit_price=data.limit_price,
        reduce_only=data.reduce_only,
    )
    reject = pipeline_run(ctx)
    with transaction.atomic():
        if reject is None and ctx.breaker.reduce_only:
            # Two concurrent exits could each see the other's sell missing from the book and
            # together flip the position. Exits under reduce-only are serialised per account
            # and instrument (the lock lasts until this order is routed and committed) and
            # decided again on the book as committed by the previous one.
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                    [f"gateway:reduce_only:{account.pk}:{instrument.pk}"],
                )
            ctx.__dict__.pop("book", None)
            reject = check_breaker(ctx)
        decided_at = timezone.now()
        order = _order_row(api_key, data, account if allowed else None, instrument, reject,
                           arrived_at, decided_at)  # fmt: skip
        try:
            with transaction.atomic():
                order.save(force_insert=True)
        except IntegrityError as exc:
            if _UNIQUE_CLIENT_ID not in str(exc):
                raise
            original = Order.objects.get(api_key=api_key, client_order_id=data.client_order_id)
            return SubmitOutcome(original, True, None)
        if reject is not None:
            reject_count_after_commit(reject.code)
            return SubmitOutcome(order, False, reject)
        _route(order=order, account=account)
        if order.status == OrderStatus.REJECTED:
            reject_count_after_commit(order.reject_code)
    return SubmitOutcome(
        order,
        False,
        Reject(order.reject_code, order.venue_message) if order.reject_code else None,
    )


def _order_row(
    api_key: ApiKey,
    data: OrderInput,
    account: TradingAccount | None,
    instrument: Instrument | None,
    reject: Reject | None,
    arrived_at: datetime,
    decided_at: datetime,
) -> Order:
    return Order(
        client_order_id=data.client_order_id,
        api_key=api_key,
        account=account,
        account_label=data.account,
        instrument=instrument,
        symbol=data.instrument,
        side=data.side,
        order_type=data.order_type,
        quantity=data.quantity,
        limit_price=data.limit_price,
        time_in_force=data.time_in_force,
        reduce_only=data.reduce_only,
        status=OrderStatus.REJECTED if reject else OrderStatus.RECEIVED,
        reject_code=reject.code if reject else "",
        reject_detail=reject.detail[:500] if reject else "",
        arrived_at=arrived_at,
        decided_at=decided_at,
        created_at=decided_at,
        updated_at=decided_at,
    )


def _route(*, order: Order, account: Any) -> None:
    """Send the accepted ``order`` to the account's venue and record the outcome."""
    request = OrderRequest(
        symbol=order.symbol,
        side=Side(order.side),
        quantity=order.quantity,
        order_type=order.order_type,
        limit_price=order.limit_price,
        time_in_force=order.time_in_force,
        # Our order id, not the bot's: unique per account at the venue, and lets
        # reconciliation find an order whose placement timed out.
        client_order_id=order.id.hex,
        reduce_only=order.reduce_only,
    )
    try:
        adapter = adapter_for(account.venue)
        # A savepoint: a venue that fails half-way (the simulated venue writes to PostgreSQL)
        # leaves our order row intact, so the outcome below is always recorded.
        with transaction.atomic():
            result = adapter.place_order(account_ref_for(account), request)
    except VenueRejected as exc:
        _finish(order, OrderStatus.REJECTED, f"{exc.code}: {exc}", reject_code="venue_rejected")
    except VenueUnavailable as exc:
        # The venue may or may not have the order: unknown until reconciliation settles it.
        _finish(order, OrderStatus.UNKNOWN, str(exc))
    except VenueError as exc:
        _finish(order, OrderStatus.VENUE_ERROR, str(exc))
    except Exception as exc:
        logger.exception("placing order %s failed unexpectedly", order.pk)
        _finish(order, OrderStatus.UNKNOWN, f"{type(exc).__name__}")
    else:
        order_apply_result(order=order, result=result, fresh=True)


def _finish(order: Order, status: str, message: str, *, reject_code: str = "") -> None:
    order.status = status
    order.venue_message = message[:500]
    order.reject_code = reject_code
    order.updated_at = timezone.now()
    order.save(update_fields=["status", "venue_message", "reject_code", "updated_at"])


class OrderNotCancellable(Exception):
    """The order's state at the venue is unknown (reconciliation will settle it first)."""


def order_cancel(*, order: Order) -> Order:
    """Cancel one order at its venue and record the venue's answer (fills included). A finished
    order is returned unchanged without a venue call; an ``unknown`` one raises
    OrderNotCancellable. Raises VenueError when the venue cannot be reached."""
    if not order.is_working:
        return order
    if order.status in (OrderStatus.UNKNOWN, OrderStatus.RECEIVED) or not order.venue_order_id:
        raise OrderNotCancellable(order.pk)
    account = order.account
    adapter = adapter_for(account.venue)
    with transaction.atomic():
        order = (
            Order.objects.select_for_update(of=("self",))
            .select_related("account__venue")
            .get(pk=order.pk)
        )
        if not order.is_working:
            return order
        try:
            with transaction.atomic():
                result = adapter.cancel_order(account_ref_for(account), order.venue_order_id)
        except VenueRejected as exc:
            if exc.code != "order_not_found":
                raise
            _finish(order, OrderStatus.CANCELLED, "not found at the venue when cancelling")
            return order
        return order_apply_result(order=order, result=result)
