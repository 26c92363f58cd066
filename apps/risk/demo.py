"""Demo risk limits, called from apps.dashboard.demo after the venues' demo (SIM, SIM-A, SIM-B).

``risk_seed_demo()`` is idempotent: limits are found by name and never changed once they exist
(a risk manager may have edited them). Thresholds are set from the book as it is when the
demo is first seeded:

* SIM-A and the book get generous limits (two to five times today's figures, or a share of
  the notional that the options' deltas cannot reach), so they hold in normal demo use;
* SIM-B gets a net-delta limit at today's figure, confirmed over 2 evaluations, acting
  ``reduce_only``: its net delta is a random walk with the simulated BTC, and one that starts
  at the threshold crosses it again soon and often (2% above, the first choice, took 40
  minutes of demo time to trip), so the overview and the breakers board have something to
  show within minutes of the first `make run`, and again after each reset.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from apps.risk.models import LimitAction, LimitMetric, LimitScope, RiskLimit

__all__ = ["DEMO_LIMITS", "risk_seed_demo"]

logger = logging.getLogger(__name__)

# name -> (scope, target, metric, action, confirmations, threshold rule, fallback threshold)
# A rule is (multiple of today's value, share of the scope's gross notional): the threshold is
# the larger of the two; the fallback applies when no market data is available yet.
DEMO_LIMITS: dict[str, tuple[str, str, str, str, int, tuple[float, float], float]] = {
    "sim-b-net-delta": (
        LimitScope.ACCOUNT, "SIM-B", LimitMetric.NET_DELTA_USD, LimitAction.REDUCE_ONLY, 2,
        (1.0, 0.0), 125_000.0,
    ),
    "sim-a-net-delta": (
        LimitScope.ACCOUNT, "SIM-A", LimitMetric.NET_DELTA_USD, LimitAction.REDUCE_ONLY, 3,
        (4.0, 0.75), 620_000.0,
    ),
    "sim-a-gross-notional": (
        LimitScope.ACCOUNT, "SIM-A", LimitMetric.GROSS_NOTIONAL_USD, LimitAction.REDUCE_ONLY, 3,
        (2.0, 0.0), 1_700_000.0,
    ),
    "sim-a-worst-scenario": (
        LimitScope.ACCOUNT, "SIM-A", LimitMetric.WORST_SCENARIO_LOSS_USD, LimitAction.HALTED, 3,
        (3.0, 0.0), 650_000.0,
    ),
    "btc-vega": (
        LimitScope.UNDERLYING, "BTC", LimitMetric.VEGA_USD, LimitAction.REDUCE_ONLY, 3,
        (5.0, 0.0), 7_500.0,
    ),
    "book-gross-notional": (
        LimitScope.GLOBAL, "", LimitMetric.GROSS_NOTIONAL_USD, LimitAction.REDUCE_ONLY, 1,
        (3.0, 0.0), 20_000_000.0,
    ),
    "book-unrealised-loss": (
        LimitScope.GLOBAL, "", LimitMetric.UNREALISED_LOSS_USD, LimitAction.HALTED, 3,
        (0.0, 0.25), 1_000_000.0,
    ),
}  # fmt: skip


def _current_metrics() -> dict[tuple[str, str], Any] | None:
    """Today's metric values per scope, polling the simulated venue once if no chain is stored."""
    from apps.risk.services.book import book_compute
    from apps.venues.models import Venue
    from apps.venues.services import store
    from apps.venues.services.polling import venue_poll_chain

    try:
        # A savepoint: the dashboard seeds inside one transaction, which a failure here must
        # not poison (the limits are still created, with fixed thresholds).
        with transaction.atomic():
            venue = Venue.objects.filter(name="SIM").first()
            if venue is not None and any(
                store.chain_read(venue.name, u) is None for u in venue.underlyings
            ):
                venue_poll_chain(venue_id=venue.pk)
            return book_compute().metrics
    except Exception:  # no Redis or no venue yet: fall back to fixed thresholds
        logger.warning("demo limits: no market data, using fixed thresholds", exc_info=True)
        return None


def _threshold(metrics: dict | None, scope: str, target: str, metric: str, rule, fallback) -> float:
    if not metrics or (scope, target) not in metrics:
        return fallback
    scope_metrics = metrics[(scope, target)]
    if scope_metrics.positions == 0 or scope_metrics.unpriced:
        return fallback
    multiple, notional_share = rule
    value = scope_metrics.values[metric] * multiple
    value = max(value, scope_metrics.values["gross_notional_usd"] * notional_share)
    return float(f"{value:.3g}") if value > 0 else fallback


def risk_seed_demo() -> str:
    """Create the demo limits that do not exist yet; returns a one-line summary."""
    from apps.venues.models import TradingAccount

    missing = [name for name in DEMO_LIMITS if not RiskLimit.objects.filter(name=name).exists()]
    if not missing:
        return f"{len(DEMO_LIMITS)} demo limits present"
    labels = set(TradingAccount.objects.values_list("label", flat=True))
    metrics = _current_metrics()
    created = []
    for name in missing:
        scope, target, metric, action, confirmations, rule, fallback = DEMO_LIMITS[name]
        if scope == LimitScope.ACCOUNT and target not in labels:
            continue  # the venues demo did not create this account
        RiskLimit.objects.create(
            name=name,
            scope=scope,
            target=target,
            metric=metric,
            threshold=_threshold(metrics, scope, target, metric, rule, fallback),
            action=action,
            confirmations_required=confirmations,
        )
        created.append(name)
    return f"{len(created)} demo limits created ({', '.join(created) or 'none'})"
