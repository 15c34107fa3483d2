"""Plotly figure builders for the Manifold page: data in, ``go.Figure`` out (no Streamlit).

    manifold_figure  an n x n grid of decoded images, the axes labelled in latent units
    density_figure   where the encoded data lies, in the same coordinates as a manifold
                     grid, with the grid's extent and its points drawn on top
"""

from __future__ import annotations

import base64
import io
from typing import NamedTuple, Sequence

import numpy as np
import plotly.graph_objects as go

from explorer.logic.figures import PRIOR_COLOR, PRIOR_SIGMAS, ellipse_xy, joined_outlines, padded_range, plain_figure

# White to blue (ColorBrewer Blues), spelled out: a named scale would reach plotly.js as a
# name, and plotly.js's own "Blues" runs the other way (these figures skip plotly.py's
# validation, which is what turns names into lists).
DENSITY_COLORSCALE = [[0.0, "#ffffff"], [0.15, "#deebf7"], [0.4, "#9ecae1"], [0.7, "#4292c6"], [1.0, "#08519c"]]


# --------------------------------------------------------------------------- manifold


def png_data_uri(picture: np.ndarray) -> str:
    """A picture (H, W) or (H, W, 3), float in [0, 1] or uint8, as a base64 PNG data URI."""
    from PIL import Image

    arr = np.asarray(picture)
    if arr.dtype != np.uint8:
        arr = (np.clip(arr, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(arr).save(buffer, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _tick_positions(n: int, max_ticks: int = 7) -> np.ndarray:
    step = max(1, int(np.ceil(n / max_ticks)))
    ticks = np.arange(0, n, step)
    if ticks[-1] != n - 1 and n - 1 - ticks[-1] >= step / 2:
        ticks = np.append(ticks, n - 1)
    return ticks


def manifold_figure(
    picture: np.ndarray | str,
    x_values: np.ndarray,
    y_values: np.ndarray,
    cell_shape: tuple[int, int],
    *,
    axis_titles: tuple[str, str] = ("z0", "z1"),
    title: str | None = None,
    height: int = 520,
) -> go.Figure:
    """An n x n grid of decoded images with the latent coordinates on the axes.

    Args:
        picture: the tiled grid without padding, (n*h, n*w) or (n*h, n*w, 3), or its PNG
            data URI (``png_data_uri``); row 0 is the top of the grid.
        x_values: (n,) latent value of each column, left to right.
        y_values: (n,) latent value of each row, top to bottom.
        cell_shape: (h, w) of one decoded image in pixels.

    The axes count cells (cell i spans [i, i + 1]); the tick labels give each cell's
    latent value, so a non-linear (inverse-CDF) spacing reads correctly.
    """
    h, w = cell_shape
    nx, ny = len(x_values), len(y_values)
    source = picture if isinstance(picture, str) else png_data_uri(picture)
    image = dict(type="image", source=source, x0=0.5 / w, dx=1.0 / w, y0=0.5 / h, dy=1.0 / h, hoverinfo="skip")
    xt, yt = _tick_positions(nx), _tick_positions(ny)
    layout = dict(
        height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
        xaxis=dict(title=dict(text=axis_titles[0]), range=[0, nx], tickvals=(xt + 0.5).tolist(),
                   ticktext=[f"{x_values[i]:.2f}" for i in xt], showgrid=False, zeroline=False),
        yaxis=dict(title=dict(text=axis_titles[1]), range=[ny, 0], tickvals=(yt + 0.5).tolist(),
                   ticktext=[f"{y_values[i]:.2f}" for i in yt], showgrid=False, zeroline=False,
                   scaleanchor="x", scaleratio=h / w),  # square pixels
    )
    return plain_figure([image], layout, title)


class Histogram2D(NamedTuple):
    counts: np.ndarray  # (ny, nx) counts, row 0 = smallest y
    x_centers: np.ndarray  # (nx,)
    y_centers: np.ndarray  # (ny,)


def histogram_2d(xy: np.ndarray, x_range: Sequence[float], y_range: Sequence[float], bins: int = 60) -> Histogram2D:
    """Counts of the points on a bins x bins grid over the given ranges."""
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    counts, xe, ye = np.histogram2d(xy[:, 0], xy[:, 1], bins=bins, range=[list(x_range), list(y_range)])
    return Histogram2D(counts.T, (xe[:-1] + xe[1:]) / 2, (ye[:-1] + ye[1:]) / 2)


def density_figure(
    xy: np.ndarray,
    grid_x: np.ndarray,
    grid_y: np.ndarray,
    *,
    axis_titles: tuple[str, str] = ("z0", "z1"),
    prior: bool = False,
    title: str | None = None,
    height: int = 520,
    bins: int | None = None,
) -> go.Figure:
    """Where the encoded data lies (a 2-D histogram, log-shaded) in the latent coordinates,
    with the decoded grid's points and its extent (a rectangle) on top.

    Args:
        xy: (N, 2) encoded test images in the grid's two dims (N may be 0: no data).
        grid_x, grid_y: (n,) the grid's values along each axis (any order).
        prior: also draw the N(0, I) prior's 1, 2, 3 sigma circles (VAE).
        bins: histogram bins per axis; None picks 15 to 60 from the number of points.
    """
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    gx, gy = np.sort(np.asarray(grid_x, float)), np.sort(np.asarray(grid_y, float))
    # Half a cell beyond the outer grid points: the area the decoded tiles stand for.
    hx = (gx[-1] - gx[0]) / max(1, len(gx) - 1) / 2
    hy = (gy[-1] - gy[0]) / max(1, len(gy) - 1) / 2
    box = [gx[0] - hx, gx[-1] + hx, gy[0] - hy, gy[-1] + hy]
    corners = np.array([[box[0], box[2]], [box[1], box[3]]])
    span_points = np.concatenate([xy, corners]) if len(xy) else corners
    if prior:
        span_points = np.concatenate([span_points, [[-3, -3], [3, 3]]])
    x_range, y_range = padded_range(span_points[:, 0]), padded_range(span_points[:, 1])
    traces: list[dict] = []
    if len(xy):
        if bins is None:  # about 8 points per occupied bin at most; 15 to 60 bins a side
            bins = int(np.clip(np.sqrt(len(xy)) * 0.6, 15, 60))
        hist = histogram_2d(xy, x_range, y_range, bins)
        traces.append(dict(
            type="heatmap", x=hist.x_centers, y=hist.y_centers, z=np.log1p(hist.counts),
            colorscale=DENSITY_COLORSCALE,
            showscale=False, name="data density", zsmooth="best",
            customdata=hist.counts, hovertemplate="(%{x:.2f}, %{y:.2f}): %{customdata:.0f} images<extra></extra>",
        ))
        traces.append(dict(
            type="scattergl", x=xy[:, 0], y=xy[:, 1], mode="markers", name="encoded test images", hoverinfo="skip",
            marker=dict(size=2.5, color="rgba(30, 60, 110, 0.35)"),
        ))
    if prior:
        px, py = joined_outlines([ellipse_xy((0.0, 0.0), np.eye(2), s) for s in PRIOR_SIGMAS])
        traces.append(dict(type="scatter", x=px, y=py, mode="lines", name="prior 1, 2, 3σ", hoverinfo="skip",
                           line=dict(color=PRIOR_COLOR, width=1.2, dash="dash")))
    mx, my = np.meshgrid(gx, gy)
    traces.append(dict(
        type="scatter", x=mx.ravel(), y=my.ravel(), mode="markers", name="decoded grid points",
        marker=dict(size=3, color="#e15759"), hoverinfo="skip",
    ))
    layout = dict(
        height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
        showlegend=False, plot_bgcolor="white",
        shapes=[dict(type="rect", x0=box[0], x1=box[1], y0=box[2], y1=box[3],
                     line=dict(color="#e15759", width=2), fillcolor="rgba(0,0,0,0)")],
        xaxis=dict(title=dict(text=axis_titles[0]), range=x_range, zeroline=False, showgrid=False),
        yaxis=dict(title=dict(text=axis_titles[1]), range=y_range, zeroline=False, showgrid=False,
                   scaleanchor="x", scaleratio=1),
    )
    return plain_figure(traces, layout, title)


__all__ = ["DENSITY_COLORSCALE", "Histogram2D", "png_data_uri", "manifold_figure", "histogram_2d", "density_figure"]
