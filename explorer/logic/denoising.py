"""Denoising made visible (pure): corrupt test images, find the denoising autoencoder, and
measure each model's reconstruction of the noisy images against the CLEAN ones."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple

import numpy as np

from core.card import Card

from core.pretrain.specs import SPECS

DENOISER_NAMES = ("{dataset}-dae-{dim}",)  # how a shipped denoising AE is named, e.g. mnist-dae-2
NOISE_KINDS = {
    "none": "No noise",
    "mask": "Masking: a random fraction of the pixels set to 0",
    "gaussian": "Gaussian noise with standard deviation σ, clipped to [0, 1]",
}


def find_denoiser(cards: Iterable[Card], dataset: str, dim: int) -> Card | None:
    """The denoising AE for ``dataset`` at latent ``dim``: the shipped one by name (mnist-dae-2),
    else any AE trained with input noise (shipped first, then the most noise)."""
    aes = [c for c in cards if c.kind == "ae" and c.dataset_name == dataset and c.latent_dim == dim]
    names = {pattern.format(dataset=dataset, dim=dim) for pattern in DENOISER_NAMES}
    by_name = [c for c in aes if c.name in names]
    if by_name:
        return by_name[0]
    noisy = [c for c in aes if c.is_denoiser]
    return min(noisy, key=lambda c: (c.origin != "shipped", -c.input_noise, c.name)) if noisy else None


def shipped_denoisers() -> list[str]:
    """The names of the denoising AEs the project ships (core/pretrain/specs.py: AEs trained with input noise)."""
    return [s.name for s in SPECS if s.kind == "ae" and s.run.input_noise > 0]


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
    return float(np.mean(mse_per_image(reconstruction, clean)))


def mse_per_image(reconstruction: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """(N,) each image's mean squared error per pixel: the unit the paired comparison resamples."""
    r = np.asarray(reconstruction, dtype=np.float64)
    c = np.asarray(clean, dtype=np.float64)
    return ((r - c) ** 2).reshape(len(r), -1).mean(axis=1)


class Difference(NamedTuple):
    """The mean of per-image differences a - b, with a bootstrap confidence interval."""

    mean: float
    low: float
    high: float

    @property
    def clear(self) -> bool:
        """The interval excludes 0: the ordering holds beyond the resampling noise of these images."""
        return self.low > 0 or self.high < 0


def paired_difference(a: np.ndarray, b: np.ndarray, n_boot: int = 2000, level: float = 0.95,
                      seed: int = 0) -> Difference:
    """Mean of a - b over the same images, with a percentile bootstrap interval (Efron & Tibshirani,
    1993, ch. 13): the images are resampled with replacement, keeping each image's pair together."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if d.ndim != 1 or len(d) < 2:
        raise ValueError(f"paired_difference needs two equal-length 1-D arrays of at least 2 values; got {d.shape}")
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(n_boot, len(d)))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Difference(float(d.mean()), float(low), float(high))


def comparison_sentence(first: str, second: str, diff: Difference, n: int) -> str:
    """What the paired difference of ``first``'s error minus ``second``'s says, in words."""
    interval = f"{diff.mean:+.4f} (95% CI {diff.low:+.4f} to {diff.high:+.4f}, {n} images)"
    if not diff.clear:
        return f"{first} and {second} are level: {first} minus {second} = {interval}, an interval that holds 0."
    better, worse = (first, second) if diff.mean < 0 else (second, first)
    return f"{better} is closer to the clean images than {worse}: {first} minus {second} = {interval}."


NOISE_LEVELS = (("none", 0.0), ("gaussian", 0.1), ("gaussian", 0.3), ("gaussian", 0.5),
                ("mask", 0.25), ("mask", 0.5), ("mask", 0.75))  # the levels every model is measured at


def errors_by_level(reconstructors: dict[str, Callable[[np.ndarray], np.ndarray]], clean: np.ndarray,
                    levels=NOISE_LEVELS, seed: int = 0) -> dict[tuple[str, float], dict[str, np.ndarray]]:
    """Per-image MSE against ``clean`` of each model (role -> noisy images -> reconstructions) at each
    noise level; every model sees the same noisy copies (noise seed ``seed``)."""
    out = {}
    for kind, amount in levels:
        noisy = corrupt(clean, kind, amount, seed)
        out[(kind, amount)] = {role: mse_per_image(rebuild(noisy), clean) for role, rebuild in reconstructors.items()}
    return out


def level_rows(errors: dict[tuple[str, float], dict[str, np.ndarray]], baseline: str) -> list[dict]:
    """One row per noise level: each role's mean error, and each other role minus ``baseline`` with its
    95% paired bootstrap interval (as text)."""
    rows = []
    for (kind, amount), by_role in errors.items():
        row = {"noise": noise_label(kind, amount), **{role: float(e.mean()) for role, e in by_role.items()}}
        for role, e in by_role.items():
            if role != baseline:
                d = paired_difference(e, by_role[baseline])
                row[f"{role} − {baseline}"] = f"{d.mean:+.4f} ({d.low:+.4f} to {d.high:+.4f})"
        rows.append(row)
    return rows


def noise_label(kind: str, amount: float) -> str:
    if kind == "mask":
        return f"{amount:.0%} of the pixels set to 0"
    if kind == "gaussian":
        return f"Gaussian noise, σ = {amount:g}"
    return "no noise"


__all__ = ["DENOISER_NAMES", "NOISE_KINDS", "find_denoiser", "corrupt",
           "mse_per_pixel", "mse_per_image", "Difference", "paired_difference", "comparison_sentence",
           "shipped_denoisers", "NOISE_LEVELS", "errors_by_level", "level_rows", "noise_label"]
