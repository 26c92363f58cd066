"""Reconciliation: settle ``unknown`` orders and refresh working ones from the venue.

A placement that timed out leaves the order ``unknown``: the venue may or may not have it.
We placed it with our order id as the venue's client order id, so the account's open orders
at the venue tell us if it is working. An order no longer working at the venue is looked up by
its venue order id (``cancel_order`` returns a finished order as it is, with its fills), which
also brings resting orders that filled later up to date (fills and positions).

The simulated venue can also say that an order never arrived (its own order book is in
PostgreSQL); such orders become ``cancelled`` after a grace period. Other venues' unresolved
orders stay ``unknown`` (the adapter interface has no lookup by client order id yet).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from apps.gateway.models import Order, OrderStatus
from apps.gateway.services.execution import order_apply_result
from apps.venues.adapters.base import VenueError, VenueRejected
from apps.venues.adapters.registry import adapter_for
from apps.venues.models import AdapterKind, SimOrder, TradingAccount
from apps.venues.services.credentials import account_ref_for

__all__ = ["ReconcileReport", "orders_reconcile"]

logger = logging.getLogger(__name__)

UNKNOWN_GRACE = timedelta(seconds=2)
NEVER_ARRIVED_AFTER = timedelta(seconds=30)
SETTLED = (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED, OrderStatus.UNKNOWN)


@dataclass
class ReconcileReport:
    settled: int = 0
    updated: int = 0
    unresolved: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def orders_reconcile(*, account_ids: list[int] | None = None) -> ReconcileReport:
    """Settle every account's unknown orders and refresh its working orders. Never raises for
    a venue failure (counted in ``errors``; the next run retries)."""
    report = ReconcileReport()
    now = timezone.now()
    pending = Order.objects.filter(status__in=SETTLED).exclude(account=None)
    if account_ids is not None:
        pending = pending.filter(account_id__in=account_ids)
    accounts = TradingAccount.objects.filter(pk__in=pending.values("account_id")).select_related(
        "venue"
    )
    for account in accounts:
        try:
            _reconcile_account(account, now, report)
        except VenueError as exc:
            report.errors.append(f"{account.label}: {type(exc).__name__}: {exc}"[:300])
    return report


def _reconcile_account(account: TradingAccount, now, report: ReconcileReport) -> None:
    adapter = adapter_for(account.venue)
    ref = account_ref_for(account)
    fetched_at = timezone.now()
    open_at_venue = {r.client_order_id: r for r in adapter.fetch_open_orders(ref)}
    # Only orders decided before the snapshot: a newer one may be working yet absent from it,
    # and the lookup below would cancel it.
    orders = Order.objects.filter(
        account=account, status__in=SETTLED, decided_at__lt=fetched_at
    ).exclude(status=OrderStatus.UNKNOWN, updated_at__gt=now - UNKNOWN_GRACE)
    for order in orders:
        with transaction.atomic():
            order = Order.objects.select_for_update().get(pk=order.pk)
            if order.status not in SETTLED:
                continue
            was_unknown = order.status == OrderStatus.UNKNOWN
            result = open_at_venue.get(order.id.hex)
            venue_order_id = result.venue_order_id if result else order.venue_order_id
            if (
                result is None
                and not venue_order_id
                and account.venue.adapter == (AdapterKind.SIMULATED)
            ):
                venue_order_id = (
                    SimOrder.objects.filter(
                        venue=account.venue,
                        account_ref=account.external_id,
                        client_order_id=order.id.hex,
                    )
                    .values_list("venue_order_id", flat=True)
                    .first()
                    or ""
                )
                if not venue_order_id and order.updated_at < now - NEVER_ARRIVED_AFTER:
                    order.status = OrderStatus.CANCELLED
                    order.venue_message = "never reached the venue (reconciliation)"
                    order.updated_at = now
                    order.save(update_fields=["status", "venue_message", "updated_at"])
                    report.settled += 1
                    continue
            if result is None and venue_order_id:
                try:
                    # Not working at the venue: the venue returns the finished order as it is.
                    with transaction.atomic():
                        result = adapter.cancel_order(ref, venue_order_id)
                except VenueRejected:
                    result = None
            if result is None:
                report.unresolved += 1
                continue
            before = (order.status, order.filled_quantity)
            order_apply_result(order=order, result=result)
            if was_unknown:
                report.settled += 1
            elif before != (order.status, order.filled_quantity):
                report.updated += 1
