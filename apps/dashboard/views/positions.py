"""The positions page: per visible account, a live table (size, mark, PnL, Greeks) with totals,
and the scenario PnL heatmap per underlying the account holds.

Who sees what is decided once, by ``apps.risk.selectors`` (``TradingAccount.objects.
visible_to``): risk managers every account, traders their own. Live updates: the page follows
``positions:<account>`` for each account shown; a push makes it fetch ``data.json`` (this
module, same builders as the first render) and redraw, latest wins. The push carries no grid,
so the heatmap needs the server anyway, and formatting stays in one place (Python).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.dashboard.figures import figure_dict
from apps.dashboard.figures.facts import account_totals, position_row
from apps.dashboard.figures.scenario import amount, scenario_heatmap
from apps.risk.selectors import risk_for_accounts, visible_account_labels
from apps.venues.services.store import StoreUnavailable

POSITION_PERMS = ("accounts.view_own_positions", "accounts.view_all_positions")


def _require_positions(request: HttpRequest) -> None:
    if not any(request.user.has_perm(p) for p in POSITION_PERMS):
        raise PermissionDenied("Positions are shown to traders and risk managers.")


def positions_data(labels: list[str]) -> dict[str, Any]:
    """Tables and heatmaps (JSON dicts) of the given accounts; ``available`` False when the
    risk store (Redis) is unreachable."""
    try:
        view = risk_for_accounts(labels, book_wide=False)
    except StoreUnavailable:
        return {"available": False, "accounts": []}
    rows: dict[str, list[dict[str, Any]]] = {label: [] for label in labels}
    for p in view["positions"]:
        rows[p["account"]].append(position_row(p))
    accounts = []
    for label in labels:
        data = view["accounts"].get(label) or {}
        grids = [
            {
                "id": f"grid-{label}-{und}",
                "underlying": und,
                "worst": amount(-(u.get("worst_scenario_loss_usd") or 0.0)),
                "figure": figure_dict(
                    scenario_heatmap(
                        view["shocks"], u.get("grid") or [], uirevision=f"grid:{label}:{und}"
                    )
                ),
            }
            for und, u in sorted((data.get("by_underlying") or {}).items())
        ]
        accounts.append(
            {
                "label": label,
                "positions": rows[label],
                "totals": account_totals(data.get("totals")),
                "unpriced": int(data.get("unpriced") or 0),
                "grids": grids,
            }
        )
    return {
        "available": True,
        "evaluated_at": view["evaluated_at"],
        "evaluated_text": str(view["evaluated_at"])[:19].replace("T", " ") + " UTC",
        "accounts": accounts,
    }


@never_cache
@require_GET
def positions_view(request: HttpRequest) -> HttpResponse:
    _require_positions(request)
    labels = visible_account_labels(request.user)
    data = positions_data(labels) if labels else {"available": True, "accounts": []}
    return render(request, "dashboard/positions.html", {"data": data, "labels": labels})


@never_cache
@require_GET
def positions_data_view(request: HttpRequest) -> JsonResponse:
    _require_positions(request)
    labels = visible_account_labels(request.user)
    data = positions_data(labels) if labels else {"available": True, "accounts": []}
    if not data["available"]:
        return JsonResponse(
            {"code": "dependency_unavailable", "detail": "The risk store is unavailable."},
            status=503,
        )
    return JsonResponse(data)
