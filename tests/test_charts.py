"""The Plotly builders of explorer.logic.charts, without Streamlit: traces, highlights, units."""

import numpy as np
import plotly.graph_objects as go
import pytest

from explorer.logic import charts


def _axis_title(fig: go.Figure, axis: str) -> str:
    return fig.layout[axis].title.text or ""


def test_rate_distortion_highlights_the_chosen_beta_and_sorts_by_beta():
    betas, rates, distortions = [4.0, 0.0, 1.0], [1.5, 9.0, 5.0], [180.0, 120.0, 140.0]
    fig = charts.rate_distortion_chart(betas, rates, distortions, chosen=2, likelihood="Bernoulli")
    sweep, labels, chosen = fig.data[0], fig.data[1], fig.data[2]
    assert list(sweep.customdata) == [0.0, 1.0, 4.0]  # drawn in beta order
    assert list(sweep.x) == [9.0, 5.0, 1.5]
    assert sorted(labels.text) == ["β=0", "β=1", "β=4"]  # three points far apart: every one labelled
    assert sweep.error_y.array is None  # no seeds, no error bars
    assert (chosen.x[0], chosen.y[0]) == (5.0, 140.0)
    assert "β=1" in chosen.name
    assert fig.layout.xaxis.type == "log" and "KL" in _axis_title(fig, "xaxis")
    assert "nats" in _axis_title(fig, "yaxis") and "Bernoulli" in _axis_title(fig, "yaxis")


def test_rate_distortion_labels_never_overlap_at_phone_width():
    """The 16-D sweep's nine betas: on a 300 px plot the labels of close points are moved or left
    to the hover, never drawn over each other (they were, with every label at the top right)."""
    betas = [0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0]
    rates = [644.0, 48.7, 35.9, 25.6, 18.0, 11.4, 7.0, 3.3, 0.6]
    distortions = [85.0, 85.0, 86.3, 90.5, 97.8, 110.4, 126.5, 154.0, 192.7]
    fig = charts.rate_distortion_chart(betas, rates, distortions, chosen=4)
    labels = fig.data[1]
    assert "β=1" in labels.text  # the chosen beta is always labelled
    x0, x1 = fig.layout.xaxis.range
    y0, y1 = fig.layout.yaxis.range
    spots = charts._label_positions((np.log10(rates) - x0) / (x1 - x0), (np.asarray(distortions) - y0) / (y1 - y0),
                                    [f"β={b:g}" for b in betas], 300.0, 290.0, keep=4)
    assert [s for s in spots if s] == list(labels.textposition)


def test_rate_distortion_draws_the_seed_spread_as_error_bars():
    fig = charts.rate_distortion_chart([1.0, 0.5], [5.0, 8.0], [140.0, 130.0], rate_std=[0.2, 0.3],
                                       distortion_std=[1.5, 1.0])
    sweep = fig.data[0]
    assert list(sweep.error_y.array) == [1.0, 1.5] and list(sweep.error_x.array) == [0.3, 0.2]  # beta order
    assert "seeds" in sweep.name


def test_rate_distortion_draws_your_models_beside_the_sweep():
    fig = charts.rate_distortion_chart([0.0, 1.0], [8.0, 4.0], [100.0, 130.0], extra=[("mine", 3.0, 135.0)])
    (mine,) = [t for t in fig.data if t.name == "your models"]
    assert (mine.x[0], mine.y[0], mine.text[0]) == (3.0, 135.0, "mine")


def test_rate_distortion_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="same length"):
        charts.rate_distortion_chart([0.0, 1.0], [1.0], [2.0, 3.0])


def test_kl_heatmap_one_row_per_model_dims_sorted_inactive_blank():
    kl = {"β=1": [0.5, 2.0, 0.001, 0.0], "β=8": [1.0, 0.002, 0.0, 0.0]}
    fig = charts.kl_per_dim_heatmap(kl, chosen="β=8")
    (heat,) = fig.data
    z = np.asarray(heat.z, dtype=float)
    assert z.shape == (2, 4)
    assert np.allclose(z[0, :2], np.log10([2.0, 0.5])) and np.isnan(z[0, 2:]).all()  # sorted, inactive blank
    assert list(heat.y) == ["β=1 · 2 active", "<b>β=8 · 1 active</b>"]
    assert "inactive" in _axis_title(fig, "xaxis")


def test_kl_heatmap_needs_data():
    with pytest.raises(ValueError, match="empty"):
        charts.kl_per_dim_heatmap({})


def _history(epochs: int, kl: bool) -> list[dict]:
    return [{"epoch": e, "train_reconstruction": 100.0 / e, "test_reconstruction": 110.0 / e,
             "train_kl": 5.0 if kl else 0.0, "test_kl": 5.5 if kl else None} for e in range(1, epochs + 1)]


def test_history_chart_panels_and_units():
    fig = charts.history_chart(_history(5, kl=True))
    assert len(fig.data) == 4  # train + test for reconstruction and KL
    assert "reconstruction" in _axis_title(fig, "yaxis") and "nats per image" in _axis_title(fig, "yaxis")
    assert "KL" in _axis_title(fig, "yaxis2")
    assert list(fig.data[0].x) == [1, 2, 3, 4, 5]


def test_history_chart_deterministic_model_has_no_kl_panel():
    fig = charts.history_chart(_history(3, kl=False))
    assert len(fig.data) == 2 and "yaxis2" not in fig.layout.to_plotly_json()


def test_path_measures_chart_draws_every_pair_and_stars_the_one_on_screen():
    rows = {"PCA": ([1.1, 1.2, 1.3], [0.0, 0.125, 0.25], (1.2, 0.125)), "VAE": ([2.0, 3.0], [0.75, 1.0], None)}
    fig = charts.path_measures_chart(rows)
    boxes = [t for t in fig.data if t.type == "box"]
    stars = [t for t in fig.data if t.type == "scatter"]
    assert [(t.name, t.xaxis) for t in boxes] == [("PCA", "x"), ("PCA", "x2"), ("VAE", "x"), ("VAE", "x2")]
    assert list(boxes[1].x) == [0.0, 12.5, 25.0]  # shares in percent
    assert [(s.x[0], s.xaxis) for s in stars] == [(1.2, "x"), (12.5, "x2")]  # only PCA's pair is on screen
    assert "largest step / mean step" in _axis_title(fig, "xaxis")
    assert "recognised (%)" in _axis_title(fig, "xaxis2")


def test_principal_angle_bars():
    fig = charts.principal_angle_bars([0.1, 0.4])
    assert len(fig.data[0].y) == 2 and list(fig.data[0].text) == ["0.10°", "0.40°"]
    assert "degrees" in _axis_title(fig, "yaxis")
