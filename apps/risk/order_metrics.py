"""Order-based limit metrics (open orders, order rate), supplied by the app that owns orders.

Risk does not know orders: the gateway does (it depends on risk, not the reverse). The gateway
registers one provider from its ``AppConfig.ready()``::

    from apps.risk.order_metrics import register_order_metrics

    def order_metrics(scopes):  # [(scope, target), ...] -> {(scope, target): {...}}
        return {key: {"open_orders": 3, "order_rate": 12.0} for key in scopes}

    register_order_metrics(order_metrics)

``open_orders`` is the number of working orders in the scope, ``order_rate`` orders submitted
per minute over the last minute. Until a provider is registered (or when it raises, or leaves a
scope out) the limits on these metrics show "no data" and never trip: a missing number is not
evidence of a breach, and the gateway's own rate limits still apply.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

__all__ = [
    "OrderMetricsProvider",
    "order_metrics_for",
    "register_order_metrics",
    "registered_order_metrics",
]

logger = logging.getLogger(__name__)

OrderMetricsProvider = Callable[[list[tuple[str, str]]], dict[tuple[str, str], dict[str, float]]]

_provider: list[OrderMetricsProvider] = []


def register_order_metrics(provider: OrderMetricsProvider | None) -> None:
    """Install the provider (None removes it)."""
    _provider.clear()
    if provider is not None:
        _provider.append(provider)


def registered_order_metrics() -> OrderMetricsProvider | None:
    """The installed provider (tests put it back after swapping it)."""
    return _provider[0] if _provider else None


def order_metrics_for(scopes: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, float]]:
    if not _provider or not scopes:
        return {}
    try:
        return dict(_provider[0](scopes))
    except Exception:  # the limits on these metrics show "no data"; the book is still evaluated
        logger.exception("the order metrics provider failed")
        return {}
