"""Market pages (session + MFA, like every page): the live market overview and its JSON feed.

The page is server-rendered; its script (static/js/market.js, no inline script, no CDN)
re-renders it every 2 s from ``/market/live.json``, which carries the same rows already
formatted for display, so the numbers are formatted in one place (here).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.venues.selectors import market_overview
from apps.venues.services.store import StoreUnavailable

VIEW_SURFACES = "accounts.view_vol_surfaces"
REFRESH_SECONDS = 2


def _require_surfaces(request: HttpRequest) -> None:
    if not request.user.has_perm(VIEW_SURFACES):
        raise PermissionDenied("Market data is shown to traders and risk managers.")


def _pct(x: float) -> str:
    return f"{100.0 * x:.2f}%"


def _points(x: float) -> str:
    return f"{100.0 * x:+.2f}"


def _time(raw: str | None, now: datetime) -> str:
    if not raw:
        return "never"
    when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    age = (now - when).total_seconds()
    return f"{when:%H:%M:%S} UTC ({age:.0f} s ago)" if age < 3600 else f"{when:%Y-%m-%d %H:%M} UTC"


def _present(overview: dict[str, Any]) -> dict[str, Any]:
    now = timezone.now()
    markets = []
    for m in overview["markets"]:
        if not m["available"]:
            markets.append({"underlying": m["underlying"], "available": False})
            continue
        quotes = m["quotes"]
        dropped = quotes["dropped"]
        markets.append(
            {
                "underlying": m["underlying"],
                "available": True,
                "venue": m["venue"],
                "stale": m["stale"],
                "as_of": _time(m["as_of"], now),
                "index": f"{m['index_price']:,.2f} USD" if m["index_price"] is not None else "n/a",
                "quotes": f"{quotes['received']} received, {quotes['valid']} valid, "
                f"{quotes['priced']} priced",
                "dropped": ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in dropped.items())
                + f" (total {quotes['dropped_total']})",
                "arbitrage": "none detected"
                if m["arbitrage"]["butterfly_ok"] and m["arbitrage"]["calendar_ok"]
                else "butterfly: {}, calendar: {}".format(
                    "ok" if m["arbitrage"]["butterfly_ok"] else "VIOLATED",
                    "ok" if m["arbitrage"]["calendar_ok"] else "VIOLATED",
                ),
                "not_fitted": ", ".join(
                    f"{x['expiry'][:10]} ({x['reason'].replace('_', ' ')})" for x in m["skipped"]
                )
                or "none",
                "expiries": [
                    [
                        e["expiry"][:10],
                        f"{e['forward']:,.2f}",
                        _pct(e["atm_vol"]),
                        _points(e["rr25"]),
                        _points(e["bf25"]),
                        str(e["n_points"]),
                        "ok" if e["butterfly_ok"] else "arbitrage",
                    ]
                    for e in m["expiries"]
                ],
            }
        )
    venues = [
        [
            v["venue"],
            v["adapter"],
            v["status"] + (" (stale)" if v.get("stale") and v["status"] == "ok" else ""),
            _time(v.get("last_chain_ok_at"), now),
            _time(v.get("last_positions_ok_at"), now),
            str(v.get("consecutive_errors", 0)),
            str(v.get("error_count", 0)),
            v.get("last_error") or "",
        ]
        for v in overview["venues"]
    ]
    return {
        "updated": f"{now:%H:%M:%S} UTC",
        "store_available": overview.get("store_available", True),
        "markets": markets,
        "venues": venues,
    }


def _overview() -> dict[str, Any]:
    try:
        return _present({**market_overview(), "store_available": True})
    except StoreUnavailable:
        return _present({"markets": [], "venues": [], "store_available": False})


@never_cache
@require_GET
def market_view(request: HttpRequest) -> HttpResponse:
    _require_surfaces(request)
    return render(
        request,
        "venues/market.html",
        {"overview": _overview(), "refresh_seconds": REFRESH_SECONDS},
    )


@never_cache
@require_GET
def market_live_view(request: HttpRequest) -> JsonResponse:
    _require_surfaces(request)
    return JsonResponse(_overview())
