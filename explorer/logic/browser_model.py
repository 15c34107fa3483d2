"""The one export of a model for the browser components (latent_decoder, latent_canvas).

Python builds it here, once per render, and both components read it with the same JavaScript
(explorer/components/latent_decoder/decoder.js: ``LatentDecoder.readModel``):

    meta     JSON: the decoder's and the encoder's layers ({in, out, activation}), the image
             shape, the latent size, whether the encoder gives a log-variance, how a drawing is
             fitted into the model's frame (drawing.FIT) and the app's colours (palette.py);
    weights  one little-endian float32 buffer: W (out x in, row-major, as torch's
             nn.Linear.weight) then b (out), layer after layer, the encoder's layers first.

The layers are ``model.decoder_layers()`` / ``encoder_layers()`` (core/dense.py), with the
activations of core.dense.ACTIVATIONS.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from core.dense import ACTIVATIONS, IMAGE_ACTIVATIONS, DenseLayer
from explorer.logic import palette
from explorer.logic.drawing import FIT


class BrowserModel(NamedTuple):
    meta: dict  # JSON-ready description (see the module docstring)
    weights: bytes  # the encoder's then the decoder's float32 weights


def pack_dense(layers: Sequence[DenseLayer], n_in: int, n_out: int, what: str) -> tuple[list[dict], bytes]:
    """Check dense layers n_in -> ... -> n_out and pack them for decoder.js.

    Returns (meta [{"in", "out", "activation"}], float32 bytes). ``what`` names the parameter in
    the ValueError a bad layer raises ("layers", "encoder_layers", ...).
    """
    if not layers:
        raise ValueError(f"{what}=[] must hold at least one DenseLayer")
    meta, chunks, expected = [], [], n_in
    for i, layer in enumerate(layers):
        weight, bias = np.asarray(layer.weight), np.asarray(layer.bias)
        if weight.ndim != 2:
            raise ValueError(f"{what}[{i}].weight has shape {weight.shape}; it must be 2-D (out, in)")
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"{what}[{i}].bias has shape {bias.shape}; it must be ({weight.shape[0]},)")
        if weight.shape[1] != expected:
            raise ValueError(f"{what}[{i}].weight has shape {weight.shape}: it reads {weight.shape[1]} "
                             f"values but gets {expected}")
        if layer.activation not in ACTIVATIONS:
            raise ValueError(f"{what}[{i}].activation={layer.activation!r} is not one of {tuple(ACTIVATIONS)}")
        if not (np.isfinite(weight).all() and np.isfinite(bias).all()):
            raise ValueError(f"{what}[{i}] holds non-finite weights")
        meta.append({"in": int(weight.shape[1]), "out": int(weight.shape[0]), "activation": layer.activation})
        chunks += [np.ascontiguousarray(weight, "<f4").tobytes(), np.ascontiguousarray(bias, "<f4").tobytes()]
        expected = int(weight.shape[0])
    if expected != n_out:
        raise ValueError(f"{what} ends with {expected} values; it must give {n_out}")
    return meta, b"".join(chunks)


def browser_model(decoder_layers: Sequence[DenseLayer] | None, image_shape: Sequence[int], latent_dim: int, *,
                  encoder_layers: Sequence[DenseLayer] | None = None, variational: bool = False,
                  class_names: Sequence[str] | None = None, what: str = "decoder_layers") -> BrowserModel:
    """The export of a dense decoder (and optionally its encoder) for the browser; with
    ``decoder_layers=None`` (a convolutional decoder, decoded on the server) it holds no layers.

    ``what`` names the decoder's parameter in errors. Raises ValueError for layers that do not
    chain latent_dim -> ... -> C*H*W (the encoder: C*H*W -> D, or 2D when ``variational``) or a
    decoder that does not end in an image activation (IMAGE_ACTIVATIONS).
    """
    shape = [int(s) for s in image_shape]
    num_pixels = int(np.prod(shape))
    dec_meta, dec_blob = None, b""
    if decoder_layers is not None:
        dec_meta, dec_blob = pack_dense(decoder_layers, latent_dim, num_pixels, what)
    if dec_meta is not None and dec_meta[-1]["activation"] not in IMAGE_ACTIVATIONS:
        raise ValueError(f"{what} must end with one of {IMAGE_ACTIVATIONS} (an image in [0, 1])")
    enc_meta, enc_blob = None, b""
    if encoder_layers is not None:
        enc_meta, enc_blob = pack_dense(encoder_layers, num_pixels, 2 * latent_dim if variational else latent_dim,
                                        "encoder_layers")
    meta = {"decoder": dec_meta, "encoder": enc_meta, "image_shape": shape, "latent_dim": int(latent_dim),
            "variational": bool(variational and enc_meta is not None), "fit": dict(FIT),
            "palette": palette.for_components(None if class_names is None else list(class_names))}
    return BrowserModel(meta, enc_blob + dec_blob)


__all__ = ["BrowserModel", "pack_dense", "browser_model"]
