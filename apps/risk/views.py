"""Risk pages (session + MFA, like every page), mounted at /risk/.

* the overview: per visible account, positions with marks, PnL and Greeks; limit utilisation;
  the scenario grid per underlying as a table (book-wide for risk managers, per own account
  for traders);
* limits: risk managers create, edit and delete them with a recent second factor
  (``sensitive_action``); the permission check runs first, so others get 403 at once.

Numbers are formatted here, in one place; the dashboard issue will make the page live.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.stepup import sensitive_action
from apps.risk.forms import DeleteForm, LimitForm
from apps.risk.models import METRIC_SHORT, RiskLimit
from apps.risk.selectors import VIEW_ALL, risk_for_accounts, visible_account_labels
from apps.risk.services.evaluation import format_amount
from apps.risk.services.limits import limit_create, limit_delete, limit_update
from apps.venues.services.store import StoreUnavailable

NONE = "-"
VIEW = "accounts.view_dashboards"
CHANGE = "accounts.change_limits"


def require_perm(perm: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """403 unless the person holds ``perm`` (checked before any step-up prompt)."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.has_perm(perm):
                raise PermissionDenied("Your role does not allow this.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def _usd(x: float | None) -> str:
    return NONE if x is None else f"{x:,.0f}"


def _coin(x: float | None) -> str:
    return NONE if x is None else f"{x:,.4f}"


def _pnl(x: float | None) -> str:
    return NONE if x is None else format_amount(x)


def _grid_table(shocks: dict[str, Any], grid: list[list[float | None]]) -> dict[str, Any]:
    return {
        "vols": [f"{v:+g}" for v in shocks["vol_points"]],
        "rows": [
            {
                "spot": f"{100 * s:+.0f}%",
                "cells": [{"text": _pnl(c), "negative": c is not None and c < 0} for c in row],
            }
            for s, row in zip(shocks["spot"], grid, strict=True)
        ],
    }


def _position_row(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "symbol": p["symbol"],
        "size": f"{p['size']:g}",
        "average_price": f"{p['average_price']:g} {p['quote_currency']}",
        "mark": (f"{p['mark']:.6g} ({p['mark_source']})" if p["mark"] is not None else "unpriced"),
        "iv": f"{100 * p['iv']:.1f}%" if p["iv"] is not None else NONE,
        "value_usd": _usd(p["value_usd"]),
        "upnl_usd": _usd(p["upnl_usd"]),
        "upnl_negative": (p["upnl_usd"] or 0) < 0,
        "delta": f"{_coin(p['delta_coin'])} / {_usd(p['delta_usd'])}",
        "gamma": f"{_coin(p['gamma_coin'])} / {_usd(p['gamma_usd'])}",
        "vega": f"{_coin(p['vega_coin'])} / {_usd(p['vega_usd'])}",
        "theta": f"{_coin(p['theta_coin'])} / {_usd(p['theta_usd'])}",
        "bucket": p["expiry_bucket"],
        "stale": bool(p["stale"]),
    }


def _limit_row(limit: dict[str, Any]) -> dict[str, Any]:
    utilisation = limit["utilisation"]
    return {
        **limit,
        "scope_label": "global"
        if limit["scope"] == "global"
        else f"{limit['scope']} {limit['target']}",
        "metric_label": METRIC_SHORT.get(limit["metric"], limit["metric"]),
        "value_text": format_amount(limit["value"], limit["metric"])
        if limit["value"] is not None
        else "no data",
        "threshold_text": format_amount(limit["threshold"], limit["metric"]),
        "utilisation_text": f"{100 * utilisation:.0f}%" if utilisation is not None else NONE,
        "bar": min(100, max(0, round(100 * (utilisation or 0)))),
    }


def _overview(request: HttpRequest) -> dict[str, Any]:
    labels = visible_account_labels(request.user)
    book_wide = request.user.has_perm(VIEW_ALL)
    view = risk_for_accounts(labels, book_wide=book_wide)
    positions: dict[str, list[dict[str, Any]]] = {label: [] for label in labels}
    for p in view["positions"]:
        positions[p["account"]].append(_position_row(p))
    accounts = []
    for label in labels:
        data = view["accounts"].get(label) or {}
        totals = data.get("totals") or {}
        accounts.append(
            {
                "label": label,
                "positions": positions[label],
                "totals": {
                    "value": _usd(totals.get("value_usd")),
                    "upnl": _usd(totals.get("upnl_usd")),
                    "delta": _usd(totals.get("delta_usd")),
                    "gamma": _usd(totals.get("gamma_usd")),
                    "vega": _usd(totals.get("vega_usd")),
                    "theta": _usd(totals.get("theta_usd")),
                },
                "unpriced": data.get("unpriced", 0),
                "worst": _pnl(data.get("worst_scenario_loss_usd")),
                "grids": []
                if book_wide
                else [
                    {"underlying": und, **_grid_table(view["shocks"], u["grid"])}
                    for und, u in (data.get("by_underlying") or {}).items()
                ],
            }
        )
    grids = []
    if book_wide:
        for und, u in view.get("underlyings", {}).items():
            grids.append(
                {
                    "underlying": und,
                    "worst": _pnl(u["worst_scenario_loss_usd"]),
                    **_grid_table(view["shocks"], u["grid"]),
                }
            )
    return {
        "evaluated_at": view["evaluated_at"],
        "accounts": accounts,
        "limits": [_limit_row(limit) for limit in view["limits"]],
        "grids": grids,
        "book_wide": book_wide,
        "book": view.get("book"),
        "markets": view.get("markets", []),
    }


@never_cache
@require_GET
@require_perm(VIEW)
def overview_view(request: HttpRequest) -> HttpResponse:
    try:
        context = {"store_available": True, **_overview(request)}
    except StoreUnavailable:
        context = {"store_available": False, "accounts": [], "limits": [], "grids": []}
    context["can_change_limits"] = request.user.has_perm(CHANGE)
    return render(request, "risk/overview.html", context)


def _form_errors(form: LimitForm, exc: ValidationError) -> None:
    if hasattr(exc, "message_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


@never_cache
@require_http_methods(["GET", "POST"])
@require_perm(CHANGE)
@sensitive_action
def limit_new_view(request: HttpRequest) -> HttpResponse:
    form = LimitForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            limit = limit_create(user=request.user, request=request, **form.cleaned_data)
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, f"Limit {limit.name} created.")
            return redirect("risk:overview")
    return render(request, "risk/limit_form.html", {"form": form, "limit": None})


@never_cache
@require_http_methods(["GET", "POST"])
@require_perm(CHANGE)
@sensitive_action
def limit_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    limit = get_object_or_404(RiskLimit, pk=pk)
    form = LimitForm(request.POST or None, instance=RiskLimit.objects.get(pk=pk))
    if request.method == "POST" and form.is_valid():
        try:
            limit = limit_update(limit=limit, user=request.user, request=request,
                                 **form.cleaned_data)  # fmt: skip
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, f"Limit {limit.name} saved.")
            return redirect("risk:overview")
    return render(
        request,
        "risk/limit_form.html",
        {"form": form, "limit": limit, "delete_form": DeleteForm()},
    )


@never_cache
@require_POST
@require_perm(CHANGE)
@sensitive_action
def limit_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    limit = get_object_or_404(RiskLimit, pk=pk)
    if not DeleteForm(request.POST).is_valid():
        messages.error(request, "Tick the box to confirm.")
        return redirect("risk:limit_edit", pk=pk)
    limit_delete(limit=limit, user=request.user, request=request)
    messages.success(request, f"Limit {limit.name} deleted.")
    return redirect("risk:overview")
