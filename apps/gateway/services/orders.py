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
from functools import cache
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from apps.apikeys.models import ApiKey
from apps.gateway.checks import (
    BOOK_SQL_LATERAL,
    CheckContext,
    GatewayUnavailable,
    Reject,
    check_breaker,
    pipeline_run,
)
from apps.gateway.models import GatewayLimits, Order, OrderStatus
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
from apps.venues.models import Instrument, TradingAccount, Venue
from apps.venues.services.credentials import account_ref_for
from config.model_sql import columns, cursor, insert, update_fields

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


@dataclass(frozen=True, slots=True)
class _Loaded:
    account: TradingAccount | None  # with its venue and limits cached, as select_related would
    allowed: bool
    instrument: Instrument | None  # None unless the key may trade the account
    book: dict[str, Any] | None  # as CheckContext.book, when account and instrument exist


@cache
def _load_sql() -> str:
    a, v = columns(TradingAccount, "a"), columns(Venue, "v")
    lim, i = columns(GatewayLimits, "l"), columns(Instrument, "i")
    through = ApiKey.trading_accounts.through._meta
    tq = connection.ops.quote_name
    return f"""
SELECT {a.sql}, {v.sql}, {lim.sql}, {i.sql},
    EXISTS (SELECT 1 FROM {tq(through.db_table)} t
            WHERE t.{tq(through.get_field("apikey").column)} = %(key)s
              AND t.{tq(through.get_field("tradingaccount").column)} = a.id),
    b.open_orders, b.working_buy, b.working_sell, b.position
FROM {tq(TradingAccount._meta.db_table)} a
JOIN {tq(Venue._meta.db_table)} v ON v.id = a.venue_id
LEFT JOIN {tq(GatewayLimits._meta.db_table)} l ON l.account_id = a.id
LEFT JOIN {tq(Instrument._meta.db_table)} i ON i.venue_id = a.venue_id AND i.symbol = %(symbol)s
LEFT JOIN LATERAL ({BOOK_SQL_LATERAL}) b ON i.id IS NOT NULL
WHERE a.label = %(label)s
"""  # noqa: S608  # nosec B608  # identifiers from model metadata, values as parameters


def _load(api_key: ApiKey, data: OrderInput) -> _Loaded:
    """Account (with venue and limits), whether the key is bound to it, the instrument and the
    account's book, in one statement (the ORM took four, and compiling them cost more than
    running them)."""
    with cursor() as c:
        c.execute(
            _load_sql(),
            {
                "key": api_key.pk,
                "label": data.account,
                "symbol": data.instrument,
            },
        )
        row = c.fetchone()
    if row is None:
        return _Loaded(None, False, None, None)
    a, v = columns(TradingAccount, "a"), columns(Venue, "v")
    lim, i = columns(GatewayLimits, "l"), columns(Instrument, "i")
    at = 0
    account = a.build(row, at)
    at += a.width
    venue = v.build(row, at)
    at += v.width
    limits = lim.build(row, at)
    at += lim.width
    instrument = i.build(row, at)
    at += i.width
    allowed = bool(row[at])
    open_orders, working_buy, working_sell, position = row[at + 1 : at + 5]
    TradingAccount.venue.field.set_cached_value(account, venue)
    TradingAccount.gateway_limits.related.set_cached_value(account, limits)
    if limits is not None:
        GatewayLimits.account.field.set_cached_value(limits, account)
    if not allowed or instrument is None:
        return _Loaded(account, allowed, None, None)
    book = {
        "open_orders": int(open_orders),
        "working_buy": Decimal(working_buy),
        "working_sell": Decimal(working_sell),
        "position": Decimal(position),
    }
    return _Loaded(account, True, instrument, book)


def order_submit(*, api_key: ApiKey, data: OrderInput, arrived_at: datetime) -> SubmitOutcome:
    """Check, store and (if accepted) route one order.

    Guarantees: an order is sent to a venue only if every check of the pipeline passed and
    this request's INSERT won the (key, client order id); a retry returns the original order
    (``replayed=True``) without any venue call; ``arrived_at`` (taken by the caller before any
    check) and ``decided_at`` are stored. Raises ``GatewayUnavailable`` or ``DatabaseError`` when
    a dependency cannot be consulted: nothing is then stored or sent.
    """
    loaded = _load(api_key, data)
    account, allowed, instrument = loaded.account, loaded.allowed, loaded.instrument
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
    if loaded.book is not None:
        ctx.__dict__["book"] = loaded.book  # read with the account (CheckContext.book's shape)
    reject = pipeline_run(ctx)
    with transaction.atomic():
        if reject is None and ctx.breaker.reduce_only:
            # Two concurrent exits could each see the other's sell missing from the book and
            # together flip the position. Exits under reduce-only are serialised per account
            # and instrument (the lock lasts until this order is routed and committed) and
            # decided again on the book as committed by the previous one.
            with connection.cursor() as lock:
                lock.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                    [f"gateway:reduce_only:{account.pk}:{instrument.pk}"],
                )
            ctx.__dict__.pop("book", None)
            reject = check_breaker(ctx)
        decided_at = timezone.now()
        order = _order_row(api_key, data, account if allowed else None, instrument, reject,
                           arrived_at, decided_at)  # fmt: skip
        # The unique constraint decides: a concurrent insert of the same (key, client order
        # id) is waited for; once it commits, this one inserts nothing and is a replay.
        if not insert(order, on_conflict=f"ON CONSTRAINT {_UNIQUE_CLIENT_ID}"):
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
        # No savepoint around the call (two round trips per order): venue adapters speak to
        # their venue, not our database, and raise their refusals with our transaction intact.
        # The simulated venue writes into this transaction; if it fails half-way, its writes
        # and our order roll back together (below), so nothing happened anywhere.
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
        if connection.needs_rollback or isinstance(exc, DatabaseError):
            # Our transaction is spoilt (an adapter that shares it failed inside it): the order
            # and the venue's writes roll back, and the bot is told to retry (503).
            raise GatewayUnavailable("the venue failed inside the order's transaction") from exc
        _finish(order, OrderStatus.UNKNOWN, f"{type(exc).__name__}")
    else:
        order_apply_result(order=order, result=result, fresh=True)


def _finish(order: Order, status: str, message: str, *, reject_code: str = "") -> None:
    order.status = status
    order.venue_message = message[:500]
    order.reject_code = reject_code
    order.updated_at = timezone.now()
    update_fields(order, ["status", "venue_message", "reject_code", "updated_at"])


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
