"""The posterior panel's figures and caption: the true p(z|x) under q(z|x) and the optimised q,
the IWAE bound as k grows, and a caption written from the numbers (core/posterior.py)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from core.evaluate import ACTIVE_UNIT_THRESHOLD
from core.posterior import ImagePosterior, IwaeCurve
from explorer.logic.figures import ellipse_xy, plain_figure

ENCODER_COLOR = "#d62728"
OPTIMISED_COLOR = "#111111"
IWAE_COLOR = "#1f77b4"
IWAE_KS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
HDR_MASSES = (0.5, 0.9, 0.99)  # the true posterior's highest-density regions drawn as contour lines


def _ellipse_trace(mean: np.ndarray, logvar: np.ndarray, name: str, color: str, dash: str) -> dict:
    x, y = ellipse_xy(mean[:2], np.diag(np.exp(logvar[:2])), 2.0)
    return dict(type="scatter", x=x, y=y, mode="lines", name=name, line=dict(color=color, width=2, dash=dash),
                hoverinfo="name")


def density_levels(density: np.ndarray, cell_area: float, masses: Sequence[float] = HDR_MASSES) -> list[float]:
    """The density values whose superlevel sets hold each mass (highest-density regions)."""
    p = np.sort(density.ravel())[::-1]
    cumulative = np.cumsum(p) * cell_area
    return [float(p[min(np.searchsorted(cumulative, m), len(p) - 1)]) for m in masses]


def posterior_figure(view: ImagePosterior, height: int = 380) -> go.Figure:
    """Filled contours of the true p(z|x) (2-D models), q(z|x)'s and the optimised q's 2-sigma ellipses."""
    traces: list[dict] = []
    true = view.true
    if true is not None:
        density = np.exp(true.log_density)
        traces.append(dict(type="contour", x=true.z0, y=true.z1, z=density, name="true p(z|x)",
                           colorscale="Blues", showscale=False, ncontours=14, line=dict(width=0),
                           hovertemplate="z0 %{x:.3f}<br>z1 %{y:.3f}<br>p(z|x) %{z:.3g}<extra></extra>"))
        cell = (true.z0[1] - true.z0[0]) * (true.z1[1] - true.z1[0])
        levels = density_levels(density, cell)
        for mass, level in zip(HDR_MASSES, levels):
            traces.append(dict(type="contour", x=true.z0, y=true.z1, z=density, showscale=False, hoverinfo="skip",
                               contours=dict(coloring="none", start=level, end=level, size=1.0),
                               line=dict(color="rgba(8, 48, 107, 0.8)", width=1, dash="dot"),
                               name=f"{mass:.0%} of p(z|x)", showlegend=mass == HDR_MASSES[0]))
    traces.append(_ellipse_trace(view.encoder_mean, view.encoder_logvar, "encoder's q(z|x), ±2σ",
                                 ENCODER_COLOR, "solid"))
    traces.append(_ellipse_trace(view.optimised_mean, view.optimised_logvar, "optimised q, ±2σ",
                                 OPTIMISED_COLOR, "dash"))
    traces.append(dict(type="scatter", x=[view.encoder_mean[0], view.optimised_mean[0]],
                       y=[view.encoder_mean[1], view.optimised_mean[1]], mode="markers", showlegend=False,
                       marker=dict(color=[ENCODER_COLOR, OPTIMISED_COLOR], size=7), hoverinfo="skip"))
    layout = dict(height=height, margin=dict(l=50, r=10, t=10, b=40), plot_bgcolor="white",
                  xaxis=dict(title=dict(text="z0"), showgrid=False, zeroline=False),
                  yaxis=dict(title=dict(text="z1"), showgrid=False, zeroline=False, scaleanchor="x"),
                  legend=dict(orientation="h", yanchor="top", y=-0.15, x=0))
    return plain_figure(traces, layout, None)


def iwae_figure(curve: IwaeCurve, k: int, log_px: float | None, elbo_encoder: float, height: int = 300) -> go.Figure:
    """The IWAE bound (mean ± 1 sd over repeats) against k on a log axis, the ELBO and log p(x) as lines."""
    upper, lower = curve.mean + curve.std, curve.mean - curve.std
    traces = [
        dict(type="scatter", x=np.concatenate([curve.ks, curve.ks[::-1]]), y=np.concatenate([upper, lower[::-1]]),
             fill="toself", fillcolor="rgba(31, 119, 180, 0.18)", line=dict(width=0), hoverinfo="skip",
             name="± 1 sd over repeats"),
        dict(type="scatter", x=curve.ks, y=curve.mean, mode="lines+markers", name="IWAE-k bound",
             line=dict(color=IWAE_COLOR), customdata=np.stack([curve.std, curve.repeats], -1),
             hovertemplate="k = %{x}<br>%{y:.2f} ± %{customdata[0]:.2f} nats (%{customdata[1]} repeats)<extra></extra>"),
    ]
    j = int(np.argmin(np.abs(curve.ks - k)))
    traces.append(dict(type="scatter", x=[curve.ks[j]], y=[curve.mean[j]], mode="markers", showlegend=False,
                       marker=dict(color=IWAE_COLOR, size=13, line=dict(color="white", width=2)), hoverinfo="skip"))
    shapes, notes = [], []
    for value, text, color in ((log_px, "log p(x)", "#2ca02c"), (elbo_encoder, "ELBO (k = 1)", ENCODER_COLOR)):
        if value is None:
            continue
        shapes.append(dict(type="line", xref="x domain", x0=0, x1=1, yref="y", y0=value, y1=value,
                           line=dict(color=color, dash="dot", width=1.5)))
        notes.append(dict(text=text, xref="x domain", x=0.99, y=value, yref="y", showarrow=False,
                          xanchor="right", yanchor="bottom", font=dict(color=color, size=11)))
    layout = dict(height=height, margin=dict(l=60, r=10, t=10, b=40), plot_bgcolor="white",
                  xaxis=dict(type="log", title=dict(text="k, importance samples from the encoder's q"), gridcolor="#eee"),
                  yaxis=dict(title=dict(text="bound on log p(x), nats"), gridcolor="#eee"),
                  legend=dict(orientation="h", yanchor="top", y=-0.2, x=0), shapes=shapes, annotations=notes)
    return plain_figure(traces, layout, None)


def kl_bars(kl: np.ndarray, threshold: float = ACTIVE_UNIT_THRESHOLD, height: int = 300) -> go.Figure:
    """One image's KL(q(z|x) || N(0, 1)) per latent dim as bars (log scale), the active-unit threshold dotted."""
    kl = np.asarray(kl, dtype=float)
    traces = [dict(type="bar", x=[f"z{i}" for i in range(len(kl))], y=np.maximum(kl, threshold / 10),
                   customdata=kl, marker_color=[IWAE_COLOR if v > threshold else "#bbbbbb" for v in kl],
                   hovertemplate="%{x}: KL %{customdata:.4f} nats<extra></extra>", name="KL per dim")]
    layout = dict(height=height, margin=dict(l=60, r=10, t=10, b=40), plot_bgcolor="white", showlegend=False,
                  xaxis=dict(title=dict(text="latent dim")),
                  yaxis=dict(type="log", title=dict(text="KL of this image, nats"), gridcolor="#eee"),
                  shapes=[dict(type="line", xref="x domain", x0=0, x1=1, yref="y", y0=threshold, y1=threshold,
                               line=dict(color="black", dash="dot", width=1))])
    return plain_figure(traces, layout, None)


def numbers_table(view: ImagePosterior) -> list[dict]:
    """The panel's numbers as rows (quantity, nats, meaning)."""
    rows = []
    if view.log_px is not None:
        rows.append(dict(quantity="log p(x)", nats=view.log_px, meaning="exact, by quadrature over the latent plane"))
    rows += [
        dict(quantity="ELBO, encoder's q", nats=view.elbo_encoder, meaning="what training maximises"),
        dict(quantity="ELBO, optimised q", nats=view.elbo_optimised, meaning="the best diagonal Gaussian for this image"),
        dict(quantity="amortization gap", nats=view.amortization_gap, meaning="optimised − encoder"),
    ]
    if view.approximation_gap is not None:
        rows.append(dict(quantity="approximation gap", nats=view.approximation_gap,
                         meaning="log p(x) − optimised: the price of a diagonal Gaussian"))
    return rows


def caption(view: ImagePosterior, curve: IwaeCurve, k: int) -> str:
    """What the student sees, from this image's numbers."""
    j = int(np.argmin(np.abs(curve.ks - k)))
    bound, spread, k = curve.mean[j], curve.std[j], int(curve.ks[j])
    amort = view.amortization_gap
    if view.log_px is None:
        total = curve.mean[-1] - view.elbo_encoder
        return (f"With {len(view.encoder_mean)} latent dims there is no grid to integrate over, so IWAE with "
                f"{int(curve.ks[-1]):,} samples stands in for log p(x): it sits {total:.2f} nats above the encoder's "
                f"ELBO. Optimising q for this image alone recovers {amort:.2f} of those nats (the amortization gap); "
                f"the rest is what a diagonal Gaussian cannot express, plus what IWAE has not closed yet. At k = {k} "
                f"the bound is {bound:.2f} ± {spread:.2f} nats.")
    total = view.log_px - view.elbo_encoder
    approx = view.approximation_gap
    larger = "amortization" if amort >= approx else "approximation"
    why = ("the encoder, one network for every image, puts q in the wrong place or gives it the wrong width"
           if larger == "amortization" else "even the best diagonal Gaussian cannot take the true posterior's shape")
    return (f"The encoder's ELBO is {total:.2f} nats below log p(x) = {view.log_px:.2f}: that gap is "
            f"KL(q ‖ p(z|x)). Optimising q for this image alone (dashed) recovers {amort:.2f} nats, the amortization "
            f"gap; {approx:.2f} nats remain, the approximation gap. Here the {larger} gap is the larger: {why}. "
            f"IWAE with k = {k} samples from the encoder's q reaches {bound:.2f} ± {spread:.2f} nats, "
            f"{view.log_px - bound:.2f} below log p(x).")


__all__ = ["IWAE_KS", "HDR_MASSES", "density_levels", "posterior_figure", "kl_bars", "iwae_figure", "numbers_table", "caption"]
