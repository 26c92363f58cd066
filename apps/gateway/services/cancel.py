"""Cancelling many orders: a bot's cancel-all, and cancel-on-halt when a breaker halts.

Both go through :func:`orders_cancel_in_scope`: per account, one venue ``cancel_all`` (which
also kills orders placed at the venue outside Breakwater, as a halt must) unless the scope is
one API key's orders, then every working order of ours still in the scope is cancelled one by
one (the venue returns a finished order as it is, so its final state and fills are recorded).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import QuerySet

from apps.audit.actions import AuditAction
from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.breakers.models import Breaker, BreakerScope, BreakerState
from apps.gateway.models import WORKING_STATUSES, Order, OrderStatus
from apps.gateway.services.execution import order_apply_result
from apps.gateway.services.orders import OrderNotCancellable, order_cancel
from apps.venues.adapters.base import VenueError
from apps.venues.adapters.registry import adapter_for
from apps.venues.models import TradingAccount
from apps.venues.services.credentials import account_ref_for

__all__ = [
    "CancelReport",
    "halted_breakers_with_working_orders",
    "orders_cancel_in_scope",
    "orders_cancel_on_halt",
    "scope_orders",
]

logger = logging.getLogger(__name__)


@dataclass
class CancelReport:
    cancelled: int = 0  # orders of ours that ended cancelled by this call
    finished: int = 0  # working orders found already finished (filled) at the venue
    remaining: int = 0  # working orders still in the scope afterwards
    errors: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.remaining == 0 and not self.errors


def scope_orders(
    *,
    accounts: QuerySet[TradingAccount] | list[TradingAccount] | None = None,
    underlying: str | None = None,
    api_key_id: int | None = None,
    decided_before: datetime | None = None,
) -> QuerySet[Order]:
    """Working orders in a scope (None = no restriction on that dimension)."""
    qs = Order.objects.filter(status__in=WORKING_STATUSES)
    if accounts is not None:
        qs = qs.filter(account__in=accounts)
    if underlying:
        qs = qs.filter(instrument__underlying=underlying)
    if api_key_id is not None:
        qs = qs.filter(api_key_id=api_key_id)
    if decided_before is not None:
        qs = qs.filter(decided_at__lte=decided_before)
    return qs


def orders_cancel_in_scope(
    *,
    accounts: list[TradingAccount],
    underlying: str | None = None,
    api_key_id: int | None = None,
    decided_before: datetime | None = None,
) -> CancelReport:
    """Cancel every working order in the scope at the venue and record the outcomes.

    Never raises for a venue failure: errors are collected per account and the orders they
    left working are counted in ``remaining`` (callers retry until ``done``)."""
    report = CancelReport()
    for account in accounts:
        mine = scope_orders(
            accounts=[account],
            underlying=underlying,
            api_key_id=api_key_id,
            decided_before=decided_before,
        )
        try:
            if api_key_id is None:
                _venue_cancel_all(account, underlying, report)
            for order in mine.select_related("account__venue").exclude(venue_order_id=""):
                before = order.status
                try:
                    after = order_cancel(order=order).status
                except OrderNotCancellable:
                    continue
                if after == OrderStatus.CANCELLED and before != after:
                    report.cancelled += 1
                elif after == OrderStatus.FILLED:
                    report.finished += 1
        except VenueError as exc:
            report.errors.append(f"{account.label}: {type(exc).__name__}: {exc}"[:300])
    report.remaining = scope_orders(
        accounts=accounts,
        underlying=underlying,
        api_key_id=api_key_id,
        decided_before=decided_before,
    ).count()
    return report


def _venue_cancel_all(
    account: TradingAccount, underlying: str | None, report: CancelReport
) -> None:
    adapter = adapter_for(account.venue)
    with transaction.atomic():
        results = adapter.cancel_all(account_ref_for(account), underlying=underlying)
        by_venue_id = {r.venue_order_id: r for r in results}
        if not by_venue_id:
            return
        orders = Order.objects.select_for_update().filter(
            account=account, venue_order_id__in=list(by_venue_id), status__in=WORKING_STATUSES
        )
        for order in orders:
            order_apply_result(order=order, result=by_venue_id[order.venue_order_id])
            if order.status == OrderStatus.CANCELLED:
                report.cancelled += 1


def _halt_scope(breaker: Breaker) -> dict:
    """Accounts (and underlying / key) whose working orders a halted breaker covers."""
    working = Order.objects.filter(status__in=WORKING_STATUSES)
    scope, target = breaker.scope, breaker.target
    if scope == BreakerScope.ACCOUNT:
        accounts = TradingAccount.objects.filter(label=target)
        return {"accounts": list(accounts.select_related("venue"))}
    if scope == BreakerScope.API_KEY:
        from apps.apikeys.models import ApiKey

        key = ApiKey.objects.filter(key_id=target).first()
        if key is None:
            return {"accounts": []}
        ids = working.filter(api_key=key).values("account_id")
        return {
            "accounts": list(TradingAccount.objects.filter(pk__in=ids).select_related("venue")),
            "api_key_id": key.pk,
        }
    ids = working.values("account_id")
    accounts = TradingAccount.objects.filter(pk__in=ids).select_related("venue")
    if scope == BreakerScope.VENUE:
        accounts = accounts.filter(venue__name=target)
    if scope == BreakerScope.UNDERLYING:
        return {"accounts": list(accounts), "underlying": target}
    return {"accounts": list(accounts)}


def orders_cancel_on_halt(
    *, breaker_id: int, decided_before: datetime | None = None
) -> CancelReport | None:
    """Cancel every working order in a halted breaker's scope and audit the outcome (one
    ``orders.cancelled_on_halt`` event per pass, in its own transaction). Returns None when the
    breaker is gone or no longer halted (nothing to do). ``decided_before`` limits a later
    sweep to orders decided before the halt was seen."""
    breaker = Breaker.objects.filter(pk=breaker_id).first()
    if breaker is None or breaker.state != BreakerState.HALTED:
        return None
    scope = _halt_scope(breaker)
    report = orders_cancel_in_scope(decided_before=decided_before, **scope)
    with transaction.atomic():
        audit_record(
            action=AuditAction.ORDERS_CANCELLED_ON_HALT,
            actor=Actor.system("gateway.cancel_on_halt"),
            target=breaker,
            details={
                "breaker": f"{breaker.scope}:{breaker.target}",
                "accounts": [a.label for a in scope["accounts"]],
                "cancelled": report.cancelled,
                "finished": report.finished,
                "remaining": report.remaining,
                "errors": report.errors,
            },
        )
    return report


def halted_breakers_with_working_orders(*, halted_before: datetime) -> list[int]:
    """Ids of breakers halted before ``halted_before`` whose scope still holds a working order
    that can be cancelled (it has a venue order id and a known state): their cancel-on-halt
    was lost (Redis died with the message queued) or gave up, and must run again."""
    out = []
    halted = Breaker.objects.filter(state=BreakerState.HALTED, changed_at__lt=halted_before)
    for breaker in halted:
        scope = _halt_scope(breaker)
        if not scope["accounts"]:
            continue
        left = scope_orders(
            accounts=scope["accounts"],
            underlying=scope.get("underlying"),
            api_key_id=scope.get("api_key_id"),
        ).exclude(venue_order_id="")
        if left.exclude(status__in=[OrderStatus.UNKNOWN, OrderStatus.RECEIVED]).exists():
            out.append(breaker.pk)
    return out
