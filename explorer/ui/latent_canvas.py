"""Draw and drag: a Streamlit component that encodes a drawing and decodes the map's marker in the browser.

One component, three panels: a drawing pad (a canvas with ``data-role="draw"``; pen, eraser,
undo, clear), a latent map drawn in its own canvas (the encoded test points, a marker to drag,
the drawing's point and, for a VAE, its +-1 and 2 sigma ellipse) and the image decoded at the
marker. Strokes are fitted like MNIST (draw.js: fitLikeMnist; explorer.logic.drawing.fit_like_mnist is
its Python twin) and encoded on every animation frame; dragging decodes on every frame. No
server round trip until a release on the map or the "Use my drawing on the page" button.

    result = latent_canvas(model_id, model.decoder_layers(), model.encoder_layers(),
                           model.image_shape, z0, points=codes[:, dims], key="draw")
    result.z          # the marker's code after the last release, (D,) float64
    result.drawing    # the last drawing sent with the button, (C, H, W) float32, or None

Parameters (all after ``z`` keyword-only)
---------------------------------------
model_id        names the weights; the browser caches models by it (change it with them).
decoder_layers  ``model.decoder_layers()``: dense z -> flat image ("relu" / "sigmoid" /
                "clamp01"). Required: a convolutional decoder cannot run here.
encoder_layers  ``model.encoder_layers()``: dense flat image -> mean (D) or mean then logvar
                (2D, ``variational=True``), last activation "linear"; None turns drawing off.
image_shape     (C, H, W) with C = 1 or 3.
z               the marker's starting code (D >= 2 values).
dims            the two dims the map shows; the others keep their values while dragging.
points          (N, 2) already projected on ``dims``, or (N, D) codes; ``point_labels`` (N,)
                class indices colour them.
extent          (xmin, xmax, ymin, ymax) of the map; default: fitted to the points and z,
                equal scales on both axes (so the ellipses keep their shape).
dim_names       labels of the latent dims (default z0, z1, ...).
variational     the encoder gives mean and logvar (draws the ellipse).
draw_note       when drawing makes no sense for this model, the sentence shown instead of the
                pad (see explorer.logic.drawing.drawing_support).
show_drawing    False hides the drawing panel (data nobody draws: faces, clothes); the map stays.
class_names     the names of the classes ``point_labels`` index: the map's legend (colours from
                explorer/logic/palette.py, as on the Plotly maps).
map_px          the map's side in CSS pixels (160..1000).
key             the widget key (required).

Returns a ``CanvasResult``; without a browser (AppTest) ``CanvasResult(z, None, 0, None, None)``.
Invalid arguments raise ValueError naming the parameter. The weights travel once per session,
as for explorer.ui.latent_decoder (explorer/ui/browser_component.py).
Stats for tests and bench/bench_draw_drag.py: ``window.latentCanvasStats``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from core.dense import DenseLayer
from explorer.logic.browser_model import browser_model
from explorer.logic.drawing import points_on_dims
from explorer.ui.browser_component import (COMPONENTS_DIR, arrow, checked_image_shape, declare, mount, payload_token,
                                           previous_value, tokens_to_send)

COMPONENT_DIR = COMPONENTS_DIR / "latent_canvas"
# The browser model, the latent plane and the helpers are latent_decoder's files: one copy each.
_component = declare("latent_canvas", "latent_canvas", ("latent_decoder/common.js", "latent_decoder/decoder.js",
                                                       "latent_decoder/plane.js", "latent_canvas/draw.js",
                                                       "latent_canvas/main.js"))


class CanvasResult(NamedTuple):
    z: np.ndarray  # (D,) the marker's code
    drawing: np.ndarray | None  # (C, H, W) float32 in [0, 1], the last drawing sent, or None
    drawing_seq: int  # how many drawings were sent (tells a new one from the same one)
    drawing_mean: np.ndarray | None  # (D,) its code as the browser encoded it
    drawing_logvar: np.ndarray | None  # (D,) for a VAE


def fit_extent(points: np.ndarray | None, z: np.ndarray, margin: float = 0.08) -> tuple[float, float, float, float]:
    """A square window around the points (1st to 99th percentile) and z, equal scales."""
    xy = z[None, :2] if points is None or len(points) == 0 else np.vstack([points, z[None, :2]])
    lo = np.percentile(xy, 1, axis=0) if len(xy) > 50 else xy.min(0)
    hi = np.percentile(xy, 99, axis=0) if len(xy) > 50 else xy.max(0)
    lo, hi = np.minimum(lo, z[:2]), np.maximum(hi, z[:2])
    center, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2, 1e-3) * (1 + 2 * margin)
    return (float(center[0] - half), float(center[0] + half), float(center[1] - half), float(center[1] + half))


def _check_basics(model_id, key, image_shape, z, dims, map_px, extent):
    if not isinstance(model_id, str) or not model_id:
        raise ValueError(f"model_id={model_id!r} must be a non-empty string")
    if not isinstance(key, str) or not key:
        raise ValueError(f"key={key!r} must be a non-empty string")
    shape = checked_image_shape(image_shape)
    z_arr = np.asarray(z, dtype=np.float64)
    if z_arr.ndim != 1 or z_arr.size < 2:
        raise ValueError(f"z must hold at least 2 latent values (the map is a plane); got shape {z_arr.shape}")
    if not np.isfinite(z_arr).all():
        raise ValueError("z holds non-finite values")
    try:
        dims_t = tuple(int(d) for d in dims)
    except (TypeError, ValueError):
        raise ValueError(f"dims={dims!r} must be two integer latent dims") from None
    if len(dims_t) != 2 or dims_t[0] == dims_t[1] or not all(0 <= d < z_arr.size for d in dims_t):
        raise ValueError(f"dims={dims!r} must be two different latent dims in [0, {z_arr.size - 1}]")
    if not (isinstance(map_px, int) and 160 <= map_px <= 1000):
        raise ValueError(f"map_px={map_px!r} must be an integer in [160, 1000]")
    if extent is not None:
        e = np.asarray(extent, dtype=np.float64)
        if e.shape != (4,) or not np.isfinite(e).all() or e[1] <= e[0] or e[3] <= e[2]:
            raise ValueError(f"extent={extent!r} must be (xmin, xmax, ymin, ymax) with xmin < xmax, ymin < ymax")
    return shape, z_arr, dims_t


def _result(previous: dict | None, z_token: str, z_arr: np.ndarray, shape) -> CanvasResult:
    z_out = z_arr.copy()
    if previous and previous.get("base") == z_token:
        user_z = previous.get("z")
        if isinstance(user_z, list) and len(user_z) == z_arr.size:
            z_out = np.asarray(user_z, dtype=np.float64)
    drawing = mean = logvar = None
    seq = 0
    flat = previous.get("drawing") if previous else None
    if isinstance(flat, list) and len(flat) == int(np.prod(shape)):
        drawing = np.clip(np.asarray(flat, dtype=np.float32).reshape(shape), 0, 1)
        seq = int(previous.get("drawing_seq") or 0)
        mean = np.asarray(previous["drawing_mean"], dtype=np.float64) if previous.get("drawing_mean") else None
        logvar = np.asarray(previous["drawing_logvar"], dtype=np.float64) if previous.get("drawing_logvar") else None
    return CanvasResult(z_out, drawing, seq, mean, logvar)


def read_value(key: str, image_shape: Sequence[int]) -> CanvasResult | None:
    """What the browser last reported for ``key`` (before the component is drawn this run), or None.
    A page reads the sent drawing with it early, to show it on figures drawn above the component."""
    previous = previous_value(key)
    if not previous or not isinstance(previous.get("z"), list):
        return None
    z = np.asarray(previous["z"], dtype=np.float64)
    return _result(previous, previous.get("base"), z, tuple(int(s) for s in image_shape))


def latent_canvas(
    model_id: str,
    decoder_layers: Sequence[DenseLayer] | None,
    encoder_layers: Sequence[DenseLayer] | None,
    image_shape: tuple[int, int, int],
    z: Sequence[float],
    *,
    dims: tuple[int, int] = (0, 1),
    points: np.ndarray | None = None,
    point_labels: np.ndarray | None = None,
    extent: tuple[float, float, float, float] | None = None,
    dim_names: list[str] | None = None,
    variational: bool = False,
    draw_note: str | None = None,
    class_names: Sequence[str] | None = None,
    show_drawing: bool = True,
    map_px: int = 340,
    height: int | None = None,
    key: str,
) -> CanvasResult:
    """Show the draw-and-drag component; return what the browser last reported (module docstring)."""
    shape, z_arr, dims_t = _check_basics(model_id, key, image_shape, z, dims, map_px, extent)
    d = int(z_arr.size)
    if decoder_layers is None:
        raise ValueError("decoder_layers=None: this component decodes in the browser and needs a dense decoder "
                         "(use explorer.ui.latent_decoder, which falls back to the server, for a convolutional one)")
    model = browser_model(decoder_layers, shape, d, encoder_layers=encoder_layers, variational=variational,
                          class_names=class_names)
    if dim_names is not None and len(dim_names) != d:
        raise ValueError(f"dim_names has {len(dim_names)} names but len(z)={d}")
    if height is not None and not (isinstance(height, int) and height > 0):
        raise ValueError(f"height={height!r} must be a positive integer or None")
    pts, labels = points_on_dims(points, point_labels, d, dims_t)
    z_plane = z_arr[list(dims_t)]
    window = tuple(float(v) for v in extent) if extent is not None else fit_extent(pts, z_plane)

    previous = previous_value(key)
    z_token = payload_token(model_id.encode(), z_arr.tobytes(), str(dims_t).encode())
    args: dict = dict(
        model_id=model_id, model=model.meta,
        z=[float(v) for v in z_arr], z_token=z_token, dims=list(dims_t), extent=list(window),
        dim_names=[str(n) for n in dim_names] if dim_names is not None else None,
        map_px=map_px,
        draw_note=draw_note if encoder_layers is not None else (draw_note or "This model's encoder cannot run in the browser."),
        points_token=None, height=height, show_drawing=bool(show_drawing),
    )
    data: dict = {"args": args}
    xy_bytes = label_bytes = b""
    if pts is not None:
        xy_bytes = np.ascontiguousarray(pts, dtype="<f4").tobytes()
        label_bytes = b"" if labels is None else np.ascontiguousarray(labels, dtype="<i4").tobytes()
        args["points_token"] = "pts-" + payload_token(xy_bytes, label_bytes)
    send = tokens_to_send("latent_canvas", key, previous, [t for t in (model_id, args["points_token"]) if t])
    if model_id in send:
        data["weights"] = arrow(model.weights, "<f4")
    if args["points_token"] in send:
        data["points"] = arrow(xy_bytes, "<f4")
        if labels is not None:
            data["point_labels"] = arrow(label_bytes, "<i4")
    mount(_component, key, data, height)
    return _result(previous, z_token, z_arr, shape)


__all__ = ["latent_canvas", "read_value", "CanvasResult", "fit_extent", "COMPONENT_DIR"]
