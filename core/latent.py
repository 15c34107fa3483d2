"""Walking the latent space: grids, interpolation, traversals, prior samples.

All functions return latent codes (torch tensors, float32); decoding is the model's job.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from scipy.stats import norm

SPACINGS = ("linear", "gaussian")
MAX_GRID = 30


class LatentGrid(NamedTuple):
    z: torch.Tensor  # (n * n, D), row-major: row 0 is the top (largest y), column 0 the left (smallest x)
    x_values: np.ndarray  # (n,) coordinates along dims[0], left to right
    y_values: np.ndarray  # (n,) coordinates along dims[1], top to bottom (descending)


def grid_axis(n: int, spacing: str = "gaussian", span: float = 3.0) -> np.ndarray:
    """n coordinates along one latent axis, ascending.

    ``linear``: evenly spaced in [-span, span]. ``gaussian``: evenly spaced quantiles of
    N(0, 1) through the inverse CDF, so each cell holds equal prior mass (Kingma & Welling,
    2014, Fig. 4); the quantiles run from 0.5/n to 1 - 0.5/n, avoiding the infinite ends.
    """
    if not isinstance(n, (int, np.integer)) or not 2 <= n <= MAX_GRID:
        raise ValueError(f"n={n!r} must be an integer in [2, {MAX_GRID}]")
    if spacing == "linear":
        if not span > 0:
            raise ValueError(f"span={span!r} must be > 0")
        return np.linspace(-span, span, n)
    if spacing == "gaussian":
        return norm.ppf((np.arange(n) + 0.5) / n)
    raise ValueError(f"spacing={spacing!r} is not one of {SPACINGS}")


def latent_grid(
    latent_dim: int,
    dims: tuple[int, int] = (0, 1),
    n: int = 15,
    spacing: str = "gaussian",
    span: float = 3.0,
    base: torch.Tensor | None = None,
    center: tuple[float, float] = (0.0, 0.0),
) -> LatentGrid:
    """An n x n grid over two latent dims; the other dims are taken from ``base`` (zeros by default).

    ``center`` shifts the grid (useful for models whose codes are not centred at 0, like an AE).
    """
    d0, d1 = _check_dims(dims, latent_dim)
    xs = grid_axis(n, spacing, span) + center[0]
    ys = grid_axis(n, spacing, span)[::-1] + center[1]
    z = _base(base, latent_dim).repeat(n * n, 1)
    z[:, d0] = torch.as_tensor(np.tile(xs, n), dtype=torch.float32)
    z[:, d1] = torch.as_tensor(np.repeat(ys, n), dtype=torch.float32)
    return LatentGrid(z, xs, ys.copy())


def lerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """Straight line from z0 to z1 (D,), ``steps`` points including both ends: (steps, D)."""
    t = _steps(steps).unsqueeze(1)
    return (1 - t) * z0.unsqueeze(0) + t * z1.unsqueeze(0)


def slerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """Spherical interpolation of the direction, linear interpolation of the length: (steps, D).

    The direction follows the great circle from z0/|z0| to z1/|z1| (Shoemake, 1985), the
    length runs linearly from |z0| to |z1|. White (2016) recommends the arc for Gaussian
    latents because a straight line between two typical codes dips through the prior's
    low-density centre. Applying Shoemake's formula to the raw codes instead is only right
    for equal lengths: for unequal, nearly opposite codes the sin(omega) in its denominator
    sends the path far outside both endpoints (hundreds of times their length in 2-D).
    Splitting direction and length keeps every point's length between the endpoints'
    (the "polar" interpolation of Kilcher, Lucchi & Hofmann, 2018, Semantic Interpolation in
    Implicit Models). A zero code has no direction: then the path is the straight line.
    Exactly opposite codes have no unique arc; the path turns through a fixed perpendicular.
    """
    t = _steps(steps).double().unsqueeze(1)
    a, b = z0.double(), z1.double()
    ra, rb = a.norm(), b.norm()
    if min(ra.item(), rb.item()) < 1e-12:
        return lerp(z0, z1, steps)
    u, v = a / ra, b / rb
    omega = torch.arccos(torch.dot(u, v).clamp(-1.0, 1.0))
    if omega.item() < 1e-7:
        direction = u.expand(len(t), -1)
    elif torch.pi - omega.item() < 1e-7:
        if len(u) == 1:  # a 1-D code has no perpendicular: the line through 0 is the only path
            return lerp(z0, z1, steps)
        w = torch.zeros_like(u)
        w[int(u.abs().argmin())] = 1.0
        w = w - torch.dot(w, u) * u
        w = w / w.norm()
        direction = torch.cos(torch.pi * t) * u + torch.sin(torch.pi * t) * w
    else:
        s = torch.sin(omega)
        direction = (torch.sin((1 - t) * omega) / s) * u + (torch.sin(t * omega) / s) * v
    out = ((1 - t) * ra + t * rb) * direction
    out[0], out[-1] = a, b  # exact ends, whatever the rounding of the arc
    return out.float()


def traversal(base: torch.Tensor, dim: int, values: np.ndarray | list[float]) -> torch.Tensor:
    """Vary one latent dim through ``values``, others fixed at ``base`` (D,): (len(values), D)."""
    if not 0 <= dim < base.shape[-1]:
        raise ValueError(f"dim={dim} must be in [0, {base.shape[-1] - 1}]")
    z = base.reshape(1, -1).float().repeat(len(values), 1)
    z[:, dim] = torch.as_tensor(np.asarray(values, dtype=np.float32))
    return z


def prior_samples(n: int, latent_dim: int, seed: int = 0) -> torch.Tensor:
    """z ~ N(0, I), (n, D), reproducible from the seed."""
    if n < 1 or latent_dim < 1:
        raise ValueError(f"n={n} and latent_dim={latent_dim} must be >= 1")
    return torch.randn((n, latent_dim), generator=torch.Generator().manual_seed(seed))


def path_smoothness(images: torch.Tensor) -> tuple[np.ndarray, float, float]:
    """Mean absolute pixel change between consecutive images (N, C, H, W) of a path.

    Returns (per-step changes (N-1,), their mean, the largest jump). A smooth path has
    small, even steps; a jump marks a hole or a boundary in the latent space.
    """
    steps = (images[1:] - images[:-1]).abs().flatten(1).mean(1).detach().cpu().numpy()
    return steps, float(steps.mean()), float(steps.max())


def _steps(steps: int) -> torch.Tensor:
    if not isinstance(steps, (int, np.integer)) or steps < 2:
        raise ValueError(f"steps={steps!r} must be an integer >= 2")
    return torch.linspace(0, 1, steps)


def _check_dims(dims: tuple[int, int], latent_dim: int) -> tuple[int, int]:
    d0, d1 = (int(d) for d in dims)
    if d0 == d1 or not (0 <= d0 < latent_dim and 0 <= d1 < latent_dim):
        raise ValueError(f"dims={tuple(dims)} must be two different dims in [0, {latent_dim - 1}]")
    return d0, d1


def _base(base: torch.Tensor | None, latent_dim: int) -> torch.Tensor:
    if base is None:
        return torch.zeros(1, latent_dim)
    base = torch.as_tensor(base, dtype=torch.float32).reshape(1, -1)
    if base.shape[1] != latent_dim:
        raise ValueError(f"base has {base.shape[1]} dims, the model has latent_dim={latent_dim}")
    return base.clone()
