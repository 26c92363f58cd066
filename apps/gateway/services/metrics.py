"""Order-based numbers for risk limits (``open_orders``, ``order_rate``), registered with
``apps.risk.order_metrics`` from the gateway's AppConfig (risk does not know orders)."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from apps.gateway.models import WORKING_STATUSES, Order

__all__ = ["order_metrics"]


def _scope_filter(scope: str, target: str) -> Q | None:
    if scope == "global":
        return Q()
    if scope == "venue":
        return Q(account__venue__name=target)
    if scope == "account":
        return Q(account__label=target)
    if scope == "underlying":
        return Q(instrument__underlying=target)
    if scope == "api_key":
        return Q(api_key__key_id=target)
    return None


def order_metrics(scopes: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, float]]:
    """Per (scope, target): working orders now, and orders submitted over the last minute
    (rejects included: a bot hammering the gateway is the signal). One query per scope; unknown
    scopes are left out (risk then shows "no data")."""
    since = timezone.now() - timedelta(minutes=1)
    out: dict[tuple[str, str], dict[str, float]] = {}
    for scope, target in scopes:
        match = _scope_filter(scope, target)
        if match is None:
            continue
        row = Order.objects.filter(match).aggregate(
            open_orders=Count("id", filter=Q(status__in=WORKING_STATUSES)),
            order_rate=Count("id", filter=Q(arrived_at__gte=since)),
        )
        out[(scope, target)] = {
            "open_orders": float(row["open_orders"]),
            "order_rate": float(row["order_rate"]),
        }
    return out
