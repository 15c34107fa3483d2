"""Figure builders (explorer.logic.figures) and the numbers behind them (explorer.logic.spaces), without Streamlit."""

from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from core.latent import latent_grid
from core.models import ModelConfig, build_model
from explorer.logic import figures, manifold_figures, spaces


def _blobs(n_per_class: int = 30, classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), n_per_class)
    xy = rng.normal(size=(len(labels), 2)) * 0.3 + np.stack([labels * 2.0, -labels * 1.0], 1)
    return xy, labels


# --------------------------------------------------------------------------- ellipses


@pytest.mark.parametrize("sigma", [(0.5, 0.5), (1.0, 0.2), (0.1, 2.0)])
def test_ellipse_of_a_diagonal_gaussian_has_two_sigma_half_axes(sigma):
    s0, s1 = sigma
    x, y = figures.ellipse_xy((1.0, -2.0), np.diag([s0**2, s1**2]), n_std=2.0, n_points=360)
    assert x[0] == pytest.approx(x[-1]) and y[0] == pytest.approx(y[-1])  # closed
    assert (x.max() - x.min()) / 2 == pytest.approx(2 * s0, rel=1e-3)
    assert (y.max() - y.min()) / 2 == pytest.approx(2 * s1, rel=1e-3)
    assert (x.max() + x.min()) / 2 == pytest.approx(1.0, abs=1e-6)
    assert (y.max() + y.min()) / 2 == pytest.approx(-2.0, abs=1e-6)
    # Every outline point is exactly at Mahalanobis distance 2.
    d2 = ((x - 1.0) / s0) ** 2 + ((y + 2.0) / s1) ** 2
    np.testing.assert_allclose(d2, 4.0, rtol=1e-9)


def test_ellipse_of_a_correlated_gaussian_lies_at_mahalanobis_distance_n_std():
    cov = np.array([[2.0, 0.9], [0.9, 1.0]])
    x, y = figures.ellipse_xy((0.0, 0.0), cov, n_std=3.0)
    pts = np.stack([x, y], 1)
    d2 = np.einsum("ni,ij,nj->n", pts, np.linalg.inv(cov), pts)
    np.testing.assert_allclose(d2, 9.0, rtol=1e-9)


def test_ellipses_xy_matches_one_ellipse_at_a_time():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 2, 2))
    covs = a @ a.transpose(0, 2, 1) + 0.1 * np.eye(2)
    centers = rng.normal(size=(5, 2))
    x, y = figures.ellipses_xy(centers, covs, n_std=2.0, n_points=32)
    assert len(x) == 5 * 34 and np.isnan(x[33::34]).all()
    for k in range(5):
        ex, ey = figures.ellipse_xy(centers[k], covs[k], n_std=2.0, n_points=32)
        pts = np.stack([x[k * 34:k * 34 + 33], y[k * 34:k * 34 + 33]], 1) - centers[k]
        d2 = np.einsum("ni,ij,nj->n", pts, np.linalg.inv(covs[k]), pts)
        np.testing.assert_allclose(d2, 4.0, rtol=1e-9)  # on the same 2-sigma curve
        assert (np.ptp(x[k * 34:k * 34 + 33]), np.ptp(y[k * 34:k * 34 + 33])) == pytest.approx((np.ptp(ex), np.ptp(ey)))


def test_ellipse_rejects_a_covariance_that_is_not_positive_semidefinite():
    with pytest.raises(ValueError, match="positive semi-definite"):
        figures.ellipse_xy((0, 0), np.array([[1.0, 0.0], [0.0, -1.0]]))


# --------------------------------------------------------------------------- latent map


def test_latent_map_has_one_webgl_trace_per_class_named_after_it():
    xy, labels = _blobs()
    fig = figures.latent_map(xy, labels, ["zero", "one", "two"])
    data = [t for t in fig.data if isinstance(t, go.Scattergl)]
    assert [t.name for t in data] == ["zero", "one", "two"]
    assert sum(len(t.x) for t in data) == len(xy)
    # customdata carries the dataset index: a click names the image.
    indices = np.concatenate([np.asarray(t.customdata).ravel() for t in data])
    assert sorted(indices.tolist()) == list(range(len(xy)))
    np.testing.assert_allclose(np.asarray(data[1].x), xy[labels == 1, 0])


def test_latent_map_axis_ranges_cover_the_data_and_the_prior_with_equal_scale():
    xy, labels = _blobs()
    fig = figures.latent_map(xy, labels, prior_center=(0.0, 0.0))
    x0, x1 = fig.layout.xaxis.range
    y0, y1 = fig.layout.yaxis.range
    assert x0 < min(xy[:, 0].min(), -3) and x1 > max(xy[:, 0].max(), 3)
    assert y0 < min(xy[:, 1].min(), -3) and y1 > max(xy[:, 1].max(), 3)
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis.scaleratio == 1


def test_latent_map_prior_contours_are_circles_of_radius_1_2_3():
    fig = figures.latent_map(np.zeros((0, 2)), prior_center=(0.5, -0.5))
    prior = next(t for t in fig.data if t.name.startswith("prior"))
    x, y = np.asarray(prior.x, float), np.asarray(prior.y, float)
    radii = np.hypot(x - 0.5, y + 0.5)
    radii = radii[np.isfinite(radii)]
    assert sorted(np.unique(np.round(radii, 6)).tolist()) == [1.0, 2.0, 3.0]


def test_latent_map_posterior_ellipses_span_two_sigma():
    centers = np.array([[0.0, 0.0], [3.0, 1.0]])
    sigmas = np.array([[0.5, 0.25], [0.1, 0.4]])
    covs = np.stack([np.diag(s**2) for s in sigmas])
    fig = figures.latent_map(centers, ellipses=figures.Ellipses(centers, covs, 2.0))
    trace = next(t for t in fig.data if t.name.startswith("q(z|x)"))
    x, y = np.asarray(trace.x, float), np.asarray(trace.y, float)
    breaks = np.flatnonzero(np.isnan(x))
    assert len(breaks) == 2  # two closed curves, NaN after each
    first_x, first_y = x[: breaks[0]], y[: breaks[0]]
    assert (first_x.max() - first_x.min()) / 2 == pytest.approx(2 * 0.5, rel=1e-2)
    assert (first_y.max() - first_y.min()) / 2 == pytest.approx(2 * 0.25, rel=1e-2)


def test_latent_map_unlabeled_data_highlight_samples_and_upload_star():
    xy = np.random.default_rng(0).normal(size=(50, 2))
    fig = figures.latent_map(
        xy, None, highlight=figures.MapMarker(1.0, 2.0, "test image 3"),
        samples=np.array([[1.1, 2.1], [0.9, 1.8]]), markers=[figures.MapMarker(8.0, -7.0, "your image")],
    )
    names = [t.name for t in fig.data]
    assert names[0] == "images" and "test image 3" in names and "z ~ q(z|x)" in names
    star = next(t for t in fig.data if t.name == "your image")
    assert star.marker.symbol == "star"
    assert fig.layout.xaxis.range[1] > 8.0 and fig.layout.yaxis.range[0] < -7.0


def test_latent_map_checks_lengths():
    with pytest.raises(ValueError, match="labels has 2 entries"):
        figures.latent_map(np.zeros((3, 2)), np.array([0, 1]))


# --------------------------------------------------------------------------- manifold and density


def test_manifold_figure_labels_the_axes_with_latent_values():
    n, h, w = 5, 4, 3
    picture = np.random.default_rng(0).random((n * h, n * w))
    xs = np.linspace(-2, 2, n)
    ys = np.linspace(2, -2, n)
    fig = manifold_figures.manifold_figure(picture, xs, ys, (h, w), axis_titles=("z3", "z7"))
    (image,) = fig.data
    assert isinstance(image, go.Image) and image.source.startswith("data:image/png;base64,")
    decoded = _png_size(image.source)
    assert decoded == (n * w, n * h)
    assert image.dx * w == pytest.approx(1.0) and image.dy * h == pytest.approx(1.0)  # a cell is one unit
    assert list(fig.layout.xaxis.range) == [0, n] and list(fig.layout.yaxis.range) == [n, 0]
    assert fig.layout.xaxis.ticktext[0] == "-2.00" and fig.layout.yaxis.ticktext[0] == "2.00"
    assert fig.layout.xaxis.title.text == "z3" and fig.layout.yaxis.title.text == "z7"
    assert fig.layout.yaxis.scaleratio == pytest.approx(h / w)  # square pixels


def _png_size(uri: str) -> tuple[int, int]:
    from PIL import Image

    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).size


def test_png_data_uri_roundtrips_pixels():
    from PIL import Image

    picture = np.array([[0.0, 1.0], [0.5, 0.25]])
    uri = manifold_figures.png_data_uri(picture)
    back = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))
    np.testing.assert_array_equal(back, [[0, 255], [128, 64]])


def test_density_figure_draws_the_grid_extent_around_the_grid_points():
    xy, _ = _blobs()
    gx = np.linspace(-1, 1, 5)
    gy = np.linspace(2, -2, 5)
    fig = manifold_figures.density_figure(xy, gx, gy, prior=True)
    (rect,) = fig.layout.shapes
    assert (rect.x0, rect.x1) == pytest.approx((-1.25, 1.25))  # half a cell beyond the outer points
    assert (rect.y0, rect.y1) == pytest.approx((-2.5, 2.5))
    grid = next(t for t in fig.data if t.name == "decoded grid points")
    assert len(grid.x) == 25
    heat = next(t for t in fig.data if isinstance(t, go.Heatmap))
    assert np.asarray(heat.customdata).sum() == len(xy)  # every point counted once
    assert heat.colorscale[0][1].lower() in ("#ffffff", "rgb(255,255,255)")  # empty space is white
    x0, x1 = fig.layout.xaxis.range
    assert x0 < -3 and x1 > xy[:, 0].max()  # the prior's 3 sigma and the data fit


def test_density_figure_without_data_still_shows_the_grid():
    fig = manifold_figures.density_figure(np.zeros((0, 2)), np.linspace(-3, 3, 4), np.linspace(-3, 3, 4))
    assert not any(isinstance(t, go.Heatmap) for t in fig.data)
    assert len(fig.layout.shapes) == 1


def test_histogram_2d_counts_every_point_in_range():
    xy = np.array([[0.1, 0.1], [0.9, 0.9], [0.9, 0.8], [5.0, 5.0]])
    hist = manifold_figures.histogram_2d(xy, (0, 1), (0, 1), bins=2)
    assert hist.counts.sum() == 3
    assert hist.counts[1, 1] == 2  # row = y bin, column = x bin


def _grid_panels(count: int = 3) -> list[figures.MapPanel]:
    xy, labels = _blobs()
    return [figures.MapPanel(xy * (k + 1), labels, np.arange(len(xy)) + 100 * k, (f"z{k}", f"z{k + 1}"),
                             (0.0, 0.0) if k % 2 else None, f"model {k}") for k in range(count)]


def test_latent_map_grid_puts_each_map_on_its_own_axes_at_one_scale():
    panels = _grid_panels(3)
    fig = figures.latent_map_grid(panels, ["a", "b", "c"], ncols=2)
    layout = fig.to_dict()["layout"]
    for k, panel in enumerate(panels):
        suffix = "" if k == 0 else str(k + 1)
        traces = [t for t in fig.data if (t.xaxis or "x") == f"x{suffix}"]
        assert all((t.yaxis or "y") == f"y{suffix}" for t in traces)
        data = [t for t in traces if t.name in ("a", "b", "c")]
        assert sum(len(t.x) for t in data) == len(panel.xy)  # every point of this model, on its own axes
        indices = np.concatenate([np.asarray(t.customdata).ravel() for t in data])
        assert sorted(indices.tolist()) == sorted(panel.index.tolist())
        assert any(t.name.startswith("prior") for t in traces) == (panel.prior_center is not None)
        x0, x1 = layout[f"xaxis{suffix}"]["range"]
        assert x0 < panel.xy[:, 0].min() and x1 > panel.xy[:, 0].max()
        assert layout[f"xaxis{suffix}"]["title"]["text"] == panel.axis_titles[0]
        assert layout[f"yaxis{suffix}"]["scaleanchor"] == f"x{suffix}"
    # two to a row: side by side, then below; no two maps overlap
    domains = [(layout[f"xaxis{s}"]["domain"], layout[f"yaxis{s}"]["domain"]) for s in ("", "2", "3")]
    assert domains[0][1] == domains[1][1] and domains[0][0][1] < domains[1][0][0]
    assert domains[2][1][1] < domains[0][1][0] and domains[2][0] == domains[0][0]
    assert all(0 <= lo < hi <= 1 for dx, dy in domains for lo, hi in (dx, dy))
    assert [a["text"] for a in layout["annotations"]] == [f"<b>{p.title}</b>" for p in panels]


def test_latent_map_grid_shows_each_class_once_in_the_legend_for_every_map():
    fig = figures.latent_map_grid(_grid_panels(2), ["a", "b", "c"])
    shown = [t.name for t in fig.data if t.showlegend]
    assert sorted(shown) == sorted(set(shown)) and {"a", "b", "c"} <= set(shown)
    for name in ("a", "b", "c"):  # one click on the legend entry hides the class in both maps
        assert {t.legendgroup for t in fig.data if t.name == name} == {name}
        assert len([t for t in fig.data if t.name == name]) == 2
    with pytest.raises(ValueError, match="at least one map"):
        figures.latent_map_grid([])


def _every_figure() -> list[go.Figure]:
    xy, labels = _blobs()
    covs = np.stack([np.eye(2) * 0.1] * 3)
    return [
        figures.latent_map(xy, labels, ["a", "b", "c"], ellipses=figures.Ellipses(xy[:3], covs), prior_center=(0, 0),
                           highlight=figures.MapMarker(0, 0, "x"), samples=xy[:4], title="map",
                           markers=[figures.MapMarker(1, 1, "your image")]),
        figures.latent_map(np.zeros((0, 2))),
        manifold_figures.manifold_figure(np.zeros((8, 8)), np.arange(2.0), np.arange(2.0), (4, 4), title="grid"),
        manifold_figures.density_figure(xy, np.arange(3.0), np.arange(3.0), prior=True, title="density"),
        manifold_figures.density_figure(np.zeros((0, 2)), np.arange(3.0), np.arange(3.0)),
        figures.latent_map_grid(_grid_panels(), ["a", "b", "c"]),
    ]


@pytest.mark.parametrize("index", range(6))
def test_figures_pass_plotly_validation(index):
    """The builders skip Plotly's validation for speed; here every property is checked."""
    fig = _every_figure()[index]
    go.Figure(fig.to_dict())  # the validating constructor raises on any unknown property or bad value


# --------------------------------------------------------------------------- spaces


def test_grid_over_the_prior_matches_core_latent_grid():
    stats = spaces.prior_stats(4, span=2.5)
    for spacing in ("linear", "gaussian"):
        ours = spaces.grid_over(stats, (1, 3), 6, spacing)
        core = latent_grid(4, (1, 3), 6, spacing, span=2.5)
        torch.testing.assert_close(ours.z, core.z)
        np.testing.assert_allclose(ours.x_values, core.x_values)
        np.testing.assert_allclose(ours.y_values, core.y_values)


def test_grid_over_the_code_range_of_an_ae():
    codes = np.stack([np.linspace(10, 20, 101), np.linspace(-1, 0, 101)], 1)
    stats = spaces.stats_from_codes(codes, tail=0.0)
    grid = spaces.grid_over(stats, (0, 1), 3, "linear")
    np.testing.assert_allclose(grid.x_values, [10, 15, 20])
    np.testing.assert_allclose(grid.y_values, [0, -0.5, -1])  # top row first
    assert grid.z.shape == (9, 2)


def test_grid_over_keeps_the_base_in_the_other_dims_and_checks_dims():
    stats = spaces.prior_stats(3)
    grid = spaces.grid_over(stats, (0, 2), 2, "linear", base=np.array([9.0, 7.0, 9.0]))
    assert torch.all(grid.z[:, 1] == 7.0)
    with pytest.raises(ValueError, match="two different dims"):
        spaces.grid_over(stats, (1, 1), 2, "linear")
    with pytest.raises(ValueError, match="n=1"):
        spaces.grid_over(stats, (0, 1), 1, "linear")


def test_model_stats_uses_the_prior_for_a_vae_and_pca_variance_without_data():
    vae = build_model(ModelConfig("vae", (1, 4, 4), 2, hidden=(8,)))
    assert spaces.model_stats(vae, None).source == "the prior N(0, I)"
    pca = build_model(ModelConfig("pca", (1, 4, 4), 2))
    pca.explained_variance.copy_(torch.tensor([4.0, 1.0]))
    stats = spaces.model_stats(pca, None)
    np.testing.assert_allclose(stats.high, [6.0, 3.0])
    ae = build_model(ModelConfig("ae", (1, 4, 4), 2, hidden=(8,)))
    assert "guess" in spaces.model_stats(ae, None).source


def test_pca_projection_is_orthonormal_and_projects_covariances():
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(500, 5)) * np.array([5, 3, 1, 0.5, 0.1])
    proj = spaces.pca_projection(codes)
    np.testing.assert_allclose(proj.components @ proj.components.T, np.eye(2), atol=1e-9)
    assert abs(proj.components[0, 0]) > 0.99 and abs(proj.components[1, 1]) > 0.99
    covs = proj.covariances(np.log(np.ones((1, 5)) * 4.0))  # isotropic variance 4 stays isotropic
    np.testing.assert_allclose(covs[0], 4 * np.eye(2), atol=1e-9)
    dims = spaces.dims_projection(5, (3, 1))
    np.testing.assert_allclose(dims.apply(np.arange(5.0)), [[3.0, 1.0]])


def test_posterior_draws_are_the_reparameterization_trick():
    mean, logvar = np.array([1.0, -1.0]), np.log(np.array([0.25, 4.0]))
    draws = spaces.posterior_draws(mean, logvar, k=4, seed=3)
    np.testing.assert_allclose(draws.z, mean + np.array([0.5, 2.0]) * draws.eps)
    again = spaces.posterior_draws(mean, logvar, k=4, seed=3)
    np.testing.assert_array_equal(draws.eps, again.eps)


def test_nearest_orders_by_distance():
    codes = np.array([[0.0, 0.0], [5.0, 5.0], [1.0, 0.0], [0.2, 0.1]])
    assert spaces.nearest(codes, np.array([0.0, 0.0]), 3).tolist() == [0, 3, 2]
    assert spaces.nearest(codes[:0], np.zeros(2), 3).tolist() == []
