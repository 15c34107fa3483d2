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


def rate_distortion_chart(
    betas: Sequence[float],
    rates: Sequence[float],
    distortions: Sequence[float],
    chosen: int | None = None,
    kl_only: tuple[float, float] | None = None,
    likelihood: str = "",
    height: int = 400,
    rate_std: Sequence[float] | None = None,
    distortion_std: Sequence[float] | None = None,
) -> go.Figure:
    """Reconstruction (distortion) against KL (rate) for a beta sweep, one point per beta.

    betas/rates/distortions: per model, in the same order (sorted by beta here);
    chosen: index (into the inputs) of the point to highlight; kl_only: (rate, distortion)
    of the model trained on the KL term alone, drawn as its own marker (pinned to the top edge,
    value in its label, when it lies far above the sweep); rate_std / distortion_std: the
    seed-to-seed standard deviations, drawn as error bars (NaN: none for that point).
    β = 0 is labelled as the reconstruction-only end of the curve.
    """
    if not len(betas) == len(rates) == len(distortions):
        raise ValueError("betas, rates and distortions must have the same length")
    order = np.argsort(np.asarray(betas, dtype=float), kind="stable")
    b = np.asarray(betas, dtype=float)[order]
    r = np.asarray(rates, dtype=float)[order]
    d = np.asarray(distortions, dtype=float)[order]
    labels = ["β=0: reconstruction only" if v == 0 else f"β={v:g}" for v in b]
    errors = {}
    for axis, std in (("error_x", rate_std), ("error_y", distortion_std)):
        if std is not None and len(std) == len(b) and np.isfinite(np.asarray(std, dtype=float)).any():
            errors[axis] = dict(type="data", array=np.nan_to_num(np.asarray(std, dtype=float)[order]),
                                visible=True, thickness=1.2, width=4)
    traces = [go.Scatter(
        x=r, y=d, mode="lines+markers+text", name="beta sweep" + (" (± 1 s.d. over seeds)" if errors else ""),
        text=labels, textposition="top right", line=dict(color=CLASS_COLORS[0]), marker=dict(size=9),
        customdata=b, hovertemplate="β=%{customdata:g}<br>KL %{x:.2f}<br>reconstruction %{y:.1f}<extra></extra>",
        **errors,
    )]
    if chosen is not None:
        traces.append(go.Scatter(
            x=[rates[chosen]], y=[distortions[chosen]], mode="markers", name=f"chosen: β={betas[chosen]:g}",
            marker=dict(size=18, color="rgba(0,0,0,0)", line=dict(color=HIGHLIGHT, width=3)),
            hovertemplate=f"chosen β={betas[chosen]:g}<extra></extra>",
        ))
    lo, hi = (float(d.min()), float(d.max())) if len(d) else (0.0, 1.0)
    y_pad = 0.1 * (hi - lo) if hi > lo else max(1.0, 0.05 * abs(hi))
    y_range = [lo - y_pad, hi + 2 * y_pad]
    if kl_only is not None:
        # Without a reconstruction term the distortion is far above the sweep's: keep the sweep
        # readable and pin the point to the top edge, its value in the label.
        off_scale = kl_only[1] > y_range[1]
        traces.append(go.Scatter(
            x=[kl_only[0]], y=[min(kl_only[1], y_range[1] - 0.3 * y_pad)], mode="markers+text",
            name="KL only (no reconstruction term)", customdata=[kl_only[1]], textposition="middle right",
            text=[f"KL only (no reconstruction term): {kl_only[1]:.0f} nats ↑" if off_scale
                  else "KL only (no reconstruction term)"],
            marker=dict(symbol="triangle-up" if off_scale else "x", size=12, color="black"),
            hovertemplate="KL only<br>KL %{x:.2f}<br>reconstruction %{customdata:.1f}<extra></extra>",
        ))
    lik = f", {likelihood}" if likelihood else ""
    xs = list(r) + ([kl_only[0]] if kl_only is not None else [])
    pad = 0.06 * max(max(xs, default=1.0), 1e-3)
    return go.Figure(traces, dict(
        _base_layout(height),
        xaxis=dict(title=dict(text=f"rate: test KL(q(z|x) ‖ p(z)), {NATS}"),
                   range=[-pad, max(xs, default=1.0) + 2 * pad]),
        yaxis=dict(title=dict(text=f"distortion: test reconstruction −log p(x|z), {NATS}{lik}"), range=y_range),
    ))


def kl_per_dim_bars(
    kl_by_label: Mapping[str, Sequence[float]],
    chosen: str | None = None,
    threshold: float = ACTIVE_UNIT_THRESHOLD,
    height: int = 300,
) -> go.Figure:
    """Per-dimension KL, one panel per model (e.g. per beta), dims sorted by KL, largest first.

    Bars above ``threshold`` (nats) are active units; the rest are drawn grey. The panel of
    ``chosen`` is coloured, the others muted. Log scale, so the threshold line is visible.
    """
    labels = list(kl_by_label)
    if not labels:
        raise ValueError("kl_by_label is empty")
    floor = threshold / 10
    layout = _base_layout(height, legend=False)
    layout["margin"]["t"] = 30
    traces, shapes, titles = [], [], []
    for k, (label, domain) in enumerate(zip(labels, _panels(len(labels), 0.03))):
        kl = np.asarray(kl_by_label[label], dtype=float)
        order = np.argsort(-kl, kind="stable")
        active = kl[order] > threshold
        strong = chosen is None or label == chosen
        colors = [(HIGHLIGHT if strong else "#e8a3a3") if a else MUTED for a in active]
        shown = plotly_text(label)
        traces.append(go.Bar(
            x=[f"z{i}" for i in order], y=np.maximum(kl[order], floor), marker_color=colors, name=shown,
            showlegend=False, customdata=kl[order], xaxis=_ref(k, "x"), yaxis=_ref(k, "y"),
            hovertemplate=f"{shown}<br>%{{x}}: KL %{{customdata:.4f}} nats<extra></extra>",
        ))
        layout[_axis(k, "x")] = dict(domain=domain, anchor=_ref(k, "y"), tickfont=dict(size=9),
                                     title=dict(text="latent dim (sorted)"))
        layout[_axis(k, "y")] = dict(anchor=_ref(k, "x"), type="log", dtick=1, exponentformat="power",
                                     **({"title": dict(text=f"test KL per dim, {NATS}")} if k == 0
                                        else {"matches": "y", "showticklabels": False}))
        shapes.append(dict(type="line", xref=f"{_ref(k, 'x')} domain", x0=0, x1=1, yref=_ref(k, "y"),
                           y0=threshold, y1=threshold, line=dict(color="black", dash="dot", width=1)))
        titles.append(dict(text=_kl_title(label, kl, threshold, label == chosen), x=sum(domain) / 2, y=1.0,
                           xref="paper", yref="paper", xanchor="center", yanchor="bottom", showarrow=False))
    return go.Figure(traces, dict(layout, shapes=shapes, annotations=titles))


def _kl_title(label: str, kl: Sequence[float], threshold: float, chosen: bool) -> str:
    n_active = int(sum(v > threshold for v in kl))
    text = f"{plotly_text(label)}: {n_active}/{len(kl)} active"
    return f"<b>{text}</b>" if chosen else text


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
