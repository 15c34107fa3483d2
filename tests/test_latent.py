"""Tests of core.latent: grids (orientation, inverse-CDF spacing), lerp / slerp,
traversals, prior samples and path smoothness."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import norm

from core.latent import (
    MAX_GRID,
    grid_axis,
    latent_grid,
    lerp,
    path_smoothness,
    prior_samples,
    slerp,
    traversal,
)

# --------------------------------------------------------------------------- grids


@pytest.mark.parametrize("n", [2, 5, 15, MAX_GRID])
def test_gaussian_axis_is_the_inverse_cdf_of_evenly_spaced_quantiles(n):
    quantiles = (np.arange(n) + 0.5) / n  # 0.5/n ... 1 - 0.5/n
    np.testing.assert_allclose(grid_axis(n, "gaussian"), norm.ppf(quantiles), rtol=1e-12)
    # Equal prior mass between neighbouring points: the CDF steps are all 1/n.
    np.testing.assert_allclose(np.diff(norm.cdf(grid_axis(n, "gaussian"))), 1 / n)


def test_linear_axis():
    np.testing.assert_allclose(grid_axis(5, "linear", span=2.0), [-2, -1, 0, 1, 2])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 1}, r"n=1 must be an integer in \[2, 30\]"),
        ({"n": MAX_GRID + 1}, r"n=31 must be an integer in \[2, 30\]"),
        ({"n": 4.5}, r"n=4.5 must be an integer in \[2, 30\]"),
        ({"n": 5, "spacing": "log"}, r"spacing='log' is not one of \('linear', 'gaussian'\)"),
        ({"n": 5, "spacing": "linear", "span": 0.0}, r"span=0.0 must be > 0"),
    ],
)
def test_grid_axis_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        grid_axis(**kwargs)


@pytest.mark.parametrize("spacing", ["linear", "gaussian"])
def test_grid_shape_and_orientation(spacing):
    n, d = 4, 3
    grid = latent_grid(d, dims=(0, 2), n=n, spacing=spacing)
    assert grid.z.shape == (n * n, d) and grid.z.dtype == torch.float32
    cells = grid.z.reshape(n, n, d)  # [row, column, dim]
    # Columns run left to right along dims[0] (ascending x)...
    np.testing.assert_allclose(cells[0, :, 0].numpy(), grid.x_values, rtol=1e-6)
    assert np.all(np.diff(grid.x_values) > 0)
    # ...rows run top to bottom along dims[1]: row 0 is the top, the largest y.
    np.testing.assert_allclose(cells[:, 0, 2].numpy(), grid.y_values, rtol=1e-6)
    assert np.all(np.diff(grid.y_values) < 0)
    assert cells[0, 0, 2] == grid.z[:, 2].max() and cells[-1, 0, 2] == grid.z[:, 2].min()
    # Each row has one y; each column one x; the third dim stays at the base (0).
    assert torch.all(cells[:, :, 2] == cells[:, :1, 2]) and torch.all(cells[:, :, 0] == cells[:1, :, 0])
    assert torch.all(grid.z[:, 1] == 0)


def test_grid_with_base_and_center():
    base = torch.tensor([7.0, 0.0, -1.0])
    grid = latent_grid(3, dims=(1, 2), n=3, spacing="linear", span=1.0, base=base, center=(10.0, 20.0))
    assert torch.all(grid.z[:, 0] == 7.0)
    np.testing.assert_allclose(grid.x_values, [9, 10, 11])
    np.testing.assert_allclose(grid.y_values, [21, 20, 19])
    assert base.tolist() == [7.0, 0.0, -1.0]  # the caller's tensor is not modified


@pytest.mark.parametrize(
    ("dims", "message"),
    [((0, 0), r"dims=\(0, 0\) must be two different dims in \[0, 2\]"), ((0, 3), r"dims=\(0, 3\) must be two different")],
)
def test_grid_dims_errors(dims, message):
    with pytest.raises(ValueError, match=message):
        latent_grid(3, dims=dims, n=3)


def test_grid_base_of_the_wrong_size():
    with pytest.raises(ValueError, match=r"base has 2 dims, the model has latent_dim=3"):
        latent_grid(3, n=3, base=torch.zeros(2))


# --------------------------------------------------------------------------- interpolation


def test_lerp_endpoints_and_even_steps():
    z0, z1 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([4.0, -1.0, 2.0])
    path = lerp(z0, z1, 5)
    assert path.shape == (5, 3)
    assert torch.equal(path[0], z0) and torch.equal(path[-1], z1)
    steps = (path[1:] - path[:-1]).norm(dim=1)
    torch.testing.assert_close(steps, torch.full((4,), (z1 - z0).norm().item() / 4))


def test_slerp_endpoints_and_constant_norm():
    gen = torch.Generator().manual_seed(0)
    z0 = torch.randn(16, generator=gen)
    z1 = torch.randn(16, generator=gen)
    z1 = z1 / z1.norm() * z0.norm()  # same norm
    path = slerp(z0, z1, 9)
    assert path.shape == (9, 16)
    torch.testing.assert_close(path[0], z0, atol=1e-5, rtol=0)
    torch.testing.assert_close(path[-1], z1, atol=1e-5, rtol=0)
    torch.testing.assert_close(path.norm(dim=1), torch.full((9,), z0.norm().item()), rtol=1e-5, atol=0)
    # Equal angles between consecutive points (constant speed along the great circle).
    unit = path / path.norm(dim=1, keepdim=True)
    angles = torch.arccos((unit[1:] * unit[:-1]).sum(1).clamp(-1, 1))
    torch.testing.assert_close(angles, angles.mean().expand(8), atol=1e-4, rtol=0)
    # A straight line would dip below the norm in the middle.
    assert lerp(z0, z1, 9).norm(dim=1)[4] < 0.9 * z0.norm()


def test_slerp_falls_back_to_lerp_for_a_zero_code():
    z0 = torch.zeros(3)
    z1 = torch.tensor([1.0, 2.0, 3.0])
    torch.testing.assert_close(slerp(z0, z1, 4), lerp(z0, z1, 4))


def test_slerp_of_parallel_codes_is_the_straight_line():
    z0 = torch.tensor([1.0, 2.0, 3.0])
    torch.testing.assert_close(slerp(z0, 2.0 * z0, 5), lerp(z0, 2.0 * z0, 5))


def test_slerp_of_opposite_codes_turns_through_a_perpendicular():
    z0 = torch.tensor([3.0, 0.0])
    z1 = torch.tensor([-1.0, 0.0])
    path = slerp(z0, z1, 5)
    torch.testing.assert_close(path[0], z0)
    torch.testing.assert_close(path[-1], z1)
    torch.testing.assert_close(path.norm(dim=1), torch.linspace(3.0, 1.0, 5), atol=1e-5, rtol=0)
    assert path[2, 1].abs() == pytest.approx(2.0, abs=1e-5)  # the middle point is perpendicular


def _norm_ratios(dim: int, pairs: int, seed: int) -> torch.Tensor:
    """Max path norm / longer endpoint norm, per pair, over hard random pairs in ``dim`` dims."""
    gen = torch.Generator().manual_seed(seed)
    ratios = []
    for k in range(pairs):
        z0 = torch.randn(dim, generator=gen) * 10 ** (torch.rand(1, generator=gen).item() * 4 - 2)
        if k % 3 == 0:  # nearly antipodal, with very unequal lengths
            z1 = -z0 * 10 ** (torch.rand(1, generator=gen).item() * 4 - 2) + 1e-4 * torch.randn(dim, generator=gen)
        else:
            z1 = torch.randn(dim, generator=gen) * 10 ** (torch.rand(1, generator=gen).item() * 4 - 2)
        path = slerp(z0, z1, 25)
        ratios.append(path.norm(dim=1).max() / torch.maximum(z0.norm(), z1.norm()))
    return torch.stack(ratios)


@pytest.mark.parametrize("dim", [2, 16])
def test_slerp_path_never_leaves_the_endpoints_norm(dim):
    """Property: over random pairs (near-antipodal, lengths 100x apart), no point on the path is
    more than 5% longer than the longer endpoint (Shoemake's formula on raw codes gave 370x)."""
    ratios = _norm_ratios(dim, pairs=2000, seed=dim)
    assert ratios.max().item() <= 1.05, ratios.max().item()
    assert torch.isfinite(ratios).all()


@pytest.mark.parametrize("fn", [lerp, slerp])
@pytest.mark.parametrize("steps", [1, 0, 2.5])
def test_interpolation_needs_at_least_two_steps(fn, steps):
    with pytest.raises(ValueError, match=rf"steps={steps!r} must be an integer >= 2"):
        fn(torch.zeros(2), torch.ones(2), steps)


# --------------------------------------------------------------------------- traversal, prior, smoothness


def test_traversal_varies_one_dim():
    base = torch.tensor([0.5, -1.0, 2.0])
    values = [-3.0, 0.0, 3.0]
    z = traversal(base, 1, values)
    assert z.shape == (3, 3)
    assert z[:, 1].tolist() == values
    assert torch.all(z[:, 0] == 0.5) and torch.all(z[:, 2] == 2.0)
    assert base.tolist() == [0.5, -1.0, 2.0]
    with pytest.raises(ValueError, match=r"dim=3 must be in \[0, 2\]"):
        traversal(base, 3, values)


def test_prior_samples_are_reproducible_standard_normal():
    a = prior_samples(20_000, 3, seed=4)
    assert torch.equal(a, prior_samples(20_000, 3, seed=4))
    assert not torch.equal(a, prior_samples(20_000, 3, seed=5))
    assert a.shape == (20_000, 3)
    assert a.mean(0).abs().max() < 0.05 and (a.std(0) - 1).abs().max() < 0.03
    with pytest.raises(ValueError, match=r"n=0 and latent_dim=2 must be >= 1"):
        prior_samples(0, 2)


def test_path_smoothness():
    images = torch.zeros(4, 1, 2, 2)
    images[1] = 0.25
    images[2] = 0.5
    images[3] = 1.0  # a jump
    steps, mean, largest = path_smoothness(images)
    np.testing.assert_allclose(steps, [0.25, 0.25, 0.5])
    assert mean == pytest.approx(1 / 3) and largest == pytest.approx(0.5)
