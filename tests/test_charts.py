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
    sweep, chosen = fig.data[0], fig.data[1]
    assert list(sweep.customdata) == [0.0, 1.0, 4.0]  # drawn in beta order
    assert list(sweep.x) == [9.0, 5.0, 1.5]
    assert list(sweep.text) == ["β=0: reconstruction only", "β=1", "β=4"]  # the beta = 0 end is labelled
    assert sweep.error_y.array is None  # no seeds, no error bars
    assert (chosen.x[0], chosen.y[0]) == (5.0, 140.0)
    assert "β=1" in chosen.name
    assert "nats per image" in _axis_title(fig, "xaxis") and "KL" in _axis_title(fig, "xaxis")
    assert "nats per image" in _axis_title(fig, "yaxis") and "Bernoulli" in _axis_title(fig, "yaxis")


def test_rate_distortion_draws_the_seed_spread_as_error_bars():
    fig = charts.rate_distortion_chart([1.0, 0.5], [5.0, 8.0], [140.0, 130.0], rate_std=[0.2, 0.3],
                                       distortion_std=[1.5, 1.0])
    sweep = fig.data[0]
    assert list(sweep.error_y.array) == [1.0, 1.5] and list(sweep.error_x.array) == [0.3, 0.2]  # beta order
    assert "seeds" in sweep.name


def test_rate_distortion_kl_only_point_and_no_highlight():
    fig = charts.rate_distortion_chart([0.0, 1.0], [8.0, 4.0], [100.0, 130.0], chosen=None, kl_only=(0.01, 550.0))
    assert len(fig.data) == 2
    kl_only = fig.data[1]
    assert kl_only.x[0] == 0.01 and kl_only.customdata[0] == 550.0
    assert kl_only.marker.symbol == "triangle-up" and "550 nats" in kl_only.text[0]  # far above: pinned to the top
    assert fig.layout.yaxis.range[0] < kl_only.y[0] < fig.layout.yaxis.range[1] < 550
    near = charts.rate_distortion_chart([0.0, 1.0], [8.0, 4.0], [100.0, 130.0], kl_only=(0.0, 131.0)).data[1]
    assert near.marker.symbol == "x" and near.y[0] == 131.0


def test_rate_distortion_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="same length"):
        charts.rate_distortion_chart([0.0, 1.0], [1.0], [2.0, 3.0])


def test_kl_bars_one_panel_per_model_one_bar_per_dim_active_units_coloured():
    kl = {"β=1": [2.0, 0.5, 0.001, 0.0], "β=8": [1.0, 0.002, 0.0, 0.0]}
    fig = charts.kl_per_dim_bars(kl, chosen="β=8")
    bars = [t for t in fig.data if t.type == "bar"]
    assert len(bars) == 2 and [len(b.y) for b in bars] == [4, 4]
    assert list(bars[0].x) == ["z0", "z1", "z2", "z3"]  # sorted by KL, largest first
    strong = [b for b in bars if b.name == "β=8"][0]
    assert list(strong.marker.color).count(charts.HIGHLIGHT) == 1  # one active unit
    assert list(strong.marker.color).count(charts.MUTED) == 3
    titles = [a.text for a in fig.layout.annotations]
    assert "β=1: 2/4 active" in titles and "<b>β=8: 1/4 active</b>" in titles
    assert fig.layout.yaxis.type == "log" and "nats per image" in _axis_title(fig, "yaxis")
    assert min(bars[1].y) > 0  # zeros lifted to a floor, drawable on a log axis


def test_kl_bars_need_data():
    with pytest.raises(ValueError, match="empty"):
        charts.kl_per_dim_bars({})


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
