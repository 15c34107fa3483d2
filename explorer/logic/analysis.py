"""Non-UI helpers for the analysis pages: which checkpoints to compare, sweep groups,
interpolation paths, subspace angles, metrics rows. No Streamlit, no Plotly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.linalg import subspace_angles

from core.card import Card
from core.latent import lerp, path_smoothness, slerp
from core.models import PCA, LatentModel, LinearAE

KIND_ORDER = ("pca", "linear-ae", "ae", "vae")
METHODS = {"linear": lerp, "spherical": slerp}


# --------------------------------------------------------------------------- choosing cards


def fmt(value: float | int | None, spec: str = ".1f", unit: str = "") -> str:
    """A number for display, or an en dash when it is not defined (None)."""
    return "–" if value is None else f"{value:{spec}}{unit}"


def canonical_models(cards: list[Card], dataset: str, dim: int) -> dict[str, Card]:
    """The plain model of each kind (in KIND_ORDER) for ``dataset`` at latent ``dim``
    (``plain_model``)."""
    out = {kind: plain_model(cards, dataset, dim, kind) for kind in KIND_ORDER}
    return {kind: card for kind, card in out.items() if card is not None}


def plain_model(cards: list[Card], dataset: str, dim: int, kind: str, besides: str | None = None) -> Card | None:
    """The plain model of ``kind`` for ``dataset`` at latent ``dim`` (other than the one named
    ``besides``): the first by ``Card.plain_rank`` (for a beta sweep, the VAE with beta 1 and a
    reconstruction term); never a denoising one (``models_of``)."""
    found = [c for c in models_of(cards, dataset, dim, kind) if c.name != besides]
    return min(found, key=lambda c: c.plain_rank, default=None)


def models_of(cards: list[Card], dataset: str, dim: int, kind: str) -> list[Card]:
    """The cards of one kind of model for ``dataset`` at latent ``dim``; not the denoising ones
    (trained with input noise: the Compare page's denoising section shows them)."""
    return [c for c in cards if c.kind == kind and c.dataset_name == dataset and c.latent_dim == dim
            and not c.is_denoiser]


def larger_model(cards: list[Card], card: Card) -> Card | None:
    """The model of the same data with more latent dims to switch to: the same kind first, then a
    textbook one (a beta-1 VAE), a shipped one, the fewest dims above ``card``'s."""
    larger = [c for c in cards if c.dataset_name == card.dataset_name and c.latent_dim > card.latent_dim]
    return min(larger, key=lambda c: (c.kind != card.kind, not c.is_plain, c.origin != "shipped", c.latent_dim, c.name),
               default=None)


def most_expressive_vae(cards: list[Card], max_dims: int | None = None) -> Card | None:
    """A dataset's plain VAE (beta 1, with reconstruction) with the most latent dims (up to
    ``max_dims``), shipped before trained: the model a page opens a dataset on (frey-vae-8)."""
    vaes = [c for c in cards if c.variational and c.is_plain
            and (max_dims is None or c.latent_dim <= max_dims)]
    return max(vaes, key=lambda c: (c.latent_dim, c.origin == "shipped"), default=None)


def opening_model(preferred: str):
    """A model picker's default: ``preferred`` where the dataset has it (mnist-vae-2, the page's
    lesson in two dims), else the dataset's most expressive VAE, else its first model."""
    def choose(cards: list[Card]) -> Card | None:
        named = next((c for c in cards if c.name == preferred), None)
        return named or most_expressive_vae(cards) or (cards[0] if cards else None)
    return choose


def latent_dims_with(cards: list[Card], dataset: str, min_kinds: int = 2) -> list[int]:
    """Latent dims of ``dataset`` at which at least ``min_kinds`` kinds of model exist, ascending."""
    kinds: dict[int, set[str]] = {}
    for c in cards:
        if c.dataset_name == dataset:
            kinds.setdefault(c.latent_dim, set()).add(c.kind)
    return sorted(d for d, k in kinds.items() if len(k) >= min_kinds)


@dataclass
class SweepGroup:
    name: str  # the cards' "sweep" field
    models: list[Card]  # beta-sorted, with a reconstruction term
    kl_only: Card | None  # the model trained on the KL term alone, if the sweep has one

    @property
    def betas(self) -> list[float]:
        return [c.beta for c in self.models]

    @property
    def dataset(self) -> str:
        return self.models[0].dataset_name

    @property
    def latent_dim(self) -> int:
        return self.models[0].latent_dim

    def at_beta(self, beta: float) -> Card | None:
        return next((c for c in self.models if np.isclose(c.beta, beta)), None)


def sweep_groups(cards: list[Card]) -> dict[str, SweepGroup]:
    """VAE cards grouped by their ``sweep`` field (models sharing everything but beta).

    When no card names a sweep (e.g. only models trained here), VAEs sharing dataset,
    latent dim and likelihood with at least two distinct betas form a group instead.
    """
    vaes = [c for c in cards if c.variational]
    raw: dict[str, list[Card]] = {}
    for c in vaes:
        if c.sweep:
            raw.setdefault(c.sweep, []).append(c)
    if not raw:
        for c in vaes:
            raw.setdefault(f"{c.dataset_name}-vae-{c.latent_dim} ({c.likelihood})", []).append(c)
    groups = {}
    for name, members in raw.items():
        models = sorted((c for c in members if not c.is_kl_only), key=lambda c: (c.beta, len(c.name)))
        unique = list({c.beta: c for c in reversed(models)}.values())[::-1]  # one card per beta
        if len(unique) >= 2:
            groups[name] = SweepGroup(name, sorted(unique, key=lambda c: c.beta),
                                      next((c for c in members if c.is_kl_only), None))
    return dict(sorted(groups.items(), key=lambda kv: (kv[1].latent_dim, kv[0])))


@dataclass
class RateDistortion:
    """A sweep's points on the rate-distortion plane, sorted by beta (nats per image, test split).

    ``*_std`` hold the seed-to-seed standard deviation where the card trained several seeds
    (NaN where it did not).
    """

    betas: list[float]
    rates: list[float]  # KL
    distortions: list[float]  # reconstruction
    rate_std: list[float]
    distortion_std: list[float]

    @property
    def has_spread(self) -> bool:
        return any(np.isfinite(self.rate_std)) or any(np.isfinite(self.distortion_std))

    def follows_theory(self) -> bool:
        """Rate falls strictly and distortion never falls as beta grows (the rate-distortion tradeoff)."""
        r, d = self.rates, self.distortions
        return all(a > b for a, b in zip(r, r[1:])) and all(a <= b for a, b in zip(d, d[1:]))

    def distortion_noise(self, i: int) -> float:
        """The seed-to-seed standard deviation of the difference between points i-1 and i's
        reconstruction (NaN where either spread was not measured)."""
        return float(np.hypot(self.distortion_std[i - 1], self.distortion_std[i]))

    def falls(self) -> list[int]:
        """Indices i where the reconstruction is lower than at the next smaller beta (i-1)."""
        return [i for i in range(1, len(self.betas)) if self.distortions[i] < self.distortions[i - 1]]

    def fall_is_noise(self, i: int) -> bool:
        """The fall from i-1 to i is within 2 standard deviations of training noise (measured seeds)."""
        noise = self.distortion_noise(i)
        return bool(np.isfinite(noise) and self.distortions[i - 1] - self.distortions[i] <= 2 * noise)

    def fall_note(self, i: int) -> str:
        """What a fall in reconstruction between betas i-1 and i means, read off the measured spread."""
        drop = self.distortions[i - 1] - self.distortions[i]
        noise = self.distortion_noise(i)
        between = f"β = {self.betas[i - 1]:g} to {self.betas[i]:g}"
        if not np.isfinite(noise):
            return (f"From {between} the reconstruction falls by {drop:.1f} nats; the seed-to-seed spread of "
                    "these models was not measured, so this difference cannot be told from training noise.")
        verdict = ("within training noise: the theory's ordering holds up to the noise" if drop <= 2 * noise
                   else "more than twice the training noise")
        return (f"From {between} the reconstruction falls by {drop:.1f} nats, against a seed-to-seed spread of "
                f"± {noise:.1f} nats for that difference (measured over retrained seeds): {verdict}.")


def rate_distortion(cards: list[Card]) -> RateDistortion:
    """The VAE cards' (beta, test KL, test reconstruction), beta-sorted, with seed spreads where recorded."""
    points = []
    for c in cards:
        m = c.metrics
        if m.get("kl") is None or m.get("reconstruction") is None:
            continue
        std = (c.get("seeds") or {}).get("std") or {}
        points.append((c.beta, float(m["kl"]), float(m["reconstruction"]),
                       float(std.get("kl", np.nan)), float(std.get("reconstruction", np.nan))))
    points.sort(key=lambda p: p[0])
    columns = [list(col) for col in zip(*points)] if points else [[], [], [], [], []]
    return RateDistortion(*columns)


def default_sweep(groups: dict[str, SweepGroup], dataset: str) -> str | None:
    """The sweep a dataset opens on: the one with the most seed-measured members (its points carry
    their training noise), then the most latent dims (the most room for the rate to move)."""
    def measured(name: str) -> int:
        return sum(bool(c.get("seeds")) for c in groups[name].models)

    mine = [n for n in groups if groups[n].dataset == dataset]
    return max(mine, key=lambda n: (measured(n), groups[n].latent_dim), default=None)


def kl_only_point(group: "SweepGroup") -> tuple[float, float] | None:
    """(rate, distortion) of the sweep's KL-only model, if it has one with both numbers."""
    if group.kl_only is None:
        return None
    m = group.kl_only.metrics
    if m.get("reconstruction") is None:
        return None
    return float(m.get("kl") or 0.0), float(m["reconstruction"])


def tradeoff_caption(points: RateDistortion) -> str:
    """What the curve shows, read off its numbers and spreads (never a claim the numbers contradict)."""
    if len(points.betas) < 2:
        return "One model: no tradeoff to draw."
    lo, hi = 0, len(points.betas) - 1
    span = (f"From β = {points.betas[lo]:g} to β = {points.betas[hi]:g} the rate falls from "
            f"{points.rates[lo]:.1f} to {points.rates[hi]:.1f} nats and the distortion rises from "
            f"{points.distortions[lo]:.1f} to {points.distortions[hi]:.1f} nats.")
    rates_fall = all(a > b for a, b in zip(points.rates, points.rates[1:]))
    falls = points.falls()
    if rates_fall and not falls:
        return ("Each larger β buys a smaller rate (KL) with a larger distortion (reconstruction): moving right "
                "along the curve, the code carries more information and reconstructions improve. " + span)
    if rates_fall and all(points.fall_is_noise(i) for i in falls):
        return ("Each larger β buys a smaller rate (KL); the distortion rises with β up to training noise ("
                + "; ".join(points.fall_note(i) for i in falls) + ") " + span)
    return ("The points do not all line up as the theory says (KL falling, reconstruction rising with β): "
            + " ".join(points.fall_note(i) for i in falls) + " " + span)


def your_models(cards: list[Card], group: SweepGroup) -> tuple[list[Card], list[str]]:
    """The VAEs trained in the app that sit beside ``group`` on its curve (same data, latent dim and
    likelihood: their nats are on one scale), and why each other VAE trained here does not."""
    joined, refused = [], []
    for c in cards:
        if c.origin != "trained" or not c.variational:
            continue
        if c.dataset_name != group.dataset or c.latent_dim != group.latent_dim:
            refused.append(f"**{c.name}** is a {c.latent_dim}-D VAE on {c.dataset_name}; this sweep is "
                           f"{group.latent_dim}-D on {group.dataset}.")
        elif c.likelihood_label != group.models[0].likelihood_label:
            refused.append(f"**{c.name}** measures its reconstruction in a {c.likelihood_label} likelihood, the "
                           f"sweep in a {group.models[0].likelihood_label} one: their nats are not on one scale.")
        elif c.metrics.get("kl") is None or c.metrics.get("reconstruction") is None:
            refused.append(f"**{c.name}** has no test metrics on its card.")
        else:
            joined.append(c)
    return joined, refused


def map_dims(card: Card) -> tuple[int, int]:
    """The two latent dims to draw a map over: the two with the most KL for a VAE, else 0 and 1."""
    kl = card.metrics.get("kl_per_dim")
    if card.variational and kl and len(kl) > 2:
        top = np.argsort(-np.asarray(kl), kind="stable")[:2]
        return int(top[0]), int(top[1])
    return 0, 1


# Columns on one scale for every model: MSE, and -log Bernoulli(x | decode(mean)).
COMMON_METRIC_KEYS = ("mse", "bernoulli_nll_at_mean", "kl", "knn_accuracy", "active_units")


def neg_elbo_column(likelihood_label: str) -> str:
    """The -ELBO column of the models with this likelihood: nats of different likelihoods never share one."""
    return f"neg_elbo · {likelihood_label}"


def metrics_table(cards: list[Card]):
    """metrics_rows as a DataFrame with numeric metric columns, so undefined values show blank."""
    import pandas as pd

    table = pd.DataFrame(metrics_rows(cards))
    for key in table.columns:
        if key in COMMON_METRIC_KEYS or key.startswith("neg_elbo"):
            table[key] = pd.to_numeric(table[key], errors="coerce")
    return table


def metrics_rows(cards: list[Card]) -> list[dict]:
    """One row per card for the Compare table (test split; None where not defined).

    MSE and the Bernoulli NLL of decode(mean) compare all models; the -ELBO is in each model's own
    likelihood, so it gets one column per likelihood present (a Gaussian's nats depend on its c).
    """
    elbo_columns = sorted({neg_elbo_column(c.likelihood_label) for c in cards if c.variational})
    rows = []
    for c in cards:
        m = c.metrics
        row = {"model": c.name, "kind": c.kind, "likelihood": c.likelihood_label,
               **{key: m.get(key) for key in COMMON_METRIC_KEYS}}
        row.update({column: None for column in elbo_columns})
        if c.variational:
            row[neg_elbo_column(c.likelihood_label)] = m.get("neg_elbo")
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- latent work


def subsample(n: int, at_most: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of at most ``at_most`` of n items, the same for the same seed."""
    if n <= at_most:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, at_most, replace=False))


def pair_by_class(labels: np.ndarray, a: int, b: int, seed: int = 0) -> tuple[int, int]:
    """Indices of one image of class ``a`` and one of class ``b`` (different images), seeded."""
    rng = np.random.default_rng(seed)
    from_a = np.flatnonzero(labels == a)
    from_b = np.flatnonzero(labels == b)
    if not len(from_a) or not len(from_b):
        missing = a if not len(from_a) else b
        raise ValueError(f"class {missing} has no test images")
    i = int(rng.choice(from_a))
    from_b = from_b[from_b != i] if len(from_b) > 1 else from_b
    return i, int(rng.choice(from_b))


def random_pair(n: int, seed: int = 0) -> tuple[int, int]:
    i, j = np.random.default_rng(seed).choice(n, 2, replace=False)
    return int(i), int(j)


@dataclass
class InterpolationPath:
    images: np.ndarray  # (steps, C, H, W) in [0, 1]
    steps: np.ndarray  # (steps - 1,) mean absolute pixel change per step
    mean_step: float
    largest_jump: float


@torch.no_grad()
def interpolation_path(model: LatentModel, z0: torch.Tensor, z1: torch.Tensor, steps: int,
                       method: str) -> InterpolationPath:
    """Decode ``steps`` codes from z0 to z1 (D,), linear or spherical, with the path's smoothness."""
    if method not in METHODS:
        raise ValueError(f"method={method!r} is not one of {tuple(METHODS)}")
    images = model.decode(METHODS[method](z0.float(), z1.float(), steps))
    per_step, mean, largest = path_smoothness(images)
    return InterpolationPath(images.numpy(), per_step, mean, largest)


@torch.no_grad()
def encode_pair(model: LatentModel, x0: np.ndarray, x1: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior means of two images (C, H, W): two codes (D,)."""
    z = model.encode(torch.from_numpy(np.stack([x0, x1]).astype(np.float32))).mean
    return z[0], z[1]


def principal_angles_deg(linear_ae: LinearAE, pca: PCA) -> np.ndarray:
    """Principal angles (degrees, ascending) between the linear AE decoder's column space and
    PCA's top-D components, both as subspaces of pixel space (P dims).

    All near 0: the linear AE learned PCA's subspace, with its own basis inside it.
    """
    if linear_ae.image_shape != pca.image_shape:
        raise ValueError(f"image shapes differ: {linear_ae.image_shape} vs {pca.image_shape}")
    decoder = linear_ae.decoder.weight.detach().double().numpy()  # (P, D)
    components = pca.components.detach().double().numpy().T  # (P, D)
    return np.sort(np.degrees(subspace_angles(decoder, components)))


def basis_images(matrix: torch.Tensor | np.ndarray, image_shape: tuple[int, int, int]) -> np.ndarray:
    """The D columns of a (P, D) matrix as images (D, C, H, W), each scaled to its own [min, max]."""
    cols = np.asarray(matrix.detach().cpu() if isinstance(matrix, torch.Tensor) else matrix, dtype=np.float32).T
    lo, hi = cols.min(1, keepdims=True), cols.max(1, keepdims=True)
    return ((cols - lo) / np.maximum(hi - lo, 1e-12)).reshape(-1, *image_shape)
