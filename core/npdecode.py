"""A dense decoder run with numpy alone, straight from NAME.safetensors: no torch import.

The home page's first picture is a grid of prior samples decoded by a VAE. Importing torch
costs seconds on a cold start; a dense decoder is a few matrix products, so this module
reads the decoder's weights with ``safetensors.numpy`` and runs them in numpy. The layers
come from core.dense.decoder_layers, the function ``LatentModel.decoder_layers()`` runs on the
model's own weights.

    decoder = load_numpy_decoder("checkpoints/mnist-vae-2")   # None: not dense (conv), use torch
    images = decoder.decode(z)                                # (N, C, H, W) float32 in [0, 1]
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from core.checkpoints import checkpoint_paths, read_card, read_weights
from core.dense import DenseLayer, decoder_layers, dense_forward

class NumpyDecoder(NamedTuple):
    layers: list[DenseLayer]
    image_shape: tuple[int, int, int]  # (C, H, W)
    latent_dim: int

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Latent codes (N, D) -> images (N, C, H, W) float32 in [0, 1]."""
        x = np.asarray(z, dtype=np.float32).reshape(-1, self.latent_dim)
        return dense_forward(self.layers, x).reshape(-1, *self.image_shape)


def prior_codes(n: int, latent_dim: int, seed: int = 0) -> np.ndarray:
    """z ~ N(0, I), (n, D) float32, reproducible from the seed (numpy's generator, not torch's)."""
    return np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32)


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
        layers = decoder_layers({**config, "kind": card.get("kind", config.get("kind"))}, load(data))
    except (OSError, ValueError, KeyError, TypeError):  # CheckpointError is a ValueError
        return None
    if layers is None:
        return None
    c, h, w = (int(s) for s in config["image_shape"])
    if layers[-1].weight.shape[0] != c * h * w or layers[0].weight.shape[1] != int(config["latent_dim"]):
        return None
    return NumpyDecoder(layers, (c, h, w), int(config["latent_dim"]))


__all__ = ["NumpyDecoder", "load_numpy_decoder", "prior_codes"]
