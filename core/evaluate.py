"""Test-split metrics for any LatentModel, in the units the app shows (nats per image)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from core.collapse import ACTIVE_UNIT_THRESHOLD, active_units
from core.losses import kl_per_dimension, reconstruction_nll
from core.models import VAE, LatentModel
from core.posterior import elbo_of, iwae_log_likelihood, optimise_posterior, quadrature_log_likelihood

BERNOULLI_CLAMP = 1e-6  # decoded pixels are kept in [1e-6, 1 - 1e-6] so a linear model's 0 or 1 costs 13.8 nats, not infinity


@dataclass
class Metrics:
    likelihood: str  # which p(x|z) the nats refer to ("bernoulli" or "gaussian", fixed variance)
    n_test: int  # images evaluated: every metric below (IWAE included) is measured on the same n_test images
    mse: float  # mean squared error per pixel of reconstruct(x) = decode(mean), images in [0, 1]
    bernoulli_nll_at_mean: float  # -log Bernoulli(x | decode(mean)), nats per image: one scale for every model
    reconstruction: float  # E_q[-log p(x|z)] in nats per image (z = the code for deterministic models)
    kl: float | None  # KL(q(z|x) || N(0, I)) in nats per image; None for deterministic models
    kl_per_dim: list[float] | None  # the same per latent dimension
    neg_elbo: float | None  # reconstruction + kl: an upper bound on -log p(x) (VAE only)
    iwae_nll: float | None  # importance-weighted estimate of -log p(x) with iwae_k samples (Burda et al., 2016)
    iwae_k: int | None
    active_units: int | None  # dimensions with mean KL > 0.01 nats (core/collapse.py)
    knn_accuracy: float | None  # kNN classifier in latent space trained on knn_labels labelled train images
    knn_labels: int | None
    # 2-D VAEs, with quadrature=True (core/posterior.py); the ELBOs here use 1,024 fixed quasi-random
    # samples each, the same for both q, so their difference (the amortization gap) is not sampling noise
    nll_quadrature: float | None = None  # -log p(x) by quadrature on a grid fitted to each image
    quadrature_change: float | None = None  # the largest change of one image's log p(x) when its grid was doubled
    neg_elbo_encoder: float | None = None  # -ELBO of the encoder's q(z|x)
    neg_elbo_optimised: float | None = None  # -ELBO of the best diagonal Gaussian found per image
    amortization_gap: float | None = None  # neg_elbo_encoder - neg_elbo_optimised (Cremer, Li & Duvenaud, 2018)
    approximation_gap: float | None = None  # neg_elbo_optimised - nll_quadrature

    def to_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def encode_means(model: LatentModel, images: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    """Posterior means (N, D) in batches."""
    model.eval()
    return torch.cat([model.encode(images[i:i + batch_size]).mean for i in range(0, len(images), batch_size)])


def iwae_negative_log_likelihood(
    model: LatentModel, images: torch.Tensor, k: int = 100, seed: int = 0, batch_size: int = 100
) -> torch.Tensor:
    """-log p(x) estimated with k importance samples per image, shape (N,): the IWAE bound of
    core/posterior.py, negated (it equals the ELBO at k = 1 and tightens as k grows)."""
    return -iwae_log_likelihood(model, images, k, seed, batch_size)


def bernoulli_nll(decoded: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p(x | decoded) under independent Bernoulli pixels, summed per image, shape (N,).

    The measure shared by every model, whatever likelihood it was trained with: PCA's and the
    linear AE's Gaussian nats (which depend on the assumed variance c) cannot sit beside a VAE's
    Bernoulli nats, but all four decode(mean) images can be scored on this one scale.
    """
    p = decoded.clamp(BERNOULLI_CLAMP, 1 - BERNOULLI_CLAMP)
    return -(x * p.log() + (1 - x) * (1 - p).log()).flatten(1).sum(1)


def knn_accuracy(
    train_codes: np.ndarray, train_labels: np.ndarray, test_codes: np.ndarray, test_labels: np.ndarray,
    label_fraction: float = 0.01, n_neighbors: int = 3, seed: int = 0,
) -> tuple[float, int]:
    """Accuracy of a kNN classifier fitted on a stratified ``label_fraction`` of the train codes.

    The semi-supervised use of a latent space: few labels, neighbours in z do the rest.
    Returns (accuracy, number of labels used).
    """
    from sklearn.model_selection import train_test_split
    from sklearn.neighbors import KNeighborsClassifier

    classes = np.unique(train_labels)
    n_labels = max(len(classes), int(round(label_fraction * len(train_labels))))
    if n_labels >= len(train_labels):
        idx = np.arange(len(train_labels))
    else:
        idx, _ = train_test_split(
            np.arange(len(train_labels)), train_size=n_labels, stratify=train_labels, random_state=seed
        )
    clf = KNeighborsClassifier(n_neighbors=min(n_neighbors, len(idx))).fit(train_codes[idx], train_labels[idx])
    return float(clf.score(test_codes, test_labels)), len(idx)


@torch.no_grad()
def evaluate(
    model: LatentModel,
    test_images: torch.Tensor,
    test_labels: np.ndarray | None = None,
    train_images: torch.Tensor | None = None,
    train_labels: np.ndarray | None = None,
    iwae_k: int = 100,
    knn_label_fraction: float = 0.01,
    seed: int = 0,
    batch_size: int = 1000,
    quadrature: bool = False,
) -> Metrics:
    """All metrics on the same test images (pass a slice to measure fewer).

    ``quadrature`` (a VAE with two latent dims): also log p(x) by quadrature, the optimised q
    and the two gaps of the ELBO (core/posterior.py); seconds per image on a CPU.

    Random numbers (posterior samples) come from a generator seeded with ``seed``, never from
    the global stream.
    """
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    sq_err = recon = bernoulli = 0.0
    kl_dims = torch.zeros(model.latent_dim)
    for start in range(0, len(test_images), batch_size):
        x = test_images[start:start + batch_size]
        mean, logvar = model.encode(x)
        decoded = model.decode(mean)
        sq_err += (decoded - x).pow(2).sum().item()
        bernoulli += bernoulli_nll(decoded, x).sum().item()
        z = mean
        if logvar is not None:
            z = VAE.reparameterize(mean, logvar, generator)
            kl_dims += kl_per_dimension(mean, logvar).sum(0)
        recon += reconstruction_nll(model.decoder_output(z), x, model.config.likelihood,
                                    model.config.gaussian_variance).sum().item()
    n = len(test_images)
    metrics = Metrics(
        likelihood=model.config.likelihood, n_test=n,
        mse=sq_err / (n * model.config.num_pixels), bernoulli_nll_at_mean=bernoulli / n, reconstruction=recon / n,
        kl=None, kl_per_dim=None, neg_elbo=None, iwae_nll=None, iwae_k=None,
        active_units=None, knn_accuracy=None, knn_labels=None,
    )
    if model.variational:
        per_dim = (kl_dims / n).tolist()
        metrics.kl = float(sum(per_dim))
        metrics.kl_per_dim = per_dim
        metrics.neg_elbo = metrics.reconstruction + metrics.kl
        metrics.active_units = active_units(per_dim)
        if iwae_k > 0:
            metrics.iwae_nll = float(iwae_negative_log_likelihood(model, test_images, iwae_k, seed).mean())
            metrics.iwae_k = iwae_k
    if quadrature:
        _add_posterior_metrics(metrics, model, test_images, seed)
    if train_images is not None and train_labels is not None and test_labels is not None:
        metrics.knn_accuracy, metrics.knn_labels = knn_accuracy(
            encode_means(model, train_images).numpy(), np.asarray(train_labels),
            encode_means(model, test_images).numpy(), np.asarray(test_labels),
            label_fraction=knn_label_fraction, seed=seed,
        )
    return metrics


def _add_posterior_metrics(metrics: Metrics, model: LatentModel, images: torch.Tensor, seed: int) -> None:
    if not (model.variational and model.latent_dim == 2):
        raise ValueError("quadrature needs a VAE with 2 latent dims")
    log_px, change = quadrature_log_likelihood(model, images)
    opt_mean, opt_logvar = optimise_posterior(model, images, seed=seed)
    mean, logvar = model.encode(images)
    encoder = -elbo_of(model, images, mean, logvar, seed=seed).mean().item()
    optimised = -elbo_of(model, images, opt_mean, opt_logvar, seed=seed).mean().item()
    metrics.nll_quadrature = float(-log_px.mean())
    metrics.quadrature_change = float(change.max())
    metrics.neg_elbo_encoder, metrics.neg_elbo_optimised = encoder, optimised
    metrics.amortization_gap = encoder - optimised
    metrics.approximation_gap = optimised - metrics.nll_quadrature
