"""Reconstruction terms and the KL divergence, per image, in nats.

Every function returns one number per image (shape (N,)) or per image and latent
dimension (shape (N, D)); averaging over a batch is the caller's choice.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LIKELIHOODS = ("bernoulli", "gaussian")


def reconstruction_nll(
    decoder_output: torch.Tensor,
    x: torch.Tensor,
    likelihood: str,
    gaussian_variance: float = 1.0,
) -> torch.Tensor:
    """-log p(x|z) summed over pixels, shape (N,).

    decoder_output: logits for ``bernoulli``; the mean in [0, 1] for ``gaussian``.
    ``gaussian`` has a fixed variance c, so -log p = ||x - mean||^2 / (2c) + (P/2) log(2 pi c):
    the squared error weighted by C = 1/(2c), plus a constant that keeps the number a
    true negative log-likelihood (comparable across c).
    """
    flat_out = decoder_output.flatten(1)
    flat_x = x.flatten(1)
    if likelihood == "bernoulli":
        # Continuous pixel intensities in [0, 1] used as Bernoulli targets, as in
        # Kingma & Welling (2014) and pytorch/examples vae/main.py.
        return F.binary_cross_entropy_with_logits(flat_out, flat_x, reduction="none").sum(1)
    if likelihood == "gaussian":
        pixels = flat_x.shape[1]
        squared = (flat_x - flat_out).pow(2).sum(1)
        return squared / (2.0 * gaussian_variance) + 0.5 * pixels * math.log(2 * math.pi * gaussian_variance)
    raise ValueError(f"likelihood={likelihood!r} is not one of {LIKELIHOODS}")


def kl_per_dimension(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, 1)) for each latent dimension, shape (N, D).

    Closed form from Kingma & Welling (2014), Appendix B:
    -KL = 1/2 * sum(1 + log sigma^2 - mu^2 - sigma^2).
    """
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar)


def kl_divergence(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || p(z)) summed over latent dimensions, shape (N,)."""
    return kl_per_dimension(mean, logvar).sum(1)


def gaussian_log_density(z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mean, diag(exp(logvar))) summed over the last dimension."""
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mean).pow(2) / logvar.exp()).sum(-1)
