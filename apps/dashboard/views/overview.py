"""The overview (risk manager's home), mounted at /overview/.

* ``overview_view``: breaker board (with the trip form for ``trip_breakers`` and reset links
  for ``reset_breakers``; the actions post to the breakers app's views, which check the role
  again, so a forged POST from anyone else gets 403), limit utilisation, risk per underlying,
  data freshness per venue, alert feed and reject counts;
* ``overview_panel_view``: one panel as an HTML fragment, re-fetched by ``static/js/overview.js``
  when its websocket topic (``breakers``, ``risk``, ``alerts``) says it changed, or every few
  seconds for the panels no topic carries (venues, rejects).

Both need ``view_dashboards``.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.breakers.forms import TripForm
from apps.dashboard import selectors

VIEW = "accounts.view_dashboards"
FRAGMENT_TEMPLATES = {name: f"dashboard/_overview_{name}.html" for name in selectors.PANELS}


def _require_view(request: HttpRequest) -> None:
    if not request.user.has_perm(VIEW):
        raise PermissionDenied("Your role does not allow this.")


def _panel_context(request: HttpRequest, name: str) -> dict[str, Any]:
    """The context one panel's template needs (and only that panel's queries)."""
    if name == "board":
        return {"board": selectors.overview_board(request.user)}
    if name in ("limits", "risk"):
        return {"risk": selectors.overview_limits_and_risk(request.user)}
    if name == "venues":
        return {"venues": selectors.overview_venues()}
    if name == "rejects":
        return {"rejects": selectors.overview_rejects()}
    return {"alerts": selectors.overview_alerts()}


def _targets() -> list[str]:
    from apps.breakers.services.targets import known_underlyings
    from apps.venues.models import TradingAccount, Venue

    return sorted(
        {
            *Venue.objects.values_list("name", flat=True),
            *TradingAccount.objects.values_list("label", flat=True),
            *known_underlyings(),
        }
    )


@never_cache
@require_GET
def overview_view(request: HttpRequest) -> HttpResponse:
    _require_view(request)
    seqs = selectors.topic_seqs(["breakers", "risk", "alerts"])  # before reading the state
    context: dict[str, Any] = {}
    for name in ("board", "limits", "venues", "rejects", "alerts"):  # "risk" shares "limits"
        context.update(_panel_context(request, name))
    can_trip = context["board"]["can_trip"]
    context["trip_form"] = TripForm(initial={"scope": "global"}) if can_trip else None
    context["targets"] = _targets() if can_trip else []
    context["live_config"] = {
        "topics": {
            "board": ["breakers"],
            "limits": ["risk"],
            "risk": ["risk"] if context["risk"]["book_wide"] else [],
            "alerts": ["alerts"],
        },
        "poll_seconds": {"venues": 5, "rejects": 10},
        "seq": seqs,
    }
    return render(request, "dashboard/overview.html", context)


@never_cache
@require_GET
def overview_panel_view(request: HttpRequest, name: str) -> HttpResponse:
    _require_view(request)
    if name not in FRAGMENT_TEMPLATES:
        raise Http404("no such panel")
    return render(request, FRAGMENT_TEMPLATES[name], _panel_context(request, name))
