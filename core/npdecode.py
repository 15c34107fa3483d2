"""A dense decoder run with numpy alone, straight from NAME.safetensors: no torch import.

The home page's first picture is a grid of prior samples decoded by a VAE. Importing torch
costs seconds on a cold start; a dense decoder is a few matrix products, so this module
reads the decoder's weights with ``safetensors.numpy`` and runs them in numpy. The layers
are those of ``LatentModel.decoder_layers()`` (core/models.py), read from the state-dict
names instead of the torch modules; tests/test_codes.py checks both give the same images.

    decoder = load_numpy_decoder("checkpoints/mnist-vae-2")   # None: not dense (conv), use torch
    images = decoder.decode(z)                                # (N, C, H, W) float32 in [0, 1]
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np

from core.checkpoints import checkpoint_paths, read_card, read_weights


class NumpyLayer(NamedTuple):
    weight: np.ndarray  # (out, in) float32
    bias: np.ndarray  # (out,) float32
    activation: str  # "relu", "sigmoid" or "clamp01"


class NumpyDecoder(NamedTuple):
    layers: list[NumpyLayer]
    image_shape: tuple[int, int, int]  # (C, H, W)
    latent_dim: int

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Latent codes (N, D) -> images (N, C, H, W) float32 in [0, 1]."""
        x = np.asarray(z, dtype=np.float32).reshape(-1, self.latent_dim)
        for layer in self.layers:
            x = x @ layer.weight.T + layer.bias
            if layer.activation == "relu":
                np.maximum(x, 0.0, out=x)
            elif layer.activation == "sigmoid":
                x = 0.5 * (np.tanh(0.5 * x) + 1.0)  # overflow-free logistic
            else:
                np.clip(x, 0.0, 1.0, out=x)
        return x.reshape(-1, *self.image_shape).astype(np.float32, copy=False)


def prior_codes(n: int, latent_dim: int, seed: int = 0) -> np.ndarray:
    """z ~ N(0, I), (n, D) float32, reproducible from the seed (numpy's generator, not torch's)."""
    return np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32)


def _layers(kind: str, config: dict, tensors: dict[str, np.ndarray]) -> list[NumpyLayer] | None:
    f32 = {k: np.asarray(v, dtype=np.float32) for k, v in tensors.items()}
    if kind == "pca":
        return [NumpyLayer(np.ascontiguousarray(f32["components"].T), f32["mean"], "clamp01")]
    if kind == "linear-ae":
        return [NumpyLayer(f32["decoder.weight"], f32["decoder.bias"], "clamp01")]
    if kind in ("ae", "vae") and config.get("architecture", "mlp") == "mlp":
        indices = sorted({int(m.group(1)) for k in f32 if (m := re.fullmatch(r"decoder\.(\d+)\.weight", k))})
        return [NumpyLayer(f32[f"decoder.{i}.weight"], f32[f"decoder.{i}.bias"],
                           "sigmoid" if j == len(indices) - 1 else "relu") for j, i in enumerate(indices)]
    return None


def load_numpy_decoder(path: str | Path, verify_hash: bool = True) -> NumpyDecoder | None:
    """The decoder of checkpoint ``path`` (dir/NAME) as numpy layers, or None when it is not
    dense (a conv decoder) or the files do not fit (then load it with torch, which says why)."""
    from safetensors.numpy import load

    weights, _ = checkpoint_paths(path)
    try:
        card = read_card(path)  # both files read as untrusted input (core/checkpoints.py)
        config, data = card["model_config"], read_weights(weights, card)
        if verify_hash and card.get("weights_sha256") and hashlib.sha256(data).hexdigest() != card["weights_sha256"]:
            return None
        layers = _layers(card.get("kind", config.get("kind")), config, load(data))
    except (OSError, ValueError, KeyError, TypeError):  # CheckpointError is a ValueError
        return None
    if layers is None:
        return None
    c, h, w = (int(s) for s in config["image_shape"])
    if layers[-1].weight.shape[0] != c * h * w or layers[0].weight.shape[1] != int(config["latent_dim"]):
        return None
    return NumpyDecoder(layers, (c, h, w), int(config["latent_dim"]))


__all__ = ["NumpyDecoder", "NumpyLayer", "load_numpy_decoder", "prior_codes"]
