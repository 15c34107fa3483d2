"""The Latent map's posterior panel: its figures and caption (explorer/logic/posterior_figures.py)
and the panel a click opens (AppTest)."""

from __future__ import annotations

import json
import re

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from streamlit.testing.v1 import AppTest

from core import posterior
from core.checkpoints import load_checkpoint
from explorer.logic import posterior_figures
from explorer.ui import loaders
from tests.test_app_explore import MAP, TIMEOUT, assert_ok, figures_of, need

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def digits_view(digits):
    model, _ = load_checkpoint("checkpoints/digits-vae-2")
    x = torch.from_numpy(digits.test_images[3])
    view = posterior.image_posterior(model, x)
    curve = posterior.iwae_curve(posterior.iwae_pool(model, x, size=10_000), posterior_figures.IWAE_KS)
    return view, curve


def test_density_levels_hold_the_masses_of_a_gaussian():
    """For N(0, I) in 2-D the region holding mass m is the disc of radius r, r^2 = -2 log(1 - m),
    where the density is (1 - m) / (2 pi)."""
    axis = np.linspace(-8, 8, 801)
    zx, zy = np.meshgrid(axis, axis)
    density = np.exp(-(zx ** 2 + zy ** 2) / 2) / (2 * np.pi)
    levels = posterior_figures.density_levels(density, (axis[1] - axis[0]) ** 2, (0.5, 0.9, 0.99))
    np.testing.assert_allclose(levels, [(1 - m) / (2 * np.pi) for m in (0.5, 0.9, 0.99)], rtol=0.02)


def test_figures_are_valid_plotly_and_draw_both_ellipses_over_the_posterior(digits_view):
    view, curve = digits_view
    fig = posterior_figures.posterior_figure(view)
    go.Figure(fig.to_dict())  # the validating constructor accepts what plain_figure built
    names = [t.name for t in fig.data]
    assert "true p(z|x)" in names and "encoder's q(z|x), ±2σ" in names and "optimised q, ±2σ" in names
    iwae = posterior_figures.iwae_figure(curve, 100, view.log_px, view.elbo_encoder)
    go.Figure(iwae.to_dict())
    assert [a.text for a in iwae.layout.annotations] == ["log p(x)", "ELBO (k = 1)"]


def test_the_caption_is_written_from_the_numbers(digits_view):
    view, curve = digits_view
    text = posterior_figures.caption(view, curve, 100)
    j = list(curve.ks).index(100)
    for number in (view.log_px - view.elbo_encoder, view.log_px, view.amortization_gap, view.approximation_gap,
                   curve.mean[j], curve.std[j]):
        assert f"{number:.2f}" in text
    larger = "amortization" if view.amortization_gap >= view.approximation_gap else "approximation"
    assert f"the {larger} gap is the larger" in text
    rows = posterior_figures.numbers_table(view)
    assert [r["quantity"] for r in rows] == ["log p(x)", "ELBO, encoder's q", "ELBO, optimised q",
                                             "amortization gap", "approximation gap"]
    assert rows[3]["nats"] == pytest.approx(rows[2]["nats"] - rows[1]["nats"])


def _select(at: AppTest, model: str, index: int) -> None:
    """The map's selection as the browser holds it (AppTest forgets it on the next run)."""
    at.session_state[f"latent_map_{model}"] = {
        "selection": {"points": [{"curve_number": 0, "point_number": 0, "point_index": 0, "customdata": [index]}],
                      "point_indices": [0], "box": [], "lasso": []},
    }


def _click(at: AppTest, model: str, index: int) -> None:
    _select(at, model, index)
    at.run()
    assert_ok(at)


def _open(dataset: str, model: str) -> AppTest:
    need(model)
    at = AppTest.from_file(MAP, default_timeout=TIMEOUT)
    at.session_state["picked_dataset"] = dataset
    at.session_state["picked_model"] = model
    at.run()
    assert_ok(at)
    return at


def test_clicking_an_image_of_a_2d_vae_opens_the_posterior_panel(digits):
    at = _open("digits", "digits-vae-2")
    assert not [s for s in at.subheader if "true posterior" in s.value]
    _click(at, "digits-vae-2", 3)
    assert any("true posterior" in s.value for s in at.subheader)
    figures = figures_of(at)
    contour = [f for f in figures if any(t.get("type") == "contour" for t in f["data"])]
    assert len(contour) == 1
    table = at.dataframe[-1].value
    model, _ = load_checkpoint("checkpoints/digits-vae-2")
    x = torch.from_numpy(digits.test_images[3])
    with torch.no_grad():
        mean, logvar = model.encode(x[None])
    expected = posterior.true_posterior(model, x, mean[0].numpy(), logvar[0].numpy()).log_px
    assert table.loc["log p(x)", "nats"] == pytest.approx(expected, abs=1e-6)
    before = at.metric[0].value
    assert at.metric[0].label == "IWAE-100 bound"
    _select(at, "digits-vae-2", 3)
    at.select_slider(key="posterior_k").set_value(5000).run()
    assert_ok(at)
    assert at.metric[0].label == "IWAE-5000 bound" and at.metric[0].value != before
    bound = float(re.match(r"(-?[\d.]+) nats", at.metric[0].value).group(1))
    assert bound <= expected + 0.05  # a lower bound, up to its spread
    assert any("amortization gap" in m.value and "approximation gap" in m.value for m in at.markdown)


def test_a_larger_vae_shows_the_optimised_q_iwae_and_the_image_kl_per_dim():
    at = _open("mnist", "mnist-vae-16")
    _click(at, "mnist-vae-16", 0)
    assert any("How close q(z|x) gets" in s.value for s in at.subheader)
    figures = figures_of(at)
    assert not any(t.get("type") == "contour" for f in figures for t in f["data"])
    bars = [f for f in figures if any(t.get("type") == "bar" for t in f["data"])]
    assert len(bars) == 1 and len(bars[0]["data"][0]["x"]) == 16
    rows = list(at.dataframe[-1].value.index)
    assert rows == ["ELBO, encoder's q", "ELBO, optimised q", "amortization gap"]
    assert any("stands in for log p(x)" in m.value for m in at.markdown)
