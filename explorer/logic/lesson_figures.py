"""Plotly pieces of the Lesson page: a click target over a chart, predictions drawn on it, class votes.

A Plotly click only reports points of a trace, so a prediction "click where you expect it"
lays a fine grid of invisible points over the plot area: the clicked grid point is the
prediction (``clicked_point`` reads it from Streamlit's selection state).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from explorer.logic import figures

CLICK_GRID_NAME = "click to predict"
GRID_POINTS = 61  # per axis: a click lands within 1/120 of the axis' range of where it was meant


def add_click_grid(fig: go.Figure, x_range: Sequence[float], y_range: Sequence[float], log_x: bool = False) -> go.Figure:
    """Overlay GRID_POINTS² clickable, transparent points spanning the given ranges (``log_x``: x_range is in
    log10 units, as Plotly gives a log axis' range, and the points are spaced evenly on that axis)."""
    x = np.linspace(*x_range, GRID_POINTS)
    xs, ys = np.meshgrid(10.0 ** x if log_x else x, np.linspace(*y_range, GRID_POINTS))
    fig.add_trace(go.Scattergl(
        x=xs.ravel(), y=ys.ravel(), mode="markers", name=CLICK_GRID_NAME, showlegend=False,
        marker=dict(size=9, color="rgba(0,0,0,0)"), hovertemplate="(%{x:.2f}, %{y:.2f})<extra>click</extra>"))
    fig.update_layout(dragmode=False, clickmode="event+select")
    return fig


def clicked_point(state: Any) -> tuple[float, float] | None:
    """(x, y) of the clicked point in a Plotly selection state (Streamlit's or a dict of its shape)."""
    for point in figures.selection_points(state):
        try:
            return float(point["x"]), float(point["y"])
        except (KeyError, TypeError, ValueError):
            continue
    return None


def add_points(fig: go.Figure, points: Sequence[Sequence[float]], name: str, color: str, symbol: str,
               size: int = 14) -> go.Figure:
    """Predictions or answers drawn over a chart (WebGL, so they sit above a WebGL map)."""
    if len(points):
        xy = np.asarray(points, float).reshape(-1, 2)
        fig.add_trace(go.Scattergl(x=xy[:, 0], y=xy[:, 1], mode="markers", name=name,
                                   marker=dict(size=size, color=color, symbol=symbol,
                                               line=dict(width=2, color="white"))))
    return fig


def votes_figure(options: Sequence[str], counts: Sequence[int], answer: str | None = None,
                 height: int = 260) -> go.Figure:
    """The class's votes per option; the measured answer's bar in green once revealed."""
    colors = ["#2ca02c" if answer is not None and o == answer else "#7f7f7f" for o in options]
    bars = go.Bar(x=list(options), y=list(counts), marker_color=colors, text=[str(c) for c in counts],
                  textposition="outside", hovertemplate="%{x}: %{y}<extra></extra>")
    top = max([1, *counts])
    return go.Figure([bars], dict(height=height, margin=dict(l=10, r=10, t=30, b=10), showlegend=False,
                                  yaxis=dict(title=dict(text="students"), range=[0, top * 1.25]),
                                  font=dict(size=16)))


__all__ = ["CLICK_GRID_NAME", "GRID_POINTS", "add_click_grid", "clicked_point", "add_points", "votes_figure"]
