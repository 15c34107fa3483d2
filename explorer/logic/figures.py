"""Plotly figure builders for the exploration pages: data in, ``go.Figure`` out.

Pure functions (no Streamlit): every figure can be built and checked in a plain test.

    latent_map       the encoded test set as a WebGL scatter, one trace per class, with
                     optional posterior ellipses, the prior's 1/2/3-sigma circles, a
                     highlighted point and uploaded images as stars
    latent_map_grid  several latent maps side by side in one figure (one per model)

and the helpers they share with explorer/logic/manifold_figures.py (the Manifold page's
decoded grid and data density): ``plain_figure``, ``padded_range``, the prior's outlines.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np
import plotly.graph_objects as go

from explorer.logic.palette import CLASS_COLORS, YOUR_IMAGE_FILL, YOUR_IMAGE_LINE, YOUR_IMAGE_SYMBOL, class_color
from explorer.logic.plaintext import plotly_text

PRIOR_COLOR = "rgba(60, 60, 60, 0.55)"
ELLIPSE_COLOR = "rgba(40, 40, 40, 0.35)"
HIGHLIGHT_COLOR = "#111111"
PRIOR_SIGMAS = (1.0, 2.0, 3.0)


class Ellipses(NamedTuple):
    """Gaussian ellipses to draw: ``n_std`` standard deviations around each centre."""

    centers: np.ndarray  # (K, 2)
    covariances: np.ndarray  # (K, 2, 2)
    n_std: float = 2.0


class MapMarker(NamedTuple):
    """A point drawn over the map (a selected image, an upload)."""

    x: float
    y: float
    label: str


# --------------------------------------------------------------------------- geometry


def ellipse_xy(center: Sequence[float], covariance: np.ndarray, n_std: float = 2.0,
               n_points: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """The closed outline {c + n_std * L u : |u| = 1} of a 2-D Gaussian, L L^T = covariance.

    For a diagonal covariance diag(s0^2, s1^2) it is the axis-aligned ellipse with
    half-axes n_std * s0 and n_std * s1. Returns (x, y), each (n_points + 1,), first = last.
    """
    cov = np.asarray(covariance, dtype=np.float64).reshape(2, 2)
    if not np.all(np.isfinite(cov)):
        raise ValueError("covariance holds non-finite values")
    values, vectors = np.linalg.eigh((cov + cov.T) / 2)
    if values.min() < -1e-9 * max(1.0, abs(values.max())):
        raise ValueError(f"covariance must be positive semi-definite; its eigenvalues are {values.tolist()}")
    radii = n_std * np.sqrt(np.clip(values, 0.0, None))
    t = np.linspace(0.0, 2.0 * np.pi, n_points + 1)
    circle = np.stack([np.cos(t), np.sin(t)])  # (2, P)
    outline = vectors @ (radii[:, None] * circle)
    return center[0] + outline[0], center[1] + outline[1]


def ellipses_xy(centers: np.ndarray, covariances: np.ndarray, n_std: float = 2.0,
                n_points: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """Many outlines (as ellipse_xy) in one vectorised pass, joined with NaN breaks for one trace."""
    centers = np.asarray(centers, dtype=np.float64).reshape(-1, 2)
    covs = np.asarray(covariances, dtype=np.float64).reshape(-1, 2, 2)
    if not np.all(np.isfinite(covs)):
        raise ValueError("covariances hold non-finite values")
    values, vectors = np.linalg.eigh((covs + covs.transpose(0, 2, 1)) / 2)  # (K, 2), (K, 2, 2)
    radii = n_std * np.sqrt(np.clip(values, 0.0, None))
    t = np.linspace(0.0, 2.0 * np.pi, n_points + 1)
    circle = np.stack([np.cos(t), np.sin(t)])  # (2, P)
    outline = np.einsum("kij,kj,jp->kip", vectors, radii, circle) + centers[:, :, None]  # (K, 2, P)
    gap = np.full((len(centers), 2, 1), np.nan)
    joined = np.concatenate([outline, gap], axis=2)  # NaN after each curve
    return joined[:, 0].ravel(), joined[:, 1].ravel()


def joined_outlines(outlines: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Many closed curves as one trace: NaN between them breaks the line."""
    if not outlines:
        return np.array([]), np.array([])
    xs, ys = [], []
    for x, y in outlines:
        xs.extend([x, [np.nan]])
        ys.extend([y, [np.nan]])
    return np.concatenate(xs), np.concatenate(ys)


def plain_figure(traces: list[dict], layout: dict, title: str | None) -> go.Figure:
    """A go.Figure from plain dicts, without Plotly's per-property validation.

    Validation costs tens of milliseconds per figure, which a page pays on every rerun;
    these builders only set properties that exist (tests/test_figures.py checks each
    figure against the validating constructor).
    """
    if title:
        layout = {**layout, "title": dict(text=plotly_text(title))}
    spec = {"data": traces, "layout": layout}
    try:
        return go.Figure(spec, _validate=False)
    except TypeError:  # a Plotly without the private switch: validate after all
        return go.Figure(spec)


def padded_range(values: np.ndarray, pad: float = 0.06) -> list[float]:
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    span = hi - lo if hi > lo else max(1.0, abs(lo))
    return [lo - pad * span, hi + pad * span]


# --------------------------------------------------------------------------- latent map


def _class_traces(xy: np.ndarray, labels: np.ndarray | None, class_names: Sequence[str] | None,
                  index: np.ndarray, axis_titles: tuple[str, str]) -> list[dict]:
    """One WebGL scatter per class, in label order (one "images" trace for unlabeled data)."""
    n = len(xy)
    traces: list[dict] = []
    if labels is None:
        groups = [(None, np.arange(n))]
    else:
        labels = np.asarray(labels).reshape(-1)
        if len(labels) != n:
            raise ValueError(f"labels has {len(labels)} entries but xy has {n} points")
        groups = [(int(c), np.flatnonzero(labels == c)) for c in np.unique(labels)]
    marker_size = 6 if n <= 2000 else 4
    for label, members in groups:
        name = "images" if label is None else plotly_text(
            class_names[label] if class_names is not None and label < len(class_names) else label)
        traces.append(dict(
            type="scattergl", x=xy[members, 0], y=xy[members, 1], mode="markers", name=str(name),
            customdata=index[members].reshape(-1, 1),
            marker=dict(size=marker_size, color=class_color(label or 0), opacity=0.75, line=dict(width=0)),
            hovertemplate=f"{name} · image %{{customdata[0]}}<br>({axis_titles[0]}, {axis_titles[1]}) = "
                          "(%{x:.2f}, %{y:.2f})<extra></extra>",
        ))
    return traces


def _overlay_traces(xy: np.ndarray, ellipses: Ellipses | None, prior_center: Sequence[float] | None,
                    highlight: MapMarker | None, samples: np.ndarray | None,
                    markers: Sequence[MapMarker]) -> tuple[list[dict], list[np.ndarray]]:
    """What is drawn over the data (ellipses, prior circles, highlight, draws, stars), and the
    points the axes must show."""
    n = len(xy)
    traces: list[dict] = []
    extent = [xy] if n else []
    if ellipses is not None and len(ellipses.centers):
        ex, ey = ellipses_xy(ellipses.centers, ellipses.covariances, ellipses.n_std)
        traces.append(dict(
            type="scattergl", x=ex, y=ey, mode="lines", name=f"q(z|x) ±{ellipses.n_std:g}σ",
            line=dict(color=ELLIPSE_COLOR, width=1), hoverinfo="skip",
        ))
        extent.append(np.stack([ex, ey], 1))
    if prior_center is not None:
        outlines = [ellipse_xy(prior_center, np.eye(2), s) for s in PRIOR_SIGMAS]
        px, py = joined_outlines(outlines)
        traces.append(dict(
            type="scattergl", x=px, y=py, mode="lines", name="prior 1, 2, 3σ",
            line=dict(color=PRIOR_COLOR, width=1.5, dash="dash"), hoverinfo="skip",
        ))
        extent.append(np.stack([px, py], 1))
    if highlight is not None:
        shown = plotly_text(highlight.label)
        traces.append(dict(
            type="scattergl", x=[highlight.x], y=[highlight.y], mode="markers", name=shown,
            marker=dict(size=16, color="rgba(0,0,0,0)", line=dict(width=2.5, color=HIGHLIGHT_COLOR)),
            hovertemplate=f"{shown}<extra></extra>",
        ))
        extent.append(np.array([[highlight.x, highlight.y]]))
    if samples is not None and len(samples):
        samples = np.asarray(samples, dtype=np.float64).reshape(-1, 2)
        traces.append(dict(
            type="scattergl", x=samples[:, 0], y=samples[:, 1], mode="markers", name="z ~ q(z|x)",
            marker=dict(symbol="x", size=9, color=HIGHLIGHT_COLOR, line=dict(width=1, color="white")),
            hovertemplate="z ~ q(z|x): (%{x:.2f}, %{y:.2f})<extra></extra>",
        ))
        extent.append(samples)
    for m in markers:
        shown = plotly_text(m.label)
        traces.append(dict(
            type="scattergl", x=[m.x], y=[m.y], mode="markers+text", name=shown, text=[shown],
            textposition="top center",
            marker=dict(symbol=YOUR_IMAGE_SYMBOL, size=20, color=YOUR_IMAGE_FILL, line=dict(width=1.5, color=YOUR_IMAGE_LINE)),
            hovertemplate=f"{shown}: (%{{x:.2f}}, %{{y:.2f}})<extra></extra>",
        ))
        extent.append(np.array([[m.x, m.y]]))
    return traces, extent


def latent_map(
    xy: np.ndarray,
    labels: np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
    *,
    index: np.ndarray | None = None,
    axis_titles: tuple[str, str] = ("z0", "z1"),
    ellipses: Ellipses | None = None,
    prior_center: Sequence[float] | None = None,
    highlight: MapMarker | None = None,
    samples: np.ndarray | None = None,
    markers: Sequence[MapMarker] = (),
    title: str | None = None,
    height: int = 560,
) -> go.Figure:
    """The encoded data as a 2-D scatter, coloured by label.

    Args:
        xy: (N, 2) coordinates (two latent dims, or a projection); N may be 0.
        labels: (N,) int class indices, or None for unlabeled data (one trace).
        class_names: names for the legend (``class_names[label]``); default ``str(label)``.
        index: (N,) dataset index of each point, stored as ``customdata`` so a click
            tells which image it was (default ``arange(N)``).
        ellipses: posterior ellipses (mean +- n_std sigma) for some points.
        prior_center: draw the N(0, I) prior's 1, 2 and 3 sigma circles around this point
            (the origin in latent dims; elsewhere in a projection), None to skip.
        highlight: a ringed point (the selected image).
        samples: (K, 2) codes drawn from the selected image's posterior (small crosses).
        markers: stars (uploaded images).

    The data traces come first, one per class in label order, so a selection event's
    ``curve_number`` is the class trace and ``customdata`` the dataset index. Everything drawn
    over the data (ellipses, circles, highlight, draws, stars) is WebGL too: Plotly paints
    WebGL above SVG, so SVG marks would hide under thousands of points.
    Both axes use the same scale: circles look round and ellipses keep their shape.
    """
    traces, xaxis, yaxis = _map_parts(xy, labels, class_names, index, axis_titles, ellipses=ellipses,
                                      prior_center=prior_center, highlight=highlight, samples=samples, markers=markers)
    layout = dict(
        height=height, margin=dict(l=10, r=10, t=70 if title else 50, b=10),
        legend=dict(itemsizing="constant", orientation="h", yanchor="bottom", y=1.01, x=0),
        xaxis=xaxis, yaxis={**yaxis, "scaleanchor": "x"}, dragmode="pan", uirevision="latent-map",
    )
    return plain_figure(traces, layout, title)


def _map_parts(xy: np.ndarray, labels: np.ndarray | None, class_names: Sequence[str] | None,
               index: np.ndarray | None, axis_titles: tuple[str, str], *, ellipses: Ellipses | None = None,
               prior_center: Sequence[float] | None = None, highlight: MapMarker | None = None,
               samples: np.ndarray | None = None, markers: Sequence[MapMarker] = ()) -> tuple[list[dict], dict, dict]:
    """A latent map's traces and its two axes (titles, ranges that show every mark)."""
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    n = len(xy)
    index = np.arange(n) if index is None else np.asarray(index).reshape(-1)
    if len(index) != n:
        raise ValueError(f"index has {len(index)} entries but xy has {n} points")
    traces = _class_traces(xy, labels, class_names, index, axis_titles)
    drawn, extent = _overlay_traces(xy, ellipses, prior_center, highlight, samples, markers)
    traces += drawn
    points = np.concatenate(extent) if extent else np.zeros((1, 2))
    points = points[np.isfinite(points).all(1)]
    if not len(points):
        points = np.zeros((1, 2))
    xaxis = dict(title=dict(text=axis_titles[0]), range=padded_range(points[:, 0]), zeroline=False)
    yaxis = dict(title=dict(text=axis_titles[1]), range=padded_range(points[:, 1]), zeroline=False, scaleratio=1)
    return traces, xaxis, yaxis


class MapPanel(NamedTuple):
    """One map of ``latent_map_grid``: its points and what is drawn with them."""

    xy: np.ndarray  # (N, 2)
    labels: np.ndarray | None
    index: np.ndarray  # (N,) dataset index of each point
    axis_titles: tuple[str, str]
    prior_center: Sequence[float] | None  # the prior's circles (a VAE), None for none
    title: str


def latent_map_grid(panels: Sequence[MapPanel], class_names: Sequence[str] | None = None, *, ncols: int = 2,
                    row_height: int = 380) -> go.Figure:
    """Several latent maps in one figure, ``ncols`` to a row, each with its own axes (each model
    puts its codes at its own scale) and both axes of a map on one scale.

    One figure rather than one chart per map: the browser draws them all in one WebGL context,
    so four maps of 2,000 points are on screen in 0.62 s instead of 1.14 s after a reload
    (headless Chromium, 2 cores), and the page's pictures above them are not held up as long.
    The classes share one legend: a click on a class hides it in every map.
    """
    if not panels:
        raise ValueError("latent_map_grid needs at least one map")
    ncols = max(1, min(ncols, len(panels)))
    nrows = -(-len(panels) // ncols)
    legend_px, title_px, gap_px = 40, 28, 56
    height = legend_px + nrows * (row_height + title_px) + (nrows - 1) * gap_px
    x_gap = 0.08
    width = (1 - x_gap * (ncols - 1)) / ncols
    traces: list[dict] = []
    layout: dict = dict(height=height, margin=dict(l=10, r=10, t=legend_px, b=10), dragmode="pan",
                        legend=dict(itemsizing="constant", orientation="h", yanchor="bottom", y=1.0, x=0),
                        uirevision="latent-map-grid", annotations=[])
    in_legend: set[str] = set()
    for k, panel in enumerate(panels):
        row, col = divmod(k, ncols)
        suffix = "" if k == 0 else str(k + 1)
        top = 1 - row * (row_height + title_px + gap_px) / (height - legend_px)
        bottom = top - (row_height + title_px) / (height - legend_px)
        y_domain = [max(0.0, bottom), top - title_px / (height - legend_px)]
        x_domain = [col * (width + x_gap), col * (width + x_gap) + width]
        map_traces, xaxis, yaxis = _map_parts(panel.xy, panel.labels, class_names, panel.index, panel.axis_titles,
                                              prior_center=panel.prior_center)
        for trace in map_traces:
            trace.update(xaxis=f"x{suffix}", yaxis=f"y{suffix}", legendgroup=trace["name"],
                         showlegend=trace["name"] not in in_legend)
            in_legend.add(trace["name"])
        traces += map_traces
        layout[f"xaxis{suffix}"] = {**xaxis, "domain": x_domain, "anchor": f"y{suffix}"}
        layout[f"yaxis{suffix}"] = {**yaxis, "domain": y_domain, "anchor": f"x{suffix}", "scaleanchor": f"x{suffix}"}
        layout["annotations"].append(dict(text=f"<b>{plotly_text(panel.title)}</b>", showarrow=False, xref="paper", yref="paper",
                                          x=sum(x_domain) / 2, y=top, xanchor="center", yanchor="top"))
    return plain_figure(traces, layout, None)


__all__ = [
    "CLASS_COLORS", "PRIOR_COLOR", "PRIOR_SIGMAS", "Ellipses", "MapMarker", "MapPanel", "class_color", "ellipse_xy",
    "ellipses_xy", "joined_outlines", "padded_range", "plain_figure", "latent_map", "latent_map_grid",
]


def selection_points(state: Any) -> list:
    """The points of a Plotly selection state (Streamlit's PlotlyState or a dict of its shape), or []."""
    try:
        return list(state["selection"]["points"] or [])
    except (KeyError, TypeError):
        return []
