"""The vol-surface page (the trader's home) and the JSON of its figures.

Live updates: the page follows ``surface:<UND>`` over the websocket (static/js/live.js), and a
push only says "a new surface exists". The page then fetches ``figures.json``, which this
module builds with the same Python figure builders as the first render, and swaps the charts
with ``Plotly.react`` (latest wins: one fetch in flight, at most one more queued). The push
is compact (no quotes, no SVI parameters), and one builder in Python means one place where the
figures are defined.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.dashboard.figures import figure_dict
from apps.dashboard.figures.facts import surface_facts
from apps.dashboard.figures.surface import smile_quotes, surface_figures
from apps.venues.models import Venue
from apps.venues.selectors import chain_latest, normalise_underlying, surface_latest
from apps.venues.services.store import StoreUnavailable

VIEW_SURFACES = "accounts.view_vol_surfaces"


def _require_surfaces(request: HttpRequest) -> None:
    if not request.user.has_perm(VIEW_SURFACES):
        raise PermissionDenied("Vol surfaces are shown to traders and risk managers.")


def underlyings_available() -> list[str]:
    """Underlyings polled by an enabled venue (else by any configured venue), sorted."""
    rows = list(Venue.objects.values_list("enabled", "underlyings"))
    enabled = {u for on, unds in rows if on for u in unds}
    return sorted(enabled or {u for _, unds in rows for u in unds})


def _choose(raw: str | None, known: list[str]) -> tuple[str | None, str | None]:
    """(underlying, error message). No choice given: the first known one."""
    if not raw:
        return (known[0] if known else None), None
    underlying = normalise_underlying(raw.strip())
    if underlying is None or underlying not in known:
        shown = raw.strip()[:20]
        choices = ", ".join(known) or "none configured"
        return None, f"Unknown underlying “{shown}”. Choose one of: {choices}."
    return underlying, None


def surface_data(underlying: str) -> dict[str, Any]:
    """Figures (as JSON dicts) and display facts of the served surface of ``underlying``;
    ``available`` False with a ``reason`` when there is none yet or Redis is down."""
    base: dict[str, Any] = {"underlying": underlying, "server_now_ms": int(time.time() * 1000)}
    try:
        view = surface_latest(underlying=underlying)
        chain = chain_latest(underlying=underlying, venue_name=view.venue.name) if view else None
    except StoreUnavailable:
        return {**base, "available": False, "reason": "store_unavailable"}
    if view is None:
        return {**base, "available": False, "reason": "no_data"}
    quotes = smile_quotes(chain.chain.columns) if chain is not None else {}
    figures = surface_figures(view.payload, quotes)
    return {
        **base,
        "available": True,
        "stale_after_ms": int(view.venue.stale_after_seconds * 1000),
        "facts": surface_facts(view.payload),
        "figures": {name: figure_dict(fig) for name, fig in figures.items()},
    }


@never_cache
@require_GET
def surface_view(request: HttpRequest) -> HttpResponse:
    _require_surfaces(request)
    known = underlyings_available()
    underlying, error = _choose(request.GET.get("underlying"), known)
    data = surface_data(underlying) if underlying else None
    return render(
        request,
        "dashboard/surface.html",
        {"underlyings": known, "underlying": underlying, "error": error, "data": data},
        status=404 if error else 200,
    )


@never_cache
@require_GET
def surface_figures_view(request: HttpRequest) -> JsonResponse:
    _require_surfaces(request)
    known = underlyings_available()
    underlying, error = _choose(request.GET.get("underlying"), known)
    if underlying is None:
        detail = error or "No venue polls any underlying."
        return JsonResponse({"code": "unknown_underlying", "detail": detail}, status=404)
    data = surface_data(underlying)
    if data.get("reason") == "store_unavailable":
        return JsonResponse(
            {"code": "dependency_unavailable", "detail": "The market-data store is unavailable."},
            status=503,
        )
    return JsonResponse(data)
