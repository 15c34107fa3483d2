"""A model's layers as plain dense matrices: the one definition the numpy decoder
(core/npdecode.py), ``LatentModel.decoder_layers()`` (core/models.py) and the browser components
(explorer/logic/browser_model.py, decoder.js) all use. Numpy only: no torch import.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable, NamedTuple

import numpy as np

# Every activation a dense layer may apply, as numpy computes it ("clamp01": a linear output
# clipped to [0, 1]; "linear" ends an encoder: a mean and a log-variance). decoder.js computes
# the same names.
ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda x: np.maximum(x, 0.0),
    "sigmoid": lambda x: 0.5 * (np.tanh(0.5 * x) + 1.0),  # the logistic, overflow-free
    "clamp01": lambda x: np.clip(x, 0.0, 1.0),
    "linear": lambda x: x,
}
# How a decoder may end: its output is an image in [0, 1].
IMAGE_ACTIVATIONS = ("sigmoid", "clamp01")


class DenseLayer(NamedTuple):
    """One dense layer: y = activation(x W^T + b)."""

    weight: np.ndarray  # (out, in) float32
    bias: np.ndarray  # (out,) float32
    activation: str  # a key of ACTIVATIONS


def dense_forward(layers: list[DenseLayer], x: np.ndarray) -> np.ndarray:
    """Inputs (N, in) -> outputs (N, out) float32 through the layers."""
    x = np.asarray(x, dtype=np.float32)
    for layer in layers:
        x = ACTIVATIONS[layer.activation](x @ layer.weight.T + layer.bias)
    return x.astype(np.float32, copy=False)


def decoder_layers(config: Mapping[str, Any], tensors: Mapping[str, Any]) -> list[DenseLayer] | None:
    """The decoder of a model as dense layers z -> flat image (C*H*W) in [0, 1], or None when it
    is convolutional. ``config``: ModelConfig.to_dict() (a card's model_config); ``tensors``: its
    state dict (torch tensors on the CPU or numpy arrays, by name)."""

    def f32(name: str) -> np.ndarray:
        return np.array(np.asarray(tensors[name]), dtype=np.float32)  # a copy: the caller's tensors stay untouched

    kind = config["kind"]
    if kind == "pca":  # x = z W + mean
        return [DenseLayer(np.ascontiguousarray(f32("components").T), f32("mean"), "clamp01")]
    if kind == "linear-ae":
        return [DenseLayer(f32("decoder.weight"), f32("decoder.bias"), "clamp01")]
    if config.get("architecture", "mlp") != "mlp":
        return None
    # core.models.mlp([D, *reversed(hidden), C*H*W]): a Linear at every other index, ReLU between.
    n = len(config.get("hidden", ())) + 1
    return [DenseLayer(f32(f"decoder.{2 * i}.weight"), f32(f"decoder.{2 * i}.bias"),
                       "sigmoid" if i == n - 1 else "relu") for i in range(n)]


__all__ = ["ACTIVATIONS", "IMAGE_ACTIVATIONS", "DenseLayer", "dense_forward", "decoder_layers"]
