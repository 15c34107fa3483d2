"""Plotly builders for curves and bars: data in, ``go.Figure`` out (latent maps: explorer.logic.figures).

No Streamlit here, so every builder can be tested (and reused in notebooks) on its own.
Axis titles carry their units: losses are in nats per image, pixel changes are on the
[0, 1] intensity scale.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from core.evaluate import ACTIVE_UNIT_THRESHOLD
from explorer.logic.palette import CLASS_COLORS  # one palette for every chart
from explorer.logic.plaintext import plotly_text

HIGHLIGHT = "#d62728"
MUTED = "#b8bcc2"
NATS = "nats per image"


def _base_layout(height: int, legend: bool = True) -> dict:
    """Size, margins and legend; colours come from Streamlit's theme (st.plotly_chart's default)."""
    return dict(
        height=height, margin=dict(l=10, r=10, t=10, b=10), showlegend=legend,
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="right", x=1),
    )


def _panels(n: int, gap: float) -> list[list[float]]:
    """x domains of n side-by-side panels separated by ``gap`` (a fraction of the width)."""
    width = (1.0 - gap * (n - 1)) / n
    return [[k * (width + gap), k * (width + gap) + width] for k in range(n)]


def _axis(k: int, letter: str) -> str:
    """Layout key of panel k's axis (0-based): xaxis, xaxis2, ..."""
    return f"{letter}axis" if k == 0 else f"{letter}axis{k + 1}"


def _ref(k: int, letter: str) -> str:
    """Trace reference to panel k's axis: x, x2, ..."""
    return letter if k == 0 else f"{letter}{k + 1}"


def path_measures_chart(rows: Mapping[str, tuple[Sequence[float], Sequence[float], tuple[float, float] | None]],
                        height: int = 420) -> go.Figure:
    """Two measures of interpolation paths over many pairs, one box per model, the pair on screen starred.

    rows: model label -> (per-pair largest step / mean step, per-pair share of intermediates
    recognised, this pair's two values or None). Top panel: how even the steps are (1 = perfectly
    even); bottom: how much of the path is on the data. Horizontal boxes: readable at phone width.
    """
    traces = []
    for k, (name, (unevenness, recognised, here)) in enumerate(rows.items()):
        label = plotly_text(name)  # a model's title may come from a visitor's upload
        color = CLASS_COLORS[k % len(CLASS_COLORS)]
        for axis, per_pair, scale in (("", unevenness, 1.0), ("2", recognised, 100.0)):
            traces.append(go.Box(
                x=np.asarray(per_pair, dtype=float) * scale, y=[label] * len(per_pair), name=label, orientation="h",
                xaxis=f"x{axis}", yaxis=f"y{axis}", marker=dict(color=color), boxmean=True, boxpoints=False,
                showlegend=False, hoverinfo="x",
            ))
            if here is not None:
                traces.append(go.Scatter(
                    x=[here[0] if axis == "" else here[1] * scale], y=[label], xaxis=f"x{axis}", yaxis=f"y{axis}",
                    mode="markers", name=f"{label}: this pair", showlegend=False,
                    marker=dict(symbol="star", size=15, color=color, line=dict(color="black", width=1)),
                    hovertemplate=f"{label}, this pair: %{{x:.2f}}<extra></extra>",
                ))
    return go.Figure(traces, dict(
        _base_layout(height, legend=False),
        xaxis=dict(title=dict(text="largest step / mean step (1 = even steps)"), anchor="y", rangemode="tozero"),
        yaxis=dict(domain=[0.58, 1.0], automargin=True),
        xaxis2=dict(title=dict(text="intermediate images recognised (%)"), anchor="y2", range=[-2, 102]),
        yaxis2=dict(domain=[0.0, 0.4], automargin=True),
        margin=dict(l=10, r=10, t=10, b=10),
    ))


# Where a point's β label may go, tried in order until it overlaps no other label or point.
# A descending curve runs from top left to bottom right, so the spots across it come first.
_LABEL_SPOTS = (("top right", 1, 1), ("bottom left", -1, -1), ("middle right", 1, 0), ("middle left", -1, 0),
                ("top center", 0, 1), ("bottom center", 0, -1), ("top left", -1, 1), ("bottom right", 1, -1))
_LABEL_OFFSET = 20  # px: the label trace's invisible marker, which Plotly offsets the text by (half of it)


def _label_positions(x: np.ndarray, y: np.ndarray, texts: Sequence[str], width: float, height: float,
                     keep: int | None = None) -> list[str | None]:
    """A textposition per point whose label overlaps no other label or marker on a plot of
    ``width`` x ``height`` pixels (x, y already in [0, 1] of the axes), or None: no label there
    (its β stays in the hover). ``keep``: the point labelled first (the chosen β)."""
    char_w, text_h, gap = 7.0, 14.0, _LABEL_OFFSET / 2
    px, py = x * width, y * height
    markers = [(a - r, b - r, a + r, b + r) for i, (a, b) in enumerate(zip(px, py)) for r in [9 if i == keep else 5]]
    boxes: list[tuple[float, float, float, float]] = []
    out: list[str | None] = [None] * len(x)
    order = ([keep] if keep is not None else []) + [i for i in range(len(x)) if i != keep]
    for i in order:
        w = char_w * len(texts[i])
        for spot, dx, dy in _LABEL_SPOTS:
            cx = px[i] + dx * (gap + w / 2)
            cy = py[i] + dy * (gap + text_h / 2)
            box = (cx - w / 2, cy - text_h / 2, cx + w / 2, cy + text_h / 2)
            inside = box[0] >= 0 and box[2] <= width and box[1] >= 0 and box[3] <= height
            clear = all(box[2] <= o[0] or box[0] >= o[2] or box[3] <= o[1] or box[1] >= o[3]
                        for j, o in enumerate(boxes + markers) if not (j >= len(boxes) and j - len(boxes) == i))
            if inside and clear:
                boxes.append(box)
                out[i] = spot
                break
    return out


def rate_distortion_chart(
    betas: Sequence[float],
    rates: Sequence[float],
    distortions: Sequence[float],
    chosen: int | None = None,
    likelihood: str = "",
    height: int = 400,
    rate_std: Sequence[float] | None = None,
    distortion_std: Sequence[float] | None = None,
    extra: Sequence[tuple[str, float, float]] = (),
    narrowest: float = 300.0,
) -> go.Figure:
    """Reconstruction (distortion) against KL (rate) for a beta sweep, one point per beta.

    betas/rates/distortions: per model, in the same order (sorted by beta here); chosen: index
    (into the inputs) of the point to highlight; rate_std / distortion_std: the seed-to-seed
    standard deviations, drawn as error bars (NaN: none for that point); extra: (label, rate,
    distortion) of other models drawn beside the sweep (the visitor's own). The rate axis is
    logarithmic (β = 0 has tens of times the rate of β = 1). β labels are placed so that none
    overlaps another on a plot ``narrowest`` pixels wide (a phone); a label without room is left
    to the hover.
    """
    if not len(betas) == len(rates) == len(distortions):
        raise ValueError("betas, rates and distortions must have the same length")
    order = np.argsort(np.asarray(betas, dtype=float), kind="stable")
    b = np.asarray(betas, dtype=float)[order]
    r = np.maximum(np.asarray(rates, dtype=float)[order], 1e-3)
    d = np.asarray(distortions, dtype=float)[order]
    errors = {}
    for axis, std in (("error_x", rate_std), ("error_y", distortion_std)):
        if std is not None and len(std) == len(b) and np.isfinite(np.asarray(std, dtype=float)).any():
            errors[axis] = dict(type="data", array=np.nan_to_num(np.asarray(std, dtype=float)[order]),
                                visible=True, thickness=1.2, width=4)
    xs = np.log10(np.concatenate([r, [max(e[1], 1e-3) for e in extra]]))
    ys = np.concatenate([d, [e[2] for e in extra]])
    x_lo, x_hi = float(xs.min()), float(xs.max())
    x_pad = 0.12 * max(x_hi - x_lo, 0.3)
    x_range = [x_lo - x_pad, x_hi + x_pad]
    lo, hi = float(ys.min()), float(ys.max())
    y_pad = 0.15 * (hi - lo) if hi > lo else max(1.0, 0.05 * abs(hi))
    y_range = [lo - y_pad, hi + y_pad]
    texts = [f"β={v:g}" for v in b]
    chosen_sorted = None if chosen is None else int(np.flatnonzero(order == chosen)[0])
    spots = _label_positions((np.log10(r) - x_range[0]) / (x_range[1] - x_range[0]),
                             (d - y_range[0]) / (y_range[1] - y_range[0]), texts, narrowest, height - 110,
                             keep=chosen_sorted)
    traces = [go.Scatter(
        x=r, y=d, mode="lines+markers", name="β sweep" + (" (± 1 s.d. over seeds)" if errors else ""),
        line=dict(color=CLASS_COLORS[0]), marker=dict(size=9), customdata=b,
        hovertemplate="β=%{customdata:g}<br>KL %{x:.2f}<br>reconstruction %{y:.1f}<extra></extra>", **errors,
    ), go.Scatter(
        x=[r[i] for i, s in enumerate(spots) if s], y=[d[i] for i, s in enumerate(spots) if s], mode="markers+text",
        text=[texts[i] for i, s in enumerate(spots) if s], textposition=[s for s in spots if s],
        marker=dict(size=_LABEL_OFFSET, opacity=0), showlegend=False, hoverinfo="skip", name="β labels",
    )]
    if chosen is not None:
        traces.append(go.Scatter(
            x=[max(rates[chosen], 1e-3)], y=[distortions[chosen]], mode="markers", name=f"chosen: β={betas[chosen]:g}",
            marker=dict(size=18, color="rgba(0,0,0,0)", line=dict(color=HIGHLIGHT, width=3)),
            hovertemplate=f"chosen β={betas[chosen]:g}<extra></extra>",
        ))
    if extra:
        traces.append(go.Scatter(
            x=[max(e[1], 1e-3) for e in extra], y=[e[2] for e in extra], mode="markers", name="your models",
            marker=dict(symbol="diamond", size=11, color=CLASS_COLORS[1], line=dict(color="black", width=1)),
            text=[e[0] for e in extra],
            hovertemplate="%{text}<br>KL %{x:.2f}<br>reconstruction %{y:.1f}<extra></extra>",
        ))
    layout = _base_layout(height)
    layout["margin"] = dict(l=10, r=10, t=40, b=10)
    lik = f" ({likelihood})" if likelihood else ""
    return go.Figure(traces, dict(
        layout,
        xaxis=dict(title=dict(text="rate: KL, nats (log scale)"), type="log", range=x_range, dtick=1,
                   automargin=True),
        yaxis=dict(title=dict(text=f"distortion: reconstruction, nats{lik}"), range=y_range, automargin=True),
    ))


def kl_per_dim_heatmap(kl_by_label: Mapping[str, Sequence[float]], chosen: str | None = None,
                       threshold: float = ACTIVE_UNIT_THRESHOLD, height: int | None = None) -> go.Figure:
    """Per-dimension KL of each model (a row per beta), each row's dims sorted by KL, largest first.

    One heatmap instead of a panel per beta, so it reads at phone width: the colour is log10 of the
    KL, and dims at or below ``threshold`` (inactive units) are blank. Each row's label counts its
    active units; the ``chosen`` row's label is bold.
    """
    labels = list(kl_by_label)
    if not labels:
        raise ValueError("kl_by_label is empty")
    width = max(len(kl_by_label[k]) for k in labels)
    z = np.full((len(labels), width), np.nan)
    for row, label in enumerate(labels):
        kl = np.sort(np.asarray(kl_by_label[label], dtype=float))[::-1]
        z[row, : len(kl)] = np.where(kl > threshold, np.log10(np.maximum(kl, threshold)), np.nan)
    names = [f"{plotly_text(label)} · {int(np.sum(np.asarray(kl_by_label[label]) > threshold))} active"
             for label in labels]
    ticks = [f"<b>{n}</b>" if label == chosen else n for n, label in zip(names, labels)]
    fig = go.Figure(go.Heatmap(
        z=z, x=[str(i + 1) for i in range(width)], y=ticks, colorscale="Reds", xgap=1, ygap=1,
        zmin=np.log10(threshold), colorbar=dict(title=dict(text="log10 KL"), thickness=10, len=0.9),
        customdata=np.power(10, z), hovertemplate="%{y}<br>rank %{x}: KL %{customdata:.3f} nats<extra></extra>",
    ), dict(_base_layout(height or 60 + 26 * len(labels), legend=False)))
    fig.update_xaxes(title=dict(text="latent dims, sorted by KL (blank: inactive, ≤ 0.01 nats)"), automargin=True)
    fig.update_yaxes(autorange="reversed", automargin=True)
    return fig


def history_chart(history: Sequence[Mapping], height: int = 300, likelihood: str = "") -> go.Figure:
    """Reconstruction and KL per epoch, train (solid) and test (dashed), from EpochStats dicts.

    Deterministic models (KL always 0) get the reconstruction panel only.
    """
    epochs = [h["epoch"] for h in history]
    has_kl = any((h.get("train_kl") or 0) > 0 or (h.get("test_kl") or 0) > 0 for h in history)
    panels = [("reconstruction", f"reconstruction, {NATS}")] + ([("kl", f"KL, {NATS}")] if has_kl else [])
    layout = _base_layout(height)
    traces = []
    for k, ((key, title), domain) in enumerate(zip(panels, _panels(len(panels), 0.12))):
        for split, dash in (("train", "solid"), ("test", "dash")):
            values = [h.get(f"{split}_{key}") for h in history]
            if all(v is None for v in values):
                continue
            traces.append(go.Scatter(
                x=epochs, y=values, mode="lines+markers" if len(epochs) < 40 else "lines", name=split,
                legendgroup=split, showlegend=k == 0, marker=dict(size=5), xaxis=_ref(k, "x"), yaxis=_ref(k, "y"),
                line=dict(color=CLASS_COLORS[0] if split == "train" else CLASS_COLORS[1], dash=dash),
                hovertemplate=f"{split} {key}<br>epoch %{{x}}: %{{y:.2f}}<extra></extra>",
            ))
        lik = f" ({likelihood})" if likelihood and key == "reconstruction" else ""
        layout[_axis(k, "x")] = dict(domain=domain, anchor=_ref(k, "y"), title=dict(text="epoch"))
        layout[_axis(k, "y")] = dict(anchor=_ref(k, "x"), title=dict(text=title + lik))
    return go.Figure(traces, layout)


def principal_angle_bars(angles_deg: Sequence[float], height: int = 220) -> go.Figure:
    """Principal angles (degrees) between two subspaces, one bar each; 0° means the same direction."""
    angles = np.asarray(angles_deg, dtype=float)
    bars = go.Bar(
        x=[f"angle {i + 1}" for i in range(len(angles))], y=angles, marker_color=CLASS_COLORS[0],
        text=[f"{a:.2f}°" for a in angles], textposition="outside",
        hovertemplate="%{x}: %{y:.3f}°<extra></extra>",
    )
    return go.Figure([bars], dict(
        _base_layout(height, legend=False),
        yaxis=dict(title=dict(text="principal angle (degrees)"),
                   range=[0, max(90.0, float(angles.max(initial=0)) * 1.1)]),
    ))


def class_probability_bars(probabilities: Mapping[str, Sequence[float]], class_names: Sequence[str],
                           height: int = 240) -> go.Figure:
    """A classifier's probabilities per class, one group of bars per class and a colour per image."""
    bars = [go.Bar(x=list(class_names), y=np.asarray(p, dtype=float), name=plotly_text(label),
                   marker_color=CLASS_COLORS[k % len(CLASS_COLORS)],
                   hovertemplate=f"{plotly_text(label)}<br>%{{x}}: %{{y:.3f}}<extra></extra>")
            for k, (label, p) in enumerate(probabilities.items())]
    return go.Figure(bars, dict(_base_layout(height, legend=len(bars) > 1), barmode="group",
                                yaxis=dict(title=dict(text="probability"), range=[0, 1])))


def class_probability_heatmap(probabilities: np.ndarray, row_names: Sequence[str], class_names: Sequence[str],
                              chosen: int | None = None, height: int | None = None) -> go.Figure:
    """Probabilities (rows, classes) as a heatmap, a row per input (top to bottom); the ``chosen`` row's label is bold."""
    ticks = [f"<b>{n}</b>" if i == chosen else n for i, n in enumerate(row_names)]
    fig = go.Figure(go.Heatmap(
        z=np.asarray(probabilities, dtype=float), x=list(class_names), y=ticks, colorscale="Blues", zmin=0, zmax=1,
        xgap=1, ygap=1, colorbar=dict(title=dict(text="probability"), thickness=10, len=0.9),
        hovertemplate="%{y}<br>%{x}: %{z:.3f}<extra></extra>",
    ), dict(_base_layout(height or 60 + 22 * len(row_names), legend=False)))
    fig.update_yaxes(autorange="reversed", automargin=True, type="category")
    fig.update_xaxes(type="category", automargin=True)
    return fig


def pixel_change_map(change: np.ndarray, height: int = 260) -> go.Figure:
    """A map (H, W) of how much each pixel changed, on the [0, 1] intensity scale, square pixels, row 0 on top."""
    fig = go.Figure(go.Heatmap(
        z=np.asarray(change, dtype=float), colorscale="Reds", zmin=0, zmax=1,
        colorbar=dict(title=dict(text="|change|"), thickness=10, len=0.9),
        hovertemplate="row %{y}, column %{x}: %{z:.3f}<extra></extra>",
    ), dict(_base_layout(height, legend=False)))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", showticklabels=False, showgrid=False)
    fig.update_xaxes(showticklabels=False, showgrid=False, constrain="domain")
    return fig
