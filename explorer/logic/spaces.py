"""Numbers behind the exploration pages, without Streamlit: code ranges, grids over them,
a 2-D projection of the codes, posterior draws and nearest neighbours.

A VAE's latent space has a natural scale, its prior N(0, I). The other models' codes sit
wherever training put them, so a grid or a slider for them spans the range the data's
codes actually cover (or, for PCA without data, +-3 standard deviations of each axis).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from core.latent import LatentGrid, grid_axis
from core.models import LatentModel

SPACING_LABELS = {"linear": "linear", "gaussian": "inverse Gaussian CDF (equal prior mass per cell)"}


class CodeStats(NamedTuple):
    """Where the codes of one model lie, per latent dim."""

    mean: np.ndarray  # (D,)
    std: np.ndarray  # (D,)
    low: np.ndarray  # (D,) the range a linear grid or a slider spans
    high: np.ndarray  # (D,)
    source: str  # in words: "the prior N(0, I)", "the encoded test set", ...

    @property
    def value_range(self) -> float:
        """One symmetric bound covering every dim's range: [-r, r] (slider widgets)."""
        return float(np.ceil(max(np.abs(self.low).max(), np.abs(self.high).max()) * 10) / 10)


def prior_stats(latent_dim: int, span: float = 3.0) -> CodeStats:
    ones = np.ones(latent_dim)
    return CodeStats(0 * ones, ones, -span * ones, span * ones, "the prior N(0, I)")


def stats_from_codes(codes: np.ndarray, tail: float = 0.005) -> CodeStats:
    """Mean, std and the central 1 - 2 * tail range of encoded images (N, D)."""
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or len(codes) < 2:
        raise ValueError(f"codes must be (N, D) with N >= 2; got shape {codes.shape}")
    low, high = np.quantile(codes, [tail, 1 - tail], axis=0)
    flat = high - low < 1e-6
    low, high = np.where(flat, low - 1, low), np.where(flat, high + 1, high)
    return CodeStats(codes.mean(0), np.maximum(codes.std(0), 1e-6), low, high, "the encoded test set")


def model_stats(model: LatentModel, codes: np.ndarray | None) -> CodeStats:
    """The scale to explore a model at: the prior for a VAE, else its data's codes.

    Without data, PCA still knows its spread (the explained variance of each axis); an
    AE does not, and gets +-3 with a source that says it is a guess.
    """
    d = model.latent_dim
    if model.variational:
        return prior_stats(d)
    if codes is not None and len(codes) >= 2:
        return stats_from_codes(codes)
    variance = getattr(model, "explained_variance", None)
    if variance is not None and float(variance.sum()) > 0:
        std = np.sqrt(variance.detach().cpu().numpy().astype(np.float64))
        return CodeStats(np.zeros(d), std, -3 * std, 3 * std, "3 standard deviations of each principal axis")
    return CodeStats(np.zeros(d), np.ones(d), -3 * np.ones(d), 3 * np.ones(d),
                     "a guess (+-3): without the data the code range is unknown")


def grid_over(stats: CodeStats, dims: tuple[int, int], n: int, spacing: str,
              base: np.ndarray | None = None) -> LatentGrid:
    """An n x n grid over two dims in the model's own scale; other dims from ``base`` (zeros).

    ``linear`` spans [low, high] of each dim; ``gaussian`` places the points at evenly
    spaced quantiles of N(mean, std^2) per dim (for a VAE: of the prior). Ordering as
    core.latent.latent_grid: row 0 is the top (largest y), column 0 the left.
    """
    d0, d1 = (int(d) for d in dims)
    latent_dim = len(stats.mean)
    if d0 == d1 or not (0 <= d0 < latent_dim and 0 <= d1 < latent_dim):
        raise ValueError(f"dims={tuple(dims)} must be two different dims in [0, {latent_dim - 1}]")
    xs, ys = axis_values(stats, d0, n, spacing), axis_values(stats, d1, n, spacing)[::-1].copy()
    z = np.zeros((n * n, latent_dim), dtype=np.float32)
    if base is not None:
        base = np.asarray(base, dtype=np.float32).reshape(-1)
        if len(base) != latent_dim:
            raise ValueError(f"base has {len(base)} dims, the model has latent_dim={latent_dim}")
        z[:] = base
    z[:, d0] = np.tile(xs, n)
    z[:, d1] = np.repeat(ys, n)
    return LatentGrid(torch.from_numpy(z), xs, ys)


class Projection(NamedTuple):
    """An orthonormal 2-D projection y = (z - center) @ components.T."""

    center: np.ndarray  # (D,)
    components: np.ndarray  # (2, D), orthonormal rows

    def apply(self, z: np.ndarray) -> np.ndarray:
        return (np.asarray(z, dtype=np.float64).reshape(-1, len(self.center)) - self.center) @ self.components.T

    def covariances(self, logvar: np.ndarray) -> np.ndarray:
        """Diagonal Gaussians diag(exp(logvar)) (K, D) seen through the projection: (K, 2, 2)."""
        var = np.exp(np.asarray(logvar, dtype=np.float64))
        return np.einsum("id,kd,jd->kij", self.components, var, self.components)


def pca_projection(codes: np.ndarray) -> Projection:
    """The plane of the codes' two main directions of variance."""
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or codes.shape[1] < 2 or len(codes) < 2:
        raise ValueError(f"codes must be (N, D) with N >= 2 and D >= 2; got shape {codes.shape}")
    center = codes.mean(0)
    _, _, vt = np.linalg.svd(codes - center, full_matrices=False)
    components = vt[:2]
    # A fixed sign per axis (largest loading positive) so the picture does not flip.
    signs = np.sign(components[np.arange(2), np.abs(components).argmax(1)])
    return Projection(center, components * signs[:, None])


def dims_projection(latent_dim: int, dims: tuple[int, int]) -> Projection:
    """Two latent dims as a projection (no centring); a 1-D model gives y = 0."""
    components = np.zeros((2, latent_dim))
    components[0, dims[0]] = 1.0
    if latent_dim > 1:
        components[1, dims[1]] = 1.0
    return Projection(np.zeros(latent_dim), components)


def axis_values(stats: CodeStats, dim: int, n: int, spacing: str) -> np.ndarray:
    """n values along one dim, ascending, in the model's scale (as one axis of grid_over)."""
    unit = grid_axis(n, spacing, span=1.0)
    if spacing == "linear":
        return (stats.low[dim] + stats.high[dim]) / 2 + (stats.high[dim] - stats.low[dim]) / 2 * unit
    return stats.mean[dim] + stats.std[dim] * unit


class PosteriorDraws(NamedTuple):
    eps: np.ndarray  # (K, D) the standard normal noise
    z: np.ndarray  # (K, D) = mean + sigma * eps


def posterior_draws(mean: np.ndarray, logvar: np.ndarray, k: int, seed: int = 0) -> PosteriorDraws:
    """The reparameterization trick, spelled out: z = mean + exp(logvar / 2) * eps."""
    mean = np.asarray(mean, dtype=np.float64).reshape(-1)
    sigma = np.exp(0.5 * np.asarray(logvar, dtype=np.float64).reshape(-1))
    eps = np.random.default_rng(seed).standard_normal((k, len(mean)))
    return PosteriorDraws(eps, mean + sigma * eps)


def nearest(codes: np.ndarray, z: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k codes (N, D) nearest to z (D,), nearest first."""
    codes = np.asarray(codes)
    if len(codes) == 0:
        return np.zeros(0, dtype=np.int64)
    d2 = ((codes - np.asarray(z, dtype=codes.dtype).reshape(1, -1)) ** 2).sum(1)
    k = min(k, len(codes))
    top = np.argpartition(d2, k - 1)[:k]
    return top[np.argsort(d2[top])]


def ellipse_sample(n_points: int, k: int, seed: int = 0) -> np.ndarray:
    """A fixed random subset of k of n_points indices, sorted (the points that get ellipses)."""
    k = min(k, n_points)
    return np.sort(np.random.default_rng(seed).choice(n_points, size=k, replace=False))


def label_counts(labels: np.ndarray) -> list[tuple[int, int]]:
    """(label, count) of the labels, most frequent first (ties: smaller label first)."""
    values, counts = np.unique(np.asarray(labels, dtype=np.int64), return_counts=True)  # a value is never a size
    order = sorted(range(len(values)), key=lambda i: (-counts[i], values[i]))
    return [(int(values[i]), int(counts[i])) for i in order]


class NeighbourAgreement(NamedTuple):
    """How often a test image's nearest test codes carry its own label (leave one out)."""

    share: float  # of the measured images, those whose k neighbours' majority label is their own
    stderr: float  # binomial standard error of ``share``
    n: int  # images measured
    k: int
    mixed: list[tuple[int, int, float]]  # (label, the label its neighbours most often vote instead, share of that label)


def neighbour_agreement(means: np.ndarray, labels: np.ndarray, k: int = 10, at_most: int = 5000,
                        seed: int = 0) -> NeighbourAgreement:
    """For up to ``at_most`` test images, the majority label of their k nearest OTHER test codes
    (Euclidean, the whole latent space): a k-NN classifier scored leave-one-out, the number behind
    "these dimensions mix some classes"."""
    from sklearn.neighbors import NearestNeighbors

    means = np.asarray(means, dtype=np.float64)
    values, labels = np.unique(np.asarray(labels, dtype=np.int64), return_inverse=True)  # 0..K-1: never a size
    labels = labels.reshape(-1)
    rng = np.random.default_rng(seed)
    measured = np.sort(rng.choice(len(means), min(at_most, len(means)), replace=False))
    _, idx = NearestNeighbors(n_neighbors=min(k + 1, len(means))).fit(means).kneighbors(means[measured])
    neighbours = np.array([row[row != i][:k] for row, i in zip(idx, measured)])
    n_classes = len(values)
    votes = np.array([np.bincount(labels[row], minlength=n_classes).argmax() for row in neighbours])
    truth = labels[measured]
    share = float((votes == truth).mean())
    mixed = []
    for c in np.unique(truth):
        wrong = votes[(truth == c) & (votes != c)]
        if len(wrong):
            other = int(np.bincount(wrong).argmax())
            mixed.append((int(values[c]), int(values[other]), float((wrong == other).sum() / (truth == c).sum())))
    mixed.sort(key=lambda m: -m[2])
    return NeighbourAgreement(share, float(np.sqrt(share * (1 - share) / len(measured))), len(measured), k, mixed)


__all__ = [
    "label_counts", "NeighbourAgreement", "neighbour_agreement",
    "SPACING_LABELS", "CodeStats", "prior_stats", "stats_from_codes", "model_stats", "grid_over",
    "Projection", "pca_projection", "dims_projection", "axis_values", "PosteriorDraws", "posterior_draws", "nearest",
    "ellipse_sample",
]
