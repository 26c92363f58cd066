"""Reads of the latest risk snapshot, filtered to what a person or an API key may see.

Row-level access is decided once: people through ``TradingAccount.objects.visible_to(user)``
(risk managers all accounts, traders their own, others none); API keys through the trading
accounts the key is bound to. Book-wide figures (book, underlyings, venues, every limit) are
shown only to people who may see every position.
"""

from __future__ import annotations

from typing import Any

from apps.risk.models import LimitUtilisation, RiskLimit
from apps.risk.services.evaluation import limit_payload
from apps.risk.snapshots import snapshot_read

__all__ = [
    "limits_with_utilisation",
    "risk_for_accounts",
    "risk_for_key",
    "risk_for_user",
    "visible_account_labels",
]

VIEW_ALL = "accounts.view_all_positions"


def visible_account_labels(user: Any) -> list[str]:
    from apps.venues.models import TradingAccount

    return sorted(TradingAccount.objects.visible_to(user).values_list("label", flat=True))


def key_account_labels(api_key: Any) -> list[str]:
    return sorted(api_key.trading_accounts.values_list("label", flat=True))


def limits_with_utilisation(*, labels: list[str] | None = None) -> list[dict[str, Any]]:
    """Every limit (or, with ``labels``, the account limits of those accounts) with its latest
    utilisation, from PostgreSQL (so a limit created a moment ago is listed)."""
    limits = RiskLimit.objects.all()
    if labels is not None:
        limits = limits.filter(scope="account", target__in=labels)
    utilisation = {u.pk: u for u in LimitUtilisation.objects.filter(limit__in=limits)}
    return [limit_payload(limit, utilisation.get(limit.pk)) for limit in limits]


def risk_for_accounts(
    labels: list[str], *, book_wide: bool, snapshot: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The snapshot cut down to ``labels`` (raises StoreUnavailable when Redis is down).

    Before the first evaluation (a fresh system) the book is valued on the spot, without
    judging limits, so a position is never reported missing just because no evaluation ran."""
    if snapshot is None:
        snapshot = snapshot_read()
    if snapshot is None:
        from apps.risk.services.book import book_compute

        snapshot = book_compute().snapshot
        snapshot["limits"] = limits_with_utilisation()
    allowed = set(labels)
    view: dict[str, Any] = {
        "evaluated_at": snapshot["evaluated_at"],
        "shocks": snapshot["shocks"],
        "markets": snapshot.get("markets", []),
        "accounts": {
            label: snapshot["accounts"].get(label) for label in labels
        },  # None: no evaluation has seen this account yet
        "positions": [p for p in snapshot["positions"] if p["account"] in allowed],
    }
    if book_wide:
        view["book"] = snapshot["book"]
        view["underlyings"] = snapshot["underlyings"]
        view["venues"] = snapshot["venues"]
        view["limits"] = snapshot.get("limits", [])
    else:
        view["limits"] = [
            limit
            for limit in snapshot.get("limits", [])
            if limit["scope"] == "account" and limit["target"] in allowed
        ]
    return view


def risk_for_user(user: Any) -> dict[str, Any]:
    return risk_for_accounts(visible_account_labels(user), book_wide=bool(user.has_perm(VIEW_ALL)))


def risk_for_key(api_key: Any) -> dict[str, Any]:
    return risk_for_accounts(key_account_labels(api_key), book_wide=False)
