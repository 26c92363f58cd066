"""Plotly figure builders for the dashboard pages: pure functions from payload dicts to figures.

No Django, no I/O: each builder takes the data a page already has (a surface payload, quotes,
a risk snapshot cut) and returns a ``plotly.graph_objects.Figure``. Pages ship
:func:`figure_dict` of it to the browser, where plotly.js draws it and later swaps it with
``Plotly.react``; every figure carries ``layout.uirevision`` so a user's camera, zoom and
legend choices survive those swaps.
"""

from __future__ import annotations

import json
from typing import Any

import plotly.graph_objects as go

__all__ = ["base_layout", "figure_dict"]

# The page palette (static/css/app.css), so the charts sit in the dark theme.
BG = "#17212b"
FG = "#e6edf3"
GRID = "#2c3b4a"
MUTED = "#8b9bab"


def base_layout(*, uirevision: str, title: str | None = None, **extra: Any) -> dict[str, Any]:
    """Layout shared by every figure: theme colours, compact margins, the given ``uirevision``.

    ``template="none"`` keeps the default template (about 10 kB of JSON) out of every push."""
    layout: dict[str, Any] = {
        "template": "none",
        "uirevision": uirevision,
        "paper_bgcolor": BG,
        "plot_bgcolor": BG,
        "font": {"color": FG, "family": "system-ui, sans-serif", "size": 12},
        "margin": {"l": 60, "r": 20, "t": 40 if title else 16, "b": 50},
        "legend": {"orientation": "h", "y": -0.2},
    }
    if title:
        layout["title"] = {"text": title, "x": 0.01, "font": {"size": 14}}
    layout.update(extra)
    return layout


def axis(title: str, **extra: Any) -> dict[str, Any]:
    """An axis in the theme (grid lines visible on the dark background)."""
    return {"title": {"text": title}, "gridcolor": GRID, "zerolinecolor": MUTED, **extra}


def figure_dict(fig: go.Figure) -> dict[str, Any]:
    """The figure as plain JSON types (NumPy arrays become lists), ready for ``json_script``."""
    return json.loads(fig.to_json())
