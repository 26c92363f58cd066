"""The scenario PnL heatmap: spot shock (rows) x vol shock (columns) → PnL in USD.

Input is the risk snapshot's grid of one scope (``apps.risk.services.book``: rows follow
``shocks["spot"]`` (fractions), columns ``shocks["vol_points"]``). Every cell prints its
signed amount (``-1.2M``), so losses read without the colours; the scale is diverging and
centred on zero (red losses, blue gains).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from apps.dashboard.figures import axis, base_layout

__all__ = ["amount", "scenario_heatmap"]

# Red for losses, blue for gains; white at zero.
PNL_SCALE = [[0.0, "#b2182b"], [0.5, "#f7f7f7"], [1.0, "#2166ac"]]


def amount(x: float | None) -> str:
    """``-1.2M``, ``+950K``, ``0``: signed and short, as the risk pages write PnL."""
    if x is None:
        return "n/a"
    magnitude = abs(x)
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if magnitude >= size:
            return f"{x / size:+.3g}{suffix}"
    return "0" if magnitude < 0.5 else f"{x:+.3g}"


def scenario_heatmap(
    shocks: Mapping[str, Sequence[float]],
    grid: Sequence[Sequence[float | None]],
    *,
    uirevision: str,
    title: str | None = None,
) -> go.Figure:
    """The grid as a heatmap with the amount written in each cell; an empty grid (no priced
    position) gives an empty figure with a note."""
    spot = [f"{100.0 * float(s):+.0f}%" for s in shocks.get("spot", [])]
    vols = [f"{float(v):+g}" for v in shocks.get("vol_points", [])]
    fig = go.Figure()
    rows = [list(row) for row in grid]
    if rows and len(rows) == len(spot) and all(len(r) == len(vols) for r in rows):
        finite = [abs(c) for r in rows for c in r if c is not None]
        bound = max(finite, default=0.0) or 1.0
        fig.add_trace(
            go.Heatmap(
                x=vols,
                y=spot,
                z=rows,
                zmid=0.0,
                zmin=-bound,
                zmax=bound,
                colorscale=PNL_SCALE,
                text=[[amount(c) for c in r] for r in rows],
                texttemplate="%{text}",
                textfont={"size": 11},
                colorbar={"title": {"text": "PnL USD"}},
                hovertemplate="spot %{y}, vol %{x} pts<br>PnL %{z:,.0f} USD<extra></extra>",
                xgap=1,
                ygap=1,
            )
        )
    else:
        fig.add_annotation(text="No priced positions", showarrow=False, font={"size": 14})
    layout: dict[str, Any] = base_layout(
        uirevision=uirevision,
        title=title,
        height=440,
        xaxis=axis("vol shock (vol points)", type="category"),
        yaxis=axis("spot shock", type="category"),
    )
    fig.update_layout(layout)
    return fig
