"""Drawn digits and uploaded pictures, without Streamlit: the one function that fits a digit
into a model's frame, which models can read a drawing, and the checks on what the browser sends.

``fit_like_mnist`` fits a drawing's ink and an uploaded digit (explorer/logic/uploads.py) alike,
and ``fitLikeMnist`` in explorer/components/latent_canvas/draw.js runs the same steps in the
browser on every stroke, with the settings in FIT (sent in the browser model's export; the
tests check the two agree). It follows how MNIST was made: the strokes' bounding box is
size-normalised to fit a 20x20 box (of 28x28) keeping its aspect ratio, anti-aliased (area
averaging), then placed so that its centre of mass is at the centre of the frame (shifted by
whole pixels, as MNIST was).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# How a digit is fitted into a model's frame (drawing.fit_like_mnist and draw.js read these):
# pixels fainter than ink_threshold x the brightest do not count for the bounding box; the
# strokes fit in a box of box_fraction of the frame (MNIST: 20 of 28), or the whole frame when
# it is smaller than full_frame_below pixels (8x8 digits).
FIT = {"ink_threshold": 0.1, "box_fraction": 20 / 28, "full_frame_below": 16}


def box_for(height: int, width: int) -> int:
    """The side of the box a digit is fitted into: 20 of 28 (MNIST); small frames use all of it."""
    m = min(height, width)
    return int(np.floor(FIT["box_fraction"] * m + 0.5)) if m >= FIT["full_frame_below"] else m


def _round_half_up(x: float) -> int:
    # Python's round() is half-to-even, JavaScript's Math.round half-up for positives only:
    # both sides use floor(x + 0.5) so they agree on every .5.
    return int(np.floor(x + 0.5))


def area_weights(n: int, m: int) -> np.ndarray:
    """(m, n) matrix resampling n cells onto m by area: target j averages source [j n/m, (j+1) n/m)."""
    step = n / m
    w = np.zeros((m, n))
    for j in range(m):
        a, b = j * step, (j + 1) * step
        for k in range(int(np.floor(a)), min(n - 1, int(np.ceil(b)) - 1) + 1):
            overlap = min(b, k + 1) - max(a, k)
            if overlap > 0:
                w[j, k] = overlap / step
    return w


def fit_like_mnist(ink: np.ndarray, out_shape: tuple[int, int] = (28, 28)) -> np.ndarray:
    """Ink (H, W) or (H, W, C) in [0, 1] (light strokes on black) -> (outH, outW[, C]) float32, MNIST-style.

    Raises ValueError for an ink array that is not (H, W[, C]) or holds values outside [0, 1].
    Returns zeros when nothing is drawn (all ink 0).
    """
    ink = np.asarray(ink)
    if ink.ndim not in (2, 3) or min(ink.shape) < 1:
        raise ValueError(f"ink has shape {ink.shape}; it must be a 2-D (H, W) array (or (H, W, C))")
    if not np.isfinite(ink).all() or ink.min() < 0 or ink.max() > 1:
        raise ValueError("ink must hold values in [0, 1]")
    out_h, out_w = (int(s) for s in out_shape)
    image = np.zeros((out_h, out_w) + ink.shape[2:], dtype=np.float32)
    gray = ink if ink.ndim == 2 else ink.mean(2)
    if not gray.max() > 0:
        return image
    mask = gray > FIT["ink_threshold"] * gray.max()
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].astype(np.float64)
    h, w = crop.shape[:2]
    scale = box_for(out_h, out_w) / max(h, w)
    nh = max(1, min(out_h, _round_half_up(h * scale)))
    nw = max(1, min(out_w, _round_half_up(w * scale)))
    small = np.einsum("ih,hw...,jw->ij...", area_weights(h, nh), crop, area_weights(w, nw), optimize=True)
    mass = small if small.ndim == 2 else small.mean(2)
    total = mass.sum()
    cy = (mass.sum(1) * np.arange(nh)).sum() / total if total > 0 else (nh - 1) / 2
    cx = (mass.sum(0) * np.arange(nw)).sum() / total if total > 0 else (nw - 1) / 2
    y0 = min(max(_round_half_up((out_h - 1) / 2 - cy), 0), out_h - nh)
    x0 = min(max(_round_half_up((out_w - 1) / 2 - cx), 0), out_w - nw)
    image[y0:y0 + nh, x0:x0 + nw] = np.clip(small, 0, 1)
    return image


# The datasets of handwritten digits: the only data a drawing on the pad can look like.
DIGIT_DATASETS = {"mnist": "MNIST", "digits": "scikit-learn's 8 x 8 digits"}


def drawing_offered(dataset_name: str) -> bool:
    """Whether the page offers the drawing pad at all: for digit data, not faces or clothes."""
    return dataset_name in DIGIT_DATASETS


def drawing_support(image_shape: Sequence[int], dark_background: bool, has_encoder: bool) -> str | None:
    """None when a drawing makes sense for the model, else the sentence the UI shows instead."""
    c, h, w = (int(s) for s in image_shape)
    if not has_encoder:
        return ("Drawing needs the encoder in your browser, and this model's encoder is convolutional: "
                "upload a picture below instead.")
    if c != 1 or not dark_background:
        return ("Drawing is offered for digit models (light strokes on black, like MNIST). This model "
                "reads other pictures (faces, colour): upload one below instead.")
    if min(h, w) < 8:
        return f"This model's images are only {w} x {h} pixels: too small to draw on."
    return None


def points_on_dims(points, point_labels, latent_dim: int, dims: tuple[int, int]):
    """Background points for a latent plane, checked: ((N, 2) float32 on ``dims``, labels or None);
    (None, None) without points. ``points`` are (N, D) codes or (N, 2) already on dims; bad shapes,
    non-finite values and non-integer labels raise ValueError naming the parameter."""
    if points is None:
        if point_labels is not None:
            raise ValueError("point_labels was given without points")
        return None, None
    pts = np.asarray(points, dtype=np.float32)
    if pts.ndim != 2 or pts.shape[1] not in (2, latent_dim):
        raise ValueError(f"points has shape {pts.shape}; it must be (N, {latent_dim}) codes or (N, 2) on dims")
    if not np.isfinite(pts).all():
        raise ValueError("points holds non-finite values")
    if pts.shape[1] != 2:
        pts = pts[:, list(dims)]
    labels = None
    if point_labels is not None:
        labels = np.asarray(point_labels)
        if labels.shape != (len(pts),):
            raise ValueError(f"point_labels has shape {labels.shape}; it must be ({len(pts)},) to match points")
        if labels.size and (not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0):
            raise ValueError("point_labels must be non-negative integers (class indices)")
    return pts, labels


MAX_VALUE_NUMBERS = 3 * 256 * 256  # the most numbers one field of a component's value may hold


def _numbers(value: object) -> list[float] | None:
    """``value`` as a list of finite floats, or None when it is anything else."""
    if not isinstance(value, list) or len(value) > MAX_VALUE_NUMBERS:
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return None
    out = [float(v) for v in value]
    return out if all(np.isfinite(out)) else None


def component_value(raw: object) -> dict | None:
    """The browser component's value (latent_canvas, latent_decoder) with only well-typed fields.

    The value comes from the visitor's browser: any field of the wrong type (a string for a
    number, a dict for a list, NaN) is dropped, as if the browser had not sent it, so the
    readers never meet a type they did not expect. None when ``raw`` is not a dict."""
    if not isinstance(raw, dict):
        return None
    clean: dict = {}
    for key in ("z", "drawing", "drawing_mean", "drawing_logvar"):
        numbers = _numbers(raw.get(key))
        if numbers is not None:
            clean[key] = numbers
    if isinstance(raw.get("base"), str):
        clean["base"] = raw["base"]
    need = raw.get("need")  # payloads the browser lacks (explorer/ui/browser_component.py)
    clean["need"] = [h for h in need if isinstance(h, str)] if isinstance(need, list) else []
    seq = raw.get("seq")
    clean["seq"] = seq if isinstance(seq, int) and not isinstance(seq, bool) else None
    seq = raw.get("drawing_seq")
    clean["drawing_seq"] = seq if isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0 else 0
    return clean


__all__ = ["FIT", "box_for", "area_weights", "fit_like_mnist", "drawing_support", "points_on_dims",
           "component_value"]
