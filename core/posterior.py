"""The true posterior p(z|x) of a latent-variable model, and the bounds on log p(x) that approach it.

For one image x and a decoder p(x|z) with the prior p(z) = N(0, I):

- ``log_joint``: log p(x, z) = log p(x|z) + log p(z) at any codes z;
- ``true_posterior`` (2-D latents only): log p(x) = log of the integral of p(x, z) over z, by
  quadrature on a grid fitted to this image, and the density p(z|x) = p(x, z) / p(x) on that grid;
- ``elbo``: E_q[log p(x|z)] - KL(q || p) for a diagonal Gaussian q, with fixed quasi-random samples;
- ``optimise_posterior``: the diagonal Gaussian with the best ELBO, found by gradient steps started
  from the encoder's q (the amortization gap of Cremer, Li & Duvenaud, 2018, is what it gains);
- ``iwae_log_likelihood`` / ``iwae_curve``: the importance-weighted bound with k samples
  (Burda, Grosse & Salakhutdinov, 2016), for any k, in chunks.

In nats per image. Every random number comes from a generator seeded by the caller.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from core.losses import gaussian_log_density, kl_divergence, kl_per_dimension, reconstruction_nll
from core.models import LatentModel

DECODE_CHUNK = 8192  # codes decoded at once: 8,192 x 784 pixels of float32 is 26 MB
COARSE_HALF_WIDTH = 6.0  # the first search covers [-6, 6]^2: the prior's density there is e^-18 below its peak
COARSE_INTERVALS = 32
SIGNIFICANT_NATS = 25.0  # grid nodes more than 25 nats below the peak of log p(x, z) mark the window's edge
Q_HALF_WIDTH = 4.0  # the window always holds q(z|x)'s mean +- 4 sigma, so q's ellipse is drawn over it
QUADRATURE_TOLERANCE = 0.01  # nats: doubling the window or the resolution must change log p(x) by less
QUADRATURE_INTERVALS = 24  # intervals per side of the base grid; the check doubles them
MAX_INTERVALS = 192
ELBO_SAMPLES = 1024
OPTIMISER_SAMPLES = 32
OPTIMISER_STEPS = 60
OPTIMISER_LR = 0.5
ADAM_BETAS = (0.9, 0.999)


@torch.no_grad()
def log_joint(model: LatentModel, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """log p(x|z) + log p(z) for one image x (C, H, W) at codes z (M, D), shape (M,)."""
    out = []
    for start in range(0, len(z), DECODE_CHUNK):
        chunk = z[start:start + DECODE_CHUNK]
        out.append(_log_joint_batch(model, x.expand(len(chunk), *x.shape), chunk))
    return torch.cat(out)


def _log_joint_batch(model: LatentModel, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """log p(x_i|z_i) + log p(z_i) for paired rows of x (M, C, H, W) and z (M, D)."""
    log_px_z = -reconstruction_nll(model.decoder_output(z), x, model.config.likelihood, model.config.gaussian_variance)
    return log_px_z + gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z))


# ---- quadrature (2-D latents) ---------------------------------------------------------------

@dataclass
class TruePosterior:
    """p(z|x) of one image on a grid, and log p(x) by quadrature."""

    log_px: float  # log p(x) in nats
    change: float  # |change| of log p(x) when the window, or the resolution, was doubled
    converged: bool  # change <= the tolerance asked for
    z0: np.ndarray  # (n0,) grid nodes along latent dim 0
    z1: np.ndarray  # (n1,) grid nodes along latent dim 1
    log_density: np.ndarray  # (n1, n0) log p(z|x) at the nodes (rows: z1, columns: z0)

    def mass_within(self, levels: np.ndarray) -> np.ndarray:
        """The posterior mass where the density exceeds each level (for highest-density contours)."""
        p = np.exp(self.log_density).ravel()
        cell = (self.z0[1] - self.z0[0]) * (self.z1[1] - self.z1[0])
        return np.array([p[p >= level].sum() * cell for level in np.atleast_1d(levels)])


def _grid(model, x, lo: np.ndarray, hi: np.ndarray, n: int):
    """Nodes (n + 1 per side) over the box [lo, hi] and log p(x, z) there, shape (n + 1, n + 1) as (z1, z0)."""
    z0 = np.linspace(lo[0], hi[0], n + 1)
    z1 = np.linspace(lo[1], hi[1], n + 1)
    mesh = np.stack(np.meshgrid(z0, z1), -1).reshape(-1, 2)
    values = log_joint(model, x, torch.from_numpy(mesh).to(torch.float32)).double().numpy()
    return z0, z1, values.reshape(n + 1, n + 1)


def _log_integral(z0: np.ndarray, z1: np.ndarray, values: np.ndarray) -> float:
    """log of the sum of exp(values) times the cell area (the integrand vanishes at the edges,
    where this equals the trapezoidal rule, whose error falls exponentially with the resolution
    for smooth integrands: Trefethen & Weideman, 2014)."""
    top = values.max()
    return float(top + np.log(np.exp(values - top).sum()) + np.log((z0[1] - z0[0]) * (z1[1] - z1[0])))


def _significant_box(z0, z1, values, must_hold: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The box of the nodes within SIGNIFICANT_NATS of the peak, one node wider on each side,
    grown to hold the box ``must_hold``."""
    rows, cols = np.nonzero(values >= values.max() - SIGNIFICANT_NATS)
    h0, h1 = z0[1] - z0[0], z1[1] - z1[0]
    lo = np.array([z0[cols.min()] - h0, z1[rows.min()] - h1])
    hi = np.array([z0[cols.max()] + h0, z1[rows.max()] + h1])
    return np.minimum(lo, must_hold[0]), np.maximum(hi, must_hold[1])


def true_posterior(model: LatentModel, x: torch.Tensor, q_mean: np.ndarray, q_logvar: np.ndarray,
                   tolerance: float = QUADRATURE_TOLERANCE, intervals: int = QUADRATURE_INTERVALS,
                   max_intervals: int = MAX_INTERVALS) -> TruePosterior:
    """log p(x) and p(z|x) of one image x (C, H, W) of a model with two latent dims.

    The window adapts to the image: a coarse grid over the prior's [-6, 6]^2 (grown to hold
    q(z|x) +- 6 sigma) finds where p(x, z) lives; the window is the box of the nodes within 25
    nats of its peak, one node wider, grown to hold q's +- 4 sigma. Then the check: log p(x)
    on the window's base grid (``intervals`` per side) is compared with the spacing halved,
    and with the window doubled about its centre; while either changes it by more than
    ``tolerance`` the resolution doubles (or, once it passes, the window) (up to ``max_intervals`` per side), and
    the result says whether it converged. The value returned is the finest grid's. A second
    mode narrower than the coarse spacing (0.375) far from q(z|x) would be missed.
    """
    if model.latent_dim != 2:
        raise ValueError(f"quadrature needs a model with 2 latent dims, this one has {model.latent_dim}")
    model.eval()
    q_mean, q_sigma = np.asarray(q_mean, float), np.exp(0.5 * np.asarray(q_logvar, float))
    q_box = (q_mean - Q_HALF_WIDTH * q_sigma, q_mean + Q_HALF_WIDTH * q_sigma)
    lo = np.minimum(-COARSE_HALF_WIDTH, q_mean - 6 * q_sigma)
    hi = np.maximum(COARSE_HALF_WIDTH, q_mean + 6 * q_sigma)
    lo, hi = _significant_box(*_grid(model, x, lo, hi, COARSE_INTERVALS), q_box)
    n = intervals
    while True:
        centre, half = (lo + hi) / 2, (hi - lo) / 2
        fine = _grid(model, x, lo, hi, 2 * n)  # spacing h / 2; its every other node is the base grid (spacing h)
        wide = _grid(model, x, centre - 2 * half, centre + 2 * half, n)  # the window doubled, spacing 2h
        base = _log_integral(fine[0][::2], fine[1][::2], fine[2][::2, ::2])
        resolution_change = abs(_log_integral(*fine) - base)
        # the window's doubling seen at spacing 2h: the wide grid against its inner quarter (every 4th fine node)
        window_change = abs(_log_integral(*wide) - _log_integral(fine[0][::4], fine[1][::4], fine[2][::4, ::4]))
        change = max(window_change, resolution_change)
        if change <= tolerance or 2 * n >= max_intervals:
            break
        if resolution_change <= tolerance:  # the window check means something once the spacing is fine enough
            lo, hi = centre - 2 * half, centre + 2 * half
        n *= 2  # a doubled window keeps its spacing; otherwise the spacing halves
    log_px = _log_integral(*fine)
    return TruePosterior(log_px, change, change <= tolerance, fine[0], fine[1], fine[2] - log_px)


def quadrature_log_likelihood(model: LatentModel, images: torch.Tensor, **options) -> tuple[np.ndarray, np.ndarray]:
    """log p(x) by quadrature for each image (N,), and each one's doubling change (N,)."""
    model.eval()
    with torch.no_grad():
        mean, logvar = model.encode(images)
    results = [true_posterior(model, x, m, v, **options) for x, m, v in zip(images, mean.numpy(), logvar.numpy())]
    return np.array([r.log_px for r in results]), np.array([r.change for r in results])


# ---- the ELBO of a diagonal Gaussian, and the best one ------------------------------------------

def standard_normal_points(n: int, dim: int, seed: int) -> torch.Tensor:
    """n points (n, dim) of N(0, I) from a scrambled Sobol sequence: the same points for a seed,
    spread more evenly than pseudo-random draws (a lower-variance ELBO with the same n)."""
    u = torch.quasirandom.SobolEngine(dim, scramble=True, seed=seed).draw(n, dtype=torch.float64)
    return torch.special.ndtri(u.clamp(1e-7, 1 - 1e-7)).to(torch.float32)


def elbo(model: LatentModel, images: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor,
         eps: torch.Tensor) -> torch.Tensor:
    """ELBO = E_q[log p(x|z)] - KL(q || N(0, I)) per image (N,), for q = N(mean, diag(exp(logvar))).

    The expectation averages the S fixed standard-normal points ``eps`` (S, D) moved to each q
    (z = mean + sigma * eps, so gradients reach mean and logvar); the KL is in closed form.
    """
    s, n = len(eps), len(images)
    z = mean.unsqueeze(0) + torch.exp(0.5 * logvar).unsqueeze(0) * eps.unsqueeze(1)  # (S, N, D)
    x = images.unsqueeze(0).expand(s, *images.shape).reshape(s * n, *images.shape[1:])
    log_px_z = -reconstruction_nll(model.decoder_output(z.reshape(s * n, -1)), x, model.config.likelihood,
                                   model.config.gaussian_variance).view(s, n)
    return log_px_z.mean(0) - kl_divergence(mean, logvar)


def elbo_of(model: LatentModel, images: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor,
            samples: int = ELBO_SAMPLES, seed: int = 0) -> torch.Tensor:
    """The ELBO per image (N,) with ``samples`` fixed points, decoded in chunks."""
    eps = standard_normal_points(samples, mean.shape[1], seed)
    per_chunk = max(1, DECODE_CHUNK // max(1, len(images)))
    with torch.no_grad():
        kl = kl_divergence(mean, logvar)
        total = torch.zeros(len(images))
        for start in range(0, samples, per_chunk):
            chunk = eps[start:start + per_chunk]
            total += (elbo(model, images, mean, logvar, chunk) + kl) * len(chunk)
    return total / samples - kl


def optimise_posterior(model: LatentModel, images: torch.Tensor, steps: int = OPTIMISER_STEPS,
                       samples: int = OPTIMISER_SAMPLES, lr: float = OPTIMISER_LR,
                       seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, logvar) of the diagonal Gaussian with the best ELBO for each image, (N, D) each.

    Adam on (mean, logvar), started from the encoder's output, maximising the ELBO estimated
    with ``samples`` fixed quasi-random points (a deterministic objective for a seed). The steps
    are taken in the encoder's own scale, mean = mu_enc + sigma_enc * u and logvar = logvar_enc
    + v, so one learning rate suits a narrow and a wide posterior alike. The images are
    independent: summing their ELBOs gives each one its own gradient.
    """
    model.eval()
    with torch.no_grad():
        mean0, logvar0 = model.encode(images)
    sigma0 = torch.exp(0.5 * logvar0)
    params = torch.zeros(2, *mean0.shape, requires_grad=True)  # (u, v)
    eps = standard_normal_points(samples, mean0.shape[1], seed)
    first, second = torch.zeros_like(params), torch.zeros_like(params)
    with torch.enable_grad():
        for step in range(1, steps + 1):
            loss = -elbo(model, images, mean0 + sigma0 * params[0], logvar0 + params[1], eps).sum()
            # gradients for (u, v) only: the model's weights (shared by every session) get no .grad
            (grad,) = torch.autograd.grad(loss, [params])
            # Adam (Kingma & Ba, 2015) written out: torch.optim's first step imports torch._dynamo,
            # seconds on a first click; the step size decays along a half cosine to settle on the optimum
            first.mul_(ADAM_BETAS[0]).add_(grad, alpha=1 - ADAM_BETAS[0])
            second.mul_(ADAM_BETAS[1]).addcmul_(grad, grad, value=1 - ADAM_BETAS[1])
            size = lr * 0.5 * (1 + math.cos(math.pi * (step - 1) / steps))
            with torch.no_grad():
                params -= size * (first / (1 - ADAM_BETAS[0] ** step)) / (
                    (second / (1 - ADAM_BETAS[1] ** step)).sqrt() + 1e-8)
    u, v = params.detach()
    return (mean0 + sigma0 * u).detach(), (logvar0 + v).detach()


# ---- importance weighting -------------------------------------------------------------------

@torch.no_grad()
def log_importance_weights(model: LatentModel, images: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor,
                           k: int, generator: torch.Generator) -> torch.Tensor:
    """log p(x, z_i) - log q(z_i|x) for z_i ~ q (k of them per image), shape (k, N), in chunks of samples."""
    n = len(images)
    per_chunk = max(1, DECODE_CHUNK // max(1, n))
    out = []
    for start in range(0, k, per_chunk):
        kc = min(per_chunk, k - start)
        eps = torch.randn((kc, *mean.shape), generator=generator, dtype=mean.dtype)
        z = mean + torch.exp(0.5 * logvar) * eps  # (kc, N, D)
        x = images.unsqueeze(0).expand(kc, *images.shape).reshape(kc * n, *images.shape[1:])
        log_pxz = _log_joint_batch(model, x, z.reshape(kc * n, -1)).view(kc, n)
        out.append(log_pxz - gaussian_log_density(z, mean, logvar))
    return torch.cat(out)


@torch.no_grad()
def iwae_log_likelihood(model: LatentModel, images: torch.Tensor, k: int, seed: int = 0, batch_size: int = 100,
                        mean: torch.Tensor | None = None, logvar: torch.Tensor | None = None) -> torch.Tensor:
    """The IWAE bound log (1/k) sum_i p(x, z_i) / q(z_i|x) per image (N,); q is the encoder's
    unless ``mean`` and ``logvar`` give another. It equals the ELBO in expectation at k = 1 and
    rises towards log p(x) as k grows (Burda et al., 2016)."""
    if not model.variational:
        raise ValueError("the IWAE estimate needs a model with a posterior (a VAE)")
    if k < 1:
        raise ValueError(f"k={k} must be >= 1")
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    out = []
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size]
        if mean is None or logvar is None:
            m, v = model.encode(x)
        else:
            m, v = mean[start:start + batch_size], logvar[start:start + batch_size]
        log_w = log_importance_weights(model, x, m, v, k, generator)
        out.append(torch.logsumexp(log_w, dim=0) - math.log(k))
    return torch.cat(out)


@dataclass
class IwaeCurve:
    ks: np.ndarray  # (K,) the numbers of samples
    mean: np.ndarray  # (K,) the bound's mean over repeats, nats
    std: np.ndarray  # (K,) its spread (standard deviation) over repeats
    repeats: np.ndarray  # (K,) how many disjoint groups of k samples each mean is over


def iwae_curve(log_weights: np.ndarray, ks, max_repeats: int = 50) -> IwaeCurve:
    """The IWAE bound of one image for each k, from one pool of log weights (M,): the pool is cut
    into min(max_repeats, M // k) disjoint groups of k samples, each group one estimate."""
    log_weights = np.asarray(log_weights, float)
    rows = []
    for k in ks:
        repeats = min(max_repeats, len(log_weights) // k)
        if repeats < 1:
            raise ValueError(f"k={k} needs at least {k} log weights, the pool has {len(log_weights)}")
        groups = log_weights[:repeats * k].reshape(repeats, k)
        top = groups.max(1, keepdims=True)
        bounds = (top[:, 0] + np.log(np.exp(groups - top).mean(1)))
        rows.append((k, bounds.mean(), bounds.std(ddof=1) if repeats > 1 else 0.0, repeats))
    ks_, means, stds, reps = map(np.array, zip(*rows))
    return IwaeCurve(ks_, means, stds, reps)


# ---- one image, everything at once (the Latent map's posterior panel) ---------------------------

PANEL_ELBO_SAMPLES = 256
IWAE_POOL = 20_000  # log weights per image: 4 disjoint groups at k = 5,000, 50 at k <= 400


@dataclass
class ImagePosterior:
    """What the posterior panel shows for one image, in nats."""

    encoder_mean: np.ndarray  # (D,) q(z|x) from the encoder
    encoder_logvar: np.ndarray  # (D,)
    optimised_mean: np.ndarray  # (D,) the best diagonal Gaussian found for this image
    optimised_logvar: np.ndarray  # (D,)
    elbo_encoder: float
    elbo_optimised: float
    kl_per_dim: np.ndarray  # (D,) KL(q(z|x) || N(0, 1)) of the encoder's q per dim: the image's information budget
    true: TruePosterior | None  # 2-D models only

    @property
    def log_px(self) -> float | None:
        return None if self.true is None else self.true.log_px

    @property
    def amortization_gap(self) -> float:
        """What the encoder gives up by serving every image with one network: optimised - encoder ELBO."""
        return self.elbo_optimised - self.elbo_encoder

    @property
    def approximation_gap(self) -> float | None:
        """What the diagonal Gaussian family gives up: log p(x) - the optimised ELBO (2-D only)."""
        return None if self.true is None else self.true.log_px - self.elbo_optimised


def image_posterior(model: LatentModel, x: torch.Tensor, seed: int = 0,
                    elbo_samples: int = PANEL_ELBO_SAMPLES) -> ImagePosterior:
    """The encoder's q, the optimised q, their ELBOs (the same fixed samples for both) and, for a
    2-D model, the true posterior by quadrature, for one image x (C, H, W)."""
    model.eval()
    images = x[None]
    with torch.no_grad():
        mean, logvar = model.encode(images)
    opt_mean, opt_logvar = optimise_posterior(model, images, seed=seed)
    encoder, optimised = (elbo_of(model, images, m, v, samples=elbo_samples, seed=seed)[0].item()
                          for m, v in ((mean, logvar), (opt_mean, opt_logvar)))
    true = true_posterior(model, x, mean[0].numpy(), logvar[0].numpy()) if model.latent_dim == 2 else None
    return ImagePosterior(mean[0].numpy(), logvar[0].numpy(), opt_mean[0].numpy(), opt_logvar[0].numpy(),
                          encoder, optimised, kl_per_dimension(mean, logvar)[0].numpy(), true)


def iwae_pool(model: LatentModel, x: torch.Tensor, size: int = IWAE_POOL, seed: int = 0) -> np.ndarray:
    """``size`` log importance weights (size,) of one image x (C, H, W), z ~ the encoder's q; cut it with iwae_curve."""
    model.eval()
    with torch.no_grad():
        mean, logvar = model.encode(x[None])
    generator = torch.Generator().manual_seed(seed)
    return log_importance_weights(model, x[None], mean, logvar, size, generator)[:, 0].double().numpy()


__all__ = [
    "log_joint", "TruePosterior", "true_posterior", "quadrature_log_likelihood", "standard_normal_points", "elbo",
    "elbo_of", "optimise_posterior", "log_importance_weights", "iwae_log_likelihood", "IwaeCurve", "iwae_curve",
    "ImagePosterior", "image_posterior", "iwae_pool",
]
