"""Denoising made visible (pure): corrupt test images, find the denoising autoencoder, and
measure each model's reconstruction of the noisy images against the CLEAN ones."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from core.card import Card

DENOISER_NAMES = ("{dataset}-dae-{dim}",)  # the shipped denoising AE, e.g. mnist-dae-2
NOISE_KINDS = {
    "none": "No noise",
    "mask": "Masking: a random fraction of the pixels set to 0",
    "gaussian": "Gaussian noise with standard deviation σ, clipped to [0, 1]",
}


def input_noise(card: Card | dict) -> float:
    """The std of the Gaussian noise a model's inputs got while training (0: a plain model)."""
    return float(Card.of(card).model_config.get("input_noise") or 0.0)


def is_denoiser(card: Card | dict) -> bool:
    return input_noise(card) > 0


def find_denoiser(cards: Iterable[Card | dict], dataset: str, dim: int) -> Card | None:
    """The denoising AE for ``dataset`` at latent ``dim``: the shipped one by name (mnist-dae-2),
    else any AE trained with input noise (shipped first, then the most noise)."""
    aes = [c for c in map(Card.of, cards) if c.kind == "ae" and c.dataset_name == dataset and c.latent_dim == dim]
    names = {pattern.format(dataset=dataset, dim=dim) for pattern in DENOISER_NAMES}
    by_name = [c for c in aes if c.name in names]
    if by_name:
        return by_name[0]
    noisy = [c for c in aes if is_denoiser(c)]
    return min(noisy, key=lambda c: (c.origin != "shipped", -input_noise(c), c.name)) if noisy else None


def corrupt(x: np.ndarray, kind: str, amount: float, seed: int = 0) -> np.ndarray:
    """A noisy copy of images ``x`` (N, C, H, W) in [0, 1].

    ``mask``: each pixel (all its channels) is set to 0 with probability ``amount``;
    ``gaussian``: N(0, amount^2) noise is added, and the result clipped to [0, 1]; ``none``: a copy.
    The same seed gives the same noise.
    """
    x = np.asarray(x, dtype=np.float32)
    if kind not in NOISE_KINDS:
        raise ValueError(f"unknown noise {kind!r}; one of {', '.join(NOISE_KINDS)}")
    rng = np.random.default_rng(seed)
    if kind == "none" or amount <= 0:
        return x.copy()
    if kind == "mask":
        n, _, h, w = x.shape
        keep = rng.random((n, 1, h, w)) >= float(amount)
        return (x * keep).astype(np.float32)
    noisy = x + rng.standard_normal(x.shape).astype(np.float32) * float(amount)
    return np.clip(noisy, 0.0, 1.0).astype(np.float32)


def mse_per_pixel(reconstruction: np.ndarray, clean: np.ndarray) -> float:
    """Mean squared error per pixel (intensities in [0, 1]) over all images."""
    r = np.asarray(reconstruction, dtype=np.float64)
    c = np.asarray(clean, dtype=np.float64)
    return float(np.mean((r - c) ** 2))


def noise_label(kind: str, amount: float) -> str:
    if kind == "mask":
        return f"{amount:.0%} of the pixels set to 0"
    if kind == "gaussian":
        return f"Gaussian noise, σ = {amount:g}"
    return "no noise"


__all__ = ["DENOISER_NAMES", "NOISE_KINDS", "input_noise", "is_denoiser", "find_denoiser", "corrupt",
           "mse_per_pixel", "noise_label"]
