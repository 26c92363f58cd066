"""What the surface page prints beside its figures, formatted once (here) for the first render
and for every live update alike: the as-of time, staleness, arbitrage flags and a per-expiry
table (also the text alternative to the charts for screen readers)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apps.dashboard.figures.surface import expiry_label

__all__ = ["account_totals", "position_row", "surface_facts"]


def _pct(x: Any) -> str:
    return "n/a" if x is None else f"{100.0 * float(x):.2f}%"


def _points(x: Any) -> str:
    return "n/a" if x is None else f"{100.0 * float(x):+.2f}"


def surface_facts(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Display strings of one surface payload; never raises on a payload with missing parts."""
    slices = list(payload.get("slices") or [])
    arbitrage = payload.get("arbitrage") or {}
    butterfly_bad = [
        expiry_label(int(s["expiry_ms"]))
        for s in slices
        if not (s.get("arbitrage") or {}).get("butterfly_ok", True)
    ]
    calendar_bad = list(arbitrage.get("calendar_violations") or [])
    flags = []
    if butterfly_bad:
        flags.append("Butterfly arbitrage in " + ", ".join(butterfly_bad))
    if not arbitrage.get("calendar_ok", True):
        flags.append(f"Calendar arbitrage between {len(calendar_bad) or 'some'} expiry pair(s)")
    quotes = payload.get("quotes") or {}
    index = payload.get("index_price")
    return {
        "underlying": payload.get("underlying"),
        "venue": payload.get("venue"),
        "as_of": payload.get("as_of"),
        "as_of_text": (payload.get("as_of") or "")[:19].replace("T", " ") + " UTC",
        "received_at_ms": payload.get("received_at_ms"),
        "stale": bool(payload.get("stale")),
        "index": f"{index:,.2f}" if isinstance(index, int | float) else "n/a",
        "quotes": f"{quotes.get('valid', 0)} valid of {quotes.get('received', 0)} received, "
        f"{quotes.get('dropped_total', 0)} dropped",
        "arbitrage_ok": not flags,
        "arbitrage": flags or ["No arbitrage detected (butterfly and calendar checks pass)"],
        "not_fitted": [
            f"{expiry_label(int(x['expiry_ms']))}: {str(x['reason']).replace('_', ' ')}"
            for x in payload.get("skipped") or []
        ],
        "expiries": [
            {
                "expiry": expiry_label(int(s["expiry_ms"]), float(s["t"])),
                "forward": f"{float(s['forward']):,.2f}",
                "atm": _pct(s.get("atm_vol")),
                "rr25": _points(s.get("rr25")),
                "bf25": _points(s.get("bf25")),
                "points": str(s.get("n_points", "")),
                "butterfly": "ok"
                if (s.get("arbitrage") or {}).get("butterfly_ok", True)
                else "ARBITRAGE",
            }
            for s in slices
        ],
    }


def _usd(x: Any) -> str:
    return "n/a" if x is None else f"{float(x):,.0f}"


def _signed_usd(x: Any) -> str:
    return "n/a" if x is None else f"{float(x):+,.0f}"


def position_row(p: Mapping[str, Any]) -> dict[str, Any]:
    """One position's cells (USD Greeks; a position without market data says ``unpriced``)."""
    priced = p.get("mark") is not None
    mark = f"{p['mark']:.6g}" if priced else "unpriced"
    if priced and p.get("mark_source") == "model":
        mark += " (model)"
    if priced and p.get("stale"):
        mark += " (stale)"
    upnl = p.get("upnl_usd")
    return {
        "symbol": p.get("symbol"),
        "size": f"{float(p.get('size') or 0):+g}",
        "average_price": f"{float(p.get('average_price') or 0):g} {p.get('quote_currency') or ''}",
        "mark": mark,
        "iv": "n/a" if p.get("iv") is None else f"{100.0 * float(p['iv']):.1f}%",
        "value": _usd(p.get("value_usd")),
        "upnl": _signed_usd(upnl),
        "loss": upnl is not None and float(upnl) < 0,
        "delta": _signed_usd(p.get("delta_usd")),
        "gamma": _signed_usd(p.get("gamma_usd")),
        "vega": _signed_usd(p.get("vega_usd")),
        "theta": _signed_usd(p.get("theta_usd")),
    }


def account_totals(totals: Mapping[str, Any] | None) -> dict[str, Any]:
    """The totals row of one account (USD)."""
    t = totals or {}
    upnl = t.get("upnl_usd")
    return {
        "value": _usd(t.get("value_usd")),
        "upnl": _signed_usd(upnl),
        "loss": upnl is not None and float(upnl) < 0,
        "delta": _signed_usd(t.get("delta_usd")),
        "gamma": _signed_usd(t.get("gamma_usd")),
        "vega": _signed_usd(t.get("vega_usd")),
        "theta": _signed_usd(t.get("theta_usd")),
    }
