"""Decode while dragging: a Streamlit component that runs a dense decoder in the browser.

Streamlit's own sliders send their value on release and every change costs a server round
trip, so a decoded image cannot follow the pointer. This component receives the decoder's
weights once, decodes z -> image in plain JavaScript (Float32Array matmuls; a 784-pixel MLP
with 400/200 hidden units takes well under a millisecond) and redraws on every pointer move.
Python hears back once, on release.

    z = latent_decoder(model_id, model.decoder_layers(), model.image_shape, z0, key="dec")

Parameters (all after ``z`` are keyword-only)
---------------------------------------------
model_id      names the weights; change it whenever they change (a checkpoint name plus its
              modification time, or its weights' hash). The browser caches
              decoders by this id.
layers        ``model.decoder_layers()``: dense layers z -> flat image (C*H*W, channel-major)
              with activations "relu" / "sigmoid" / "clamp01"; None for a decoder the
              browser cannot run (convolutional): then the image is decoded on the server
              after each release, from ``server_image``, and the component says so.
image_shape   (C, H, W), C = 1 (grey) or 3 (RGB).
z             the starting code (D values), e.g. an encoded dataset image; the button
              "From image" (``start_label``) returns to it. When the page passes a different
              z (or model_id) the component jumps to it; otherwise it keeps the user's z.
mode          "sliders": one slider per latent dim (at most 16), or
              "pad": a 2-D plane over ``dims``, the other dims fixed at their ``z`` values;
              drag the marker, or hover to preview.
dims          the two dims the pad shows (x, y).
value_range   sliders and pad span [-value_range, value_range].
points        background points for the pad: (N, D) codes (columns ``dims`` are drawn)
              or (N, 2) already projected; ``point_labels`` (N,) non-negative ints colour them.
server_image  the image for the current code when ``layers`` is None: an array (C, H, W)
              or (H, W) in [0, 1], or a callable ``z (D,) float32 -> image`` which the
              wrapper calls with the code it is about to return (so one rerun suffices).
dim_names     labels for the latent dims (default z0, z1, ...).
height        fixed height in pixels; default: fit the content.
start_label   the caption of the button that returns to ``z`` (default "From image").
image_px      about how many CSS pixels the image is drawn across (integer upscaling,
              image-rendering: pixelated); the pad is as tall plus 40.
key           the widget key (required: the component keeps its identity across reruns).

Returns the code shown, as a list of D floats, never None: the user's code after a release
(or a button), else ``z``. Without a browser (AppTest, which cannot run the JavaScript) it
returns ``list(z)``. Invalid arguments raise ValueError naming the parameter and value.

The frontend is a Streamlit Custom Component v2 (no iframe) made of the files in
``explorer/components/latent_decoder/`` (index.html, style.css; decoder.js: the browser model;
plane.js: the pad; main.js: the UI). It exposes ``window.latentDecoderStats`` (frames drawn,
latencies, values sent, weight bytes received) for the browser tests and
``bench/bench_browser_decode.py``.

How the weights travel
----------------------
The weights go as one binary float32 column (an Arrow table, no base64), once per session
(explorer/ui/browser_component.py): a rerun sends only z and a few hundred bytes of settings.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from core.dense import DenseLayer
from explorer.logic.browser_model import browser_model
from explorer.logic.drawing import points_on_dims
from explorer.ui.browser_component import (COMPONENTS_DIR, arrow, checked_image_shape, declare, mount, payload_token,
                                           previous_value, tokens_to_send)

MODES = ("sliders", "pad")
MAX_SLIDER_DIMS = 16
COMPONENT_DIR = COMPONENTS_DIR / "latent_decoder"
SERVER_NOTICE = (
    "This decoder is convolutional, which the browser cannot run: the image is decoded on "
    "the server when you release the pointer."
)

_component = declare("latent_decoder", "latent_decoder", ("latent_decoder/common.js", "latent_decoder/decoder.js",
                                                         "latent_decoder/plane.js", "latent_decoder/main.js"))

ServerImage = np.ndarray | Callable[[np.ndarray], np.ndarray]


def _image_to_bytes(image: np.ndarray, shape: tuple[int, int, int]) -> bytes:
    arr = np.asarray(image.detach().cpu() if hasattr(image, "detach") else image, dtype=np.float32)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 2 and shape[0] == 1:
        arr = arr[None]
    if arr.shape != shape:
        raise ValueError(f"server_image has shape {arr.shape}; it must be (C, H, W) = {shape}")
    return np.round(np.clip(np.nan_to_num(arr), 0.0, 1.0) * 255).astype(np.uint8).tobytes()


def _checked_args(model_id: str, key: str, mode: str, image_shape: tuple[int, int, int], z: Sequence[float],
                  value_range: float, dims: tuple[int, int], dim_names: list[str] | None, height: int | None,
                  image_px: int) -> tuple[tuple[int, int, int], np.ndarray, tuple[int, ...]]:
    """(image shape, z as float64 (D,), dims as ints); ValueError names the argument, its value and the range."""
    if not isinstance(model_id, str) or not model_id:
        raise ValueError(f"model_id={model_id!r} must be a non-empty string")
    if not isinstance(key, str) or not key:
        raise ValueError(f"key={key!r} must be a non-empty string")
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is not one of {MODES}")
    shape = checked_image_shape(image_shape)
    z_arr = np.asarray(z, dtype=np.float64)
    if z_arr.ndim != 1 or z_arr.size == 0:
        raise ValueError(f"z must be a 1-D sequence of latent values; got shape {z_arr.shape}")
    if not np.isfinite(z_arr).all():
        raise ValueError("z holds non-finite values")
    latent_dim = int(z_arr.size)
    if mode == "sliders" and latent_dim > MAX_SLIDER_DIMS:
        raise ValueError(
            f"mode='sliders' shows at most {MAX_SLIDER_DIMS} dims; len(z)={latent_dim} (use mode='pad')"
        )
    if not (isinstance(value_range, (int, float)) and np.isfinite(value_range) and value_range > 0):
        raise ValueError(f"value_range={value_range!r} must be a positive finite number")
    try:
        dims_t = tuple(int(d) for d in dims)
    except (TypeError, ValueError):
        raise ValueError(f"dims={dims!r} must be two integer latent dims") from None
    if mode == "pad":
        if latent_dim < 2:
            raise ValueError(f"mode='pad' needs at least 2 latent dims; len(z)={latent_dim}")
        if len(dims_t) != 2 or dims_t[0] == dims_t[1]:
            raise ValueError(f"dims={dims!r} must be two different latent dims")
        if not all(0 <= d < latent_dim for d in dims_t):
            raise ValueError(f"dims={dims!r} is out of range: each must be in [0, {latent_dim - 1}]")
    if dim_names is not None and len(dim_names) != latent_dim:
        raise ValueError(f"dim_names has {len(dim_names)} names but len(z)={latent_dim}")
    if height is not None and not (isinstance(height, int) and height > 0):
        raise ValueError(f"height={height!r} must be a positive integer or None")
    if not (isinstance(image_px, int) and 16 <= image_px <= 1024):
        raise ValueError(f"image_px={image_px!r} must be an integer in [16, 1024]")
    return shape, z_arr, dims_t


def _points_payload(points: np.ndarray | None, point_labels: np.ndarray | None, mode: str,
                    dims_t: tuple[int, ...], latent_dim: int) -> tuple[bytes | None, bytes | None, str | None]:
    """(xy bytes, label bytes, their token) of the points drawn under the pad; all None without points."""
    xy_bytes = label_bytes = None
    points_token = None
    pts, labels = points_on_dims(points, point_labels, latent_dim, dims_t)
    if pts is not None and mode == "pad":  # the sliders draw no points: nothing to send
        xy_bytes = np.ascontiguousarray(pts, dtype="<f4").tobytes()
        if labels is not None:
            label_bytes = np.ascontiguousarray(labels, dtype="<i4").tobytes()
        points_token = "pts-" + payload_token(xy_bytes, label_bytes or b"")
    return xy_bytes, label_bytes, points_token


def _code_on_screen(model_id: str, previous: dict | None, z_arr: np.ndarray) -> tuple[str, list[float]]:
    """(token of the code the page sent, the code on screen): the user's code when the page sent
    the same code as last time, else the page's."""
    z_token = payload_token(model_id.encode(), z_arr.tobytes())
    z_out = [float(v) for v in z_arr]
    if previous and previous.get("base") == z_token:
        user_z = previous.get("z")
        if isinstance(user_z, list) and len(user_z) == len(z_arr):
            z_out = [float(v) for v in user_z]
    return z_token, z_out


def latent_decoder(
    model_id: str,
    layers: list[DenseLayer] | None,
    image_shape: tuple[int, int, int],
    z: Sequence[float],
    *,
    mode: str = "sliders",
    dims: tuple[int, int] = (0, 1),
    value_range: float = 3.0,
    points: np.ndarray | None = None,
    point_labels: np.ndarray | None = None,
    server_image: ServerImage | None = None,
    dim_names: list[str] | None = None,
    height: int | None = None,
    start_label: str = "From image",
    image_px: int = 224,
    key: str,
) -> list[float]:
    """Show the decoder component; return the code on screen (see the module docstring)."""
    shape, z_arr, dims_t = _checked_args(model_id, key, mode, image_shape, z, value_range, dims, dim_names, height,
                                         image_px)
    latent_dim = int(z_arr.size)
    model = browser_model(layers, shape, latent_dim, what="layers")
    xy_bytes, label_bytes, points_token = _points_payload(points, point_labels, mode, dims_t, latent_dim)
    previous = previous_value(key)
    z_token, z_out = _code_on_screen(model_id, previous, z_arr)

    image_bytes = None
    if server_image is not None:
        image = server_image(np.asarray(z_out, dtype=np.float32)) if callable(server_image) else server_image
        image_bytes = _image_to_bytes(image, shape)

    args: dict = dict(
        model_id=model_id,
        model=model.meta,
        z=[float(v) for v in z_arr],
        z_token=z_token,
        mode=mode,
        dims=list(dims_t) if mode == "pad" else [0, 1],
        value_range=float(value_range),
        dim_names=list(map(str, dim_names)) if dim_names is not None else None,
        start_label=start_label,
        image_px=image_px,
        server_notice=SERVER_NOTICE if layers is None else None,
        points_token=points_token,
    )
    data: dict = {"args": args}
    send = tokens_to_send("latent_decoder", key, previous,
                          [t for t in (model_id if layers is not None else None, points_token) if t is not None])
    if model_id in send and layers is not None:
        data["weights"] = arrow(model.weights, "<f4")
    if points_token in send:
        data["points"] = arrow(xy_bytes, "<f4")
        if label_bytes is not None:
            data["point_labels"] = arrow(label_bytes, "<i4")
    if image_bytes is not None:
        data["server_image"] = arrow(image_bytes, "u1")
    mount(_component, key, data, height)
    return z_out


__all__ = ["latent_decoder", "MODES", "MAX_SLIDER_DIMS"]
