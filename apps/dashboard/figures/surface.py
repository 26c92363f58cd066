"""Figures of one underlying's implied-vol surface (the trader's home page).

Inputs are the surface payload as stored and served (``apps.venues.services.payloads.
surface_payload``: slices with SVI parameters, smile metrics, arbitrage flags, grid) and the
quotes of the hot chain reduced by :func:`smile_quotes`. Vols are shown in percent, expiries
in days, moneyness as ``k = ln(K/F)`` on the surface and as strikes on the smiles (how traders
read a smile). Bid and ask markers differ by shape, not only colour.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from apps.dashboard.figures import axis, base_layout
from apps.pricing.svi import SVIParams, svi_implied_vol

__all__ = [
    "SmileQuotes",
    "expiry_label",
    "skew_figure",
    "smile_quotes",
    "smiles_figure",
    "surface_figure",
    "surface_figures",
    "term_structure_figure",
]

SMILE_COLUMNS = 3
SMILE_ROW_HEIGHT = 260
FIT_POINTS = 61
BID = {"color": "#3fa7ff", "symbol": "triangle-up", "size": 7}
ASK = {"color": "#f0883e", "symbol": "triangle-down", "size": 7}
FIT = {"color": "#e6edf3", "width": 2}


@dataclass(frozen=True)
class SmileQuotes:
    """Out-of-the-money quotes of one expiry: strikes, ``k``, bid and ask IVs (fractions).

    Only finite, positive IVs are kept; a side without one is ``nan`` (no marker drawn)."""

    strike: np.ndarray
    k: np.ndarray
    bid_iv: np.ndarray
    ask_iv: np.ndarray


def smile_quotes(columns: Mapping[str, np.ndarray]) -> dict[int, SmileQuotes]:
    """Per expiry (ms), the OTM options of a stored chain (puts below the forward, calls at or
    above it: the quotes the SVI fit uses), sorted by strike."""
    needed = ("expiry_ms", "strike", "is_call", "forward", "iv_bid", "iv_ask")
    if any(name not in columns for name in needed):
        return {}
    expiry = np.asarray(columns["expiry_ms"], dtype=np.int64)
    strike = np.asarray(columns["strike"], dtype=np.float64)
    forward = np.asarray(columns["forward"], dtype=np.float64)
    is_call = np.asarray(columns["is_call"], dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.log(strike / forward)
    bid = np.asarray(columns["iv_bid"], dtype=np.float64)
    ask = np.asarray(columns["iv_ask"], dtype=np.float64)
    bid = np.where(np.isfinite(bid) & (bid > 0), bid, np.nan)
    ask = np.where(np.isfinite(ask) & (ask > 0), ask, np.nan)
    otm = np.isfinite(k) & (is_call == (k >= 0)) & (np.isfinite(bid) | np.isfinite(ask))
    out: dict[int, SmileQuotes] = {}
    for ms in np.unique(expiry[otm]):
        rows = np.flatnonzero(otm & (expiry == ms))
        rows = rows[np.argsort(strike[rows], kind="stable")]
        out[int(ms)] = SmileQuotes(strike[rows], k[rows], bid[rows], ask[rows])
    return out


def expiry_label(expiry_ms: int, t: float | None = None) -> str:
    """``27 Jun 2025 (12.3 d)``: the date traders use, with the time left."""
    when = datetime.fromtimestamp(expiry_ms / 1000, tz=UTC)
    label = f"{when:%d %b %Y}"
    return f"{label} ({365.0 * t:.1f} d)" if t is not None else label


def _days(slices: list[dict[str, Any]]) -> list[float]:
    return [round(365.0 * float(s["t"]), 3) for s in slices]


def _pct(values: Any) -> list[float | None]:
    """Fractions to percent, None for anything not finite (a gap, not a zero)."""
    out: list[float | None] = []
    for v in np.asarray(values, dtype=np.float64).ravel():
        out.append(round(100.0 * float(v), 4) if math.isfinite(v) else None)
    return out


def surface_figure(payload: Mapping[str, Any]) -> go.Figure:
    """The 3D surface from the payload's grid (x: k, y: days to expiry, z: IV %).

    An empty grid (no expiry fitted) gives an empty figure with a note, never an error."""
    underlying = str(payload.get("underlying", ""))
    grid = payload.get("grid") or {}
    k, t, iv = grid.get("k") or [], grid.get("t") or [], grid.get("iv") or []
    fig = go.Figure()
    if k and t and iv:
        z = [_pct(row) for row in iv]
        fig.add_trace(
            go.Surface(
                x=list(k),
                y=[round(365.0 * float(x), 3) for x in t],
                z=z,
                colorscale="Viridis",
                colorbar={"title": {"text": "IV %"}, "len": 0.8},
                hovertemplate="k %{x:.2f}<br>%{y:.1f} d<br>IV %{z:.2f}%<extra></extra>",
                name="IV surface",
            )
        )
    else:
        fig.add_annotation(text="No fitted expiries yet", showarrow=False, font={"size": 14})
    fig.update_layout(
        base_layout(
            uirevision=f"surface:{underlying}",
            height=480,
            margin={"l": 0, "r": 0, "t": 10, "b": 0},
            scene={
                "xaxis": axis("log-moneyness k = ln(K/F)"),
                "yaxis": axis("days to expiry"),
                "zaxis": axis("implied vol %"),
                "bgcolor": "#17212b",
            },
        )
    )
    return fig


def _fit_curve(s: Mapping[str, Any], quotes: SmileQuotes | None) -> tuple[np.ndarray, np.ndarray]:
    """Strikes and SVI vols along the quoted range (a little beyond it), or ±2 sd of the ATM
    move when nothing is quoted."""
    t, forward = float(s["t"]), float(s["forward"])
    if quotes is not None and quotes.k.size:
        lo, hi = float(quotes.k.min()), float(quotes.k.max())
        pad = 0.05 * max(hi - lo, 0.1)
        lo, hi = lo - pad, hi + pad
    else:
        spread = 2.0 * float(s.get("atm_vol") or 0.5) * math.sqrt(max(t, 1e-6))
        lo, hi = -spread, spread
    k = np.linspace(lo, hi, FIT_POINTS)
    svi = s["svi"]
    params = SVIParams(svi["a"], svi["b"], svi["rho"], svi["m"], svi["sigma"])
    return forward * np.exp(k), svi_implied_vol(params, k, t)


def _smile_title(s: Mapping[str, Any]) -> str:
    label = expiry_label(int(s["expiry_ms"]), float(s["t"]))
    atm = f"ATM {100.0 * float(s['atm_vol']):.1f}%"
    flag = "" if s.get("arbitrage", {}).get("butterfly_ok", True) else " · ⚠ butterfly arbitrage"
    return f"{label} · {atm}{flag}"


def smiles_figure(
    payload: Mapping[str, Any], quotes: Mapping[int, SmileQuotes] | None = None
) -> go.Figure:
    """One panel per fitted expiry: bid IV (▲), ask IV (▼) and the SVI fit line, by strike.

    Panel titles carry the expiry, days left, ATM vol and a butterfly-arbitrage warning."""
    underlying = str(payload.get("underlying", ""))
    slices = list(payload.get("slices") or [])
    quotes = quotes or {}
    if not slices:
        fig = go.Figure()
        fig.add_annotation(text="No fitted expiries yet", showarrow=False, font={"size": 14})
        fig.update_layout(base_layout(uirevision=f"smiles:{underlying}", height=200))
        return fig
    rows = math.ceil(len(slices) / SMILE_COLUMNS)
    fig = make_subplots(
        rows=rows,
        cols=SMILE_COLUMNS,
        subplot_titles=[_smile_title(s) for s in slices],
        horizontal_spacing=0.06,
        vertical_spacing=min(0.12, 0.5 / rows),
    )
    for i, s in enumerate(slices):
        row, col = i // SMILE_COLUMNS + 1, i % SMILE_COLUMNS + 1
        q = quotes.get(int(s["expiry_ms"]))
        first = i == 0
        if q is not None and q.strike.size:
            for name, values, marker in (("bid IV", q.bid_iv, BID), ("ask IV", q.ask_iv, ASK)):
                fig.add_trace(
                    go.Scatter(
                        x=q.strike.tolist(),
                        y=_pct(values),
                        mode="markers",
                        marker=marker,
                        name=name,
                        legendgroup=name,
                        showlegend=first,
                        hovertemplate=f"K %{{x:,.0f}}<br>{name} %{{y:.2f}}%<extra></extra>",
                    ),
                    row=row,
                    col=col,
                )
        strikes, vols = _fit_curve(s, q)
        fig.add_trace(
            go.Scatter(
                x=np.round(strikes, 4).tolist(),
                y=_pct(vols),
                mode="lines",
                line=FIT,
                name="SVI fit",
                legendgroup="SVI fit",
                showlegend=first,
                hovertemplate="K %{x:,.0f}<br>SVI %{y:.2f}%<extra></extra>",
            ),
            row=row,
            col=col,
        )
    fig.update_xaxes(gridcolor="#2c3b4a", tickformat="~s")
    fig.update_yaxes(gridcolor="#2c3b4a", ticksuffix="%")
    fig.update_annotations(font={"size": 12})
    height = SMILE_ROW_HEIGHT * rows + 100
    top, bottom = 40, 60
    fig.update_layout(
        base_layout(
            uirevision=f"smiles:{underlying}",
            height=height,
            # Below the panels, clear of the panel titles (paper units of the plot area).
            legend={"orientation": "h", "y": -30 / (height - top - bottom), "yanchor": "top"},
            margin={"l": 50, "r": 20, "t": top, "b": bottom},
        )
    )
    return fig


def term_structure_figure(payload: Mapping[str, Any]) -> go.Figure:
    """ATM vol (%) by days to expiry, one marker per fitted expiry."""
    underlying = str(payload.get("underlying", ""))
    slices = list(payload.get("slices") or [])
    fig = go.Figure(
        go.Scatter(
            x=_days(slices),
            y=_pct([s["atm_vol"] for s in slices]),
            mode="lines+markers",
            marker={"symbol": "circle", "size": 8, "color": "#3fa7ff"},
            name="ATM vol",
            text=[expiry_label(int(s["expiry_ms"])) for s in slices],
            hovertemplate="%{text}<br>%{x:.1f} d<br>ATM %{y:.2f}%<extra></extra>",
        )
    )
    fig.update_layout(
        base_layout(
            uirevision=f"term:{underlying}",
            title="ATM term structure",
            height=300,
            xaxis=axis("days to expiry"),
            yaxis=axis("ATM vol", ticksuffix="%"),
            showlegend=False,
        )
    )
    return fig


def skew_figure(payload: Mapping[str, Any]) -> go.Figure:
    """25-delta risk reversal and butterfly (vol points) by days to expiry; the two series differ
    by marker shape and line dash as well as colour."""
    underlying = str(payload.get("underlying", ""))
    slices = list(payload.get("slices") or [])
    days = _days(slices)
    labels = [expiry_label(int(s["expiry_ms"])) for s in slices]
    fig = go.Figure()
    for name, field, style in (
        ("25d risk reversal", "rr25", {"color": "#f0883e", "symbol": "diamond", "dash": "solid"}),
        ("25d butterfly", "bf25", {"color": "#a371f7", "symbol": "square", "dash": "dot"}),
    ):
        fig.add_trace(
            go.Scatter(
                x=days,
                y=_pct([s[field] for s in slices]),
                mode="lines+markers",
                name=name,
                text=labels,
                marker={"symbol": style["symbol"], "size": 8, "color": style["color"]},
                line={"dash": style["dash"], "color": style["color"]},
                hovertemplate=f"%{{text}}<br>%{{x:.1f}} d<br>{name} %{{y:+.2f}} pts<extra></extra>",
            )
        )
    fig.update_layout(
        base_layout(
            uirevision=f"skew:{underlying}",
            title="25-delta risk reversal and butterfly",
            height=300,
            xaxis=axis("days to expiry"),
            yaxis=axis("vol points"),
            legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 1, "xanchor": "right"},
        )
    )
    return fig


def surface_figures(
    payload: Mapping[str, Any], quotes: Mapping[int, SmileQuotes] | None = None
) -> dict[str, go.Figure]:
    """Every figure of the surface page, keyed by the id of the element that draws it."""
    return {
        "surface-3d": surface_figure(payload),
        "smiles": smiles_figure(payload, quotes),
        "term-structure": term_structure_figure(payload),
        "skew": skew_figure(payload),
    }
