"""Is a decoded image like the data? Scores for one image, and measures over many draws.

Two scorers, one per kind of data, each saying for every image whether it is *recognised*
(looks like a real example) and how far it is from the nearest real test image:

* ``DigitScorer`` (28x28 digits): the judge of core/judge.py, a classifier trained on real
  MNIST digits only (and on noise and overlays as "not a digit"). Recognised: its largest digit
  probability >= judge.CONFIDENT (0.9); it is right on more than 99.5% of real test digits it is
  that sure of. Also its entropy.
* ``FaceScorer`` (faces, no labels to judge by): the distance to the nearest test face under
  a fixed feature map, the top FACE_COMPONENTS principal components of the *training* faces
  (fitted once, no autoencoder involved). The projection keeps the face's shape (pose,
  expression) and drops pixel noise, so a blurry average of two faces is far from every real
  face while a sharp new face near a real one is close. Recognised: the distance is within
  the FACE_QUANTILE of real training faces' own distances to their nearest test face, so 95%
  of real faces count as recognised by construction.

The measures over many draws (used by scripts/measure_draws.py, which writes the numbers the
pages quote): samples from the prior, interpolation paths between random test pairs, the
cells of a manifold grid, and the "holes" of a 2-D latent map. Every summary carries its spread:
a bootstrap 95% interval of the mean (pairs, cells) or the std over independent draws (samples).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core import judge
from core.latent import lerp, path_smoothness, slerp

FACE_COMPONENTS = 20  # principal components of the training faces in the face feature map
FACE_QUANTILE = 0.95  # a face is recognised when as close to a test face as 95% of real training faces
BOOTSTRAP = 2000  # resamples of a bootstrap interval
PATHS = {"linear": lerp, "spherical": slerp}


def nearest_distance(images: np.ndarray, reference: torch.Tensor, batch: int = 500) -> np.ndarray:
    """L2 distance of each image (flattened) to its nearest row of ``reference`` (M, P)."""
    x = torch.tensor(np.asarray(images, dtype=np.float32)).reshape(len(images), -1)  # copies: inputs may be read-only
    return torch.cat([torch.cdist(x[i:i + batch], reference).min(1).values
                      for i in range(0, len(x), batch)]).numpy()


@dataclass
class Scores:
    """Per image: recognised (bool), distance to the nearest test image (pixels, L2), and the
    judge's entropy (digits only, else None)."""

    recognised: np.ndarray
    nearest_l2: np.ndarray
    entropy: np.ndarray | None = None


class DigitScorer:
    """The judge's verdicts; distances too when given the test images (``recognise`` needs none)."""

    kind = "digit judge"

    def __init__(self, test_images: np.ndarray | None = None, model: judge.DigitJudge | None = None):
        self.model = model if model is not None else judge.load_judge()
        self.test = None if test_images is None else torch.as_tensor(
            np.asarray(test_images, np.float32)).reshape(len(test_images), -1)

    def recognise(self, images: np.ndarray) -> np.ndarray:
        return judge.recognised(judge.probabilities(self.model, images))

    def __call__(self, images: np.ndarray) -> Scores:
        p = judge.probabilities(self.model, images)
        return Scores(judge.recognised(p), nearest_distance(images, self.test), judge.entropy(p))


class FaceScorer:
    kind = "face realism"

    def __init__(self, train_images: np.ndarray, test_images: np.ndarray):
        train = np.asarray(train_images, np.float64).reshape(len(train_images), -1)
        self.mean = train.mean(0)
        _, _, vt = np.linalg.svd(train - self.mean, full_matrices=False)
        self.components = vt[:FACE_COMPONENTS]
        self.test = torch.tensor(np.asarray(test_images, np.float32)).reshape(len(test_images), -1)
        self.test_features = torch.as_tensor(self.features(test_images), dtype=torch.float32)
        real = nearest_distance(self.features(train_images), self.test_features)
        self.threshold = float(np.quantile(real, FACE_QUANTILE))

    def features(self, images: np.ndarray) -> np.ndarray:
        flat = np.asarray(images, np.float64).reshape(len(images), -1)
        return ((flat - self.mean) @ self.components.T).astype(np.float32)

    def recognise(self, images: np.ndarray) -> np.ndarray:
        return nearest_distance(self.features(images), self.test_features) <= self.threshold

    def __call__(self, images: np.ndarray) -> Scores:
        return Scores(self.recognise(images), nearest_distance(images, self.test))


def scorer_for(dataset) -> DigitScorer | FaceScorer | None:
    """The scorer for a core.data Dataset: the judge for 28x28 digits (MNIST), the face feature
    map for Frey; None for data neither knows."""
    if dataset.name == "mnist":
        return DigitScorer(dataset.test_images)
    if dataset.name == "frey":
        return FaceScorer(dataset.train_images, dataset.test_images)
    return None


# ----------------------------------------------------------------------------- spread


def bootstrap_mean(values: np.ndarray, seed: int = 0) -> dict:
    """Mean of per-draw values with a bootstrap 95% interval (resampling the draws)."""
    values = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (BOOTSTRAP, len(values)))].mean(1)
    low, high = np.quantile(means, [0.025, 0.975])
    return {"mean": float(values.mean()), "low": float(low), "high": float(high), "n": int(len(values))}


def over_draws(per_draw: list[float]) -> dict:
    """Mean and std of one statistic over independent draws (each a batch of samples)."""
    values = np.asarray(per_draw, dtype=np.float64)
    return {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "draws": int(len(values))}


# ----------------------------------------------------------------------------- the draws


@torch.no_grad()
def decode(model, z: np.ndarray | torch.Tensor, batch: int = 2000) -> np.ndarray:
    z = torch.as_tensor(np.asarray(z, dtype=np.float32))
    return torch.cat([model.decode(z[i:i + batch]) for i in range(0, len(z), batch)]).numpy()


@torch.no_grad()
def encode(model, images: np.ndarray, batch: int = 2000) -> np.ndarray:
    x = torch.tensor(np.asarray(images, dtype=np.float32))
    return torch.cat([model.encode(x[i:i + batch]).mean for i in range(0, len(x), batch)]).numpy()


def prior_codes(variational: bool, test_codes: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Codes "from the prior": N(0, I) for a VAE; for a model without a prior (PCA, AEs, a beta = 0
    VAE), a Gaussian with the mean and covariance of its encoded test set."""
    rng = np.random.default_rng(seed)
    d = test_codes.shape[1]
    if variational:
        return rng.standard_normal((n, d)).astype(np.float32)
    codes = np.asarray(test_codes, np.float64)
    return rng.multivariate_normal(codes.mean(0), np.cov(codes, rowvar=False).reshape(d, d), n).astype(np.float32)


def summarise(scores: Scores) -> dict:
    """Share recognised, median distance to the nearest test image, mean entropy of one batch."""
    out = {"recognised": float(scores.recognised.mean()), "nearest_l2_median": float(np.median(scores.nearest_l2))}
    if scores.entropy is not None:
        out["entropy"] = float(scores.entropy.mean())
    return out


def prior_samples(model, variational: bool, test_codes: np.ndarray, scorer, n: int = 1000,
                  seeds: int = 5) -> dict:
    """``seeds`` independent batches of n decoded prior draws: each statistic's mean and std over them."""
    batches = [summarise(scorer(decode(model, prior_codes(variational, test_codes, n, seed))))
               for seed in range(seeds)]
    return {key: over_draws([b[key] for b in batches]) for key in batches[0]}


@dataclass
class PathMeasures:
    """One interpolation path: how even its steps are and how much of it stays on the data."""

    unevenness: float  # largest step / mean step: 1 for perfectly even steps, large for one jump
    recognised: float  # share of the intermediate images (not the two ends) recognised
    mean_step: float  # mean |pixel change| per step (a blur keeps it low too: alone it cannot judge a path)


def path_measures(images: np.ndarray, scorer) -> PathMeasures:
    """Measures of one decoded path (steps, C, H, W), ends included."""
    steps, mean, largest = path_smoothness(torch.as_tensor(images))
    inside = scorer.recognise(images[1:-1]) if len(images) > 2 else np.zeros(0, bool)
    return PathMeasures(float(largest / mean) if mean > 0 else 1.0, float(inside.mean()) if len(inside) else 0.0,
                        float(mean))


def random_pairs(n_images: int, pairs: int, seed: int = 0) -> np.ndarray:
    """``pairs`` pairs (i, j), i != j, of test-image indices, seeded."""
    rng = np.random.default_rng(seed)
    first = rng.integers(0, n_images, pairs)
    second = (first + rng.integers(1, n_images, pairs)) % n_images
    return np.stack([first, second], 1)


def interpolations(model, test_images: np.ndarray, scorer, pairs: np.ndarray, steps: int, method: str) -> dict:
    """Each pair's path from encode(x_i) to encode(x_j): its measures, and their means with spread."""
    ends = encode(model, test_images[pairs.reshape(-1)]).reshape(len(pairs), 2, -1)
    path = PATHS[method]
    measured = [path_measures(decode(model, path(torch.from_numpy(a), torch.from_numpy(b), steps)), scorer)
                for a, b in ends]
    per_pair = {field: [round(getattr(m, field), 5) for m in measured]
                for field in ("unevenness", "recognised", "mean_step")}
    return {"summary": {field: bootstrap_mean(values) for field, values in per_pair.items()}, "per_pair": per_pair}


def grid_cells(model, grid_codes: np.ndarray, scorer) -> dict:
    """The cells of a manifold grid (codes (n*n, D)): share recognised and median distance, with spread."""
    scores = scorer(decode(model, grid_codes))
    out = {"recognised": bootstrap_mean(scores.recognised.astype(float)),
           "nearest_l2_median": float(np.median(scores.nearest_l2)), "cells": int(len(grid_codes))}
    if scores.entropy is not None:
        out["entropy"] = bootstrap_mean(scores.entropy)
    return out


def holes(model, test_codes: np.ndarray, low: np.ndarray, high: np.ndarray, scorer, n: int = 1000,
          seed: int = 0) -> dict:
    """A 2-D map's holes: n codes uniform in the box [low, high] (the page's grid range), split into
    those near the data and those in a hole (no test code within the radius that 99% of test codes
    find a neighbour in); the share of the box that is hole, and the share recognised on each side."""
    codes = np.asarray(test_codes, np.float32)
    ref = torch.from_numpy(codes)
    spacing = torch.cdist(ref, ref).fill_diagonal_(float("inf")).min(1).values.numpy()
    radius = float(np.quantile(spacing, 0.99))
    rng = np.random.default_rng(seed)
    z = (low + (high - low) * rng.random((n, codes.shape[1]))).astype(np.float32)
    in_hole = nearest_distance(z, ref) > radius
    recognised = scorer(decode(model, z)).recognised.astype(float)
    out = {"radius": radius, "hole_share": bootstrap_mean(in_hole.astype(float))}
    for name, where in (("recognised_in_holes", in_hole), ("recognised_near_data", ~in_hole)):
        out[name] = bootstrap_mean(recognised[where]) if where.sum() >= 2 else None
    return out


def reconstructions(model, test_images: np.ndarray, scorer, n: int = 1000) -> dict:
    """The first n test images' reconstructions decode(encode(x)): the ceiling the other measures face."""
    x = np.asarray(test_images[:n])
    return summarise(scorer(decode(model, encode(model, x))))
