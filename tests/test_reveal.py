"""How far a prediction was (explorer/logic/reveal.py), against direct computations."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.logic import lesson_figures, reveal


def test_map_code_distance_and_share_of_nearer_codes():
    rng = np.random.default_rng(0)
    codes = rng.standard_normal((1000, 2))
    out = reveal.map_code((1.0, 1.0), codes[5], codes)
    distance = np.hypot(1.0 - codes[5, 0], 1.0 - codes[5, 1])
    assert out.score == pytest.approx(distance)
    nearer = sum(np.hypot(*(c - codes[5])) < distance for c in codes) / len(codes)
    assert f"{nearer:.0%} of the test images' codes" in out.off_text
    assert reveal.map_code(codes[5], codes[5], codes).score == 0.0


def test_map_samples_share_matches_the_gaussian():
    """For a 2-D Gaussian, the share of draws within Mahalanobis radius r is 1 - exp(-r²/2)."""
    mean, sigma = np.array([0.5, -1.0]), np.array([0.2, 0.05])
    draws = mean + sigma * np.random.default_rng(1).standard_normal((20000, 2))
    for r in (0.5, 1.0, 2.0):
        click = mean + sigma * np.array([r, 0.0])
        out = reveal.map_samples(click, draws, mean, sigma)
        assert out.score == pytest.approx(r)
        share = float(out.off_text.split("; ")[1].split("%")[0]) / 100
        assert share == pytest.approx(1 - np.exp(-r * r / 2), abs=0.011)


def test_curve_point_in_units_of_the_curve_as_drawn():
    rates, distortions = [0.001, 10.0, 1000.0], [200.0, 150.0, 100.0]  # log10 rate: -2 (floor) .. 3
    out = reveal.curve_point((10.0, 150.0), (10.0, 150.0), rates, distortions)
    assert out.score == 0.0
    out = reveal.curve_point((100.0, 180.0), (10.0, 150.0), rates, distortions)
    assert out.score == pytest.approx(np.hypot(1 / 5, 30 / 100))
    assert "+90.00 nats of rate and +30.0 nats of distortion" in out.off_text
    assert reveal.curve_point((-5.0, 150.0), (0.01, 150.0), rates, distortions).score == 0.0  # below the floor


def test_choice_and_nearest_option():
    assert reveal.choice("a", ["a", "b"], "a", "because").score == 0.0
    wrong = reveal.choice("b", ["a", "b"], "a", "because")
    assert wrong.score == 1.0 and "you chose b" in wrong.off_text and "**a**" in wrong.answer_text
    assert reveal.nearest_option(0.12, ["0", "30", "60", "90"]) == "0"
    assert reveal.nearest_option(50.0, ["0", "30", "60", "90"]) == "60"


def test_judge_samples_against_brute_force():
    rng = np.random.default_rng(2)
    samples, refs, labels = rng.random((30, 1, 4, 4)), rng.random((50, 1, 4, 4)), rng.integers(0, 10, 50)
    distance, bits = reveal.judge_samples(samples, refs, labels)
    nearest = [min(range(len(refs)), key=lambda j: ((s - refs[j]) ** 2).sum()) for s in samples]
    assert distance == pytest.approx(np.mean([((s - refs[j]) ** 2).mean() for s, j in zip(samples, nearest)]))
    shares = np.bincount(labels[nearest], minlength=10) / len(samples)
    assert bits == pytest.approx(-sum(p * np.log2(p) for p in shares if p > 0))
    same, spread = reveal.judge_samples(refs[:10], refs, np.arange(50) % 10)
    assert same == pytest.approx(0.0, abs=1e-12) and spread == pytest.approx(np.log2(10))
    assert reveal.judge_samples(refs[:10], refs, np.zeros(50, int))[1] == 0.0


def test_label_bits():
    assert reveal.label_bits(np.arange(8)) == pytest.approx(3.0)
    assert reveal.label_bits(np.array([4, 4, 4])) == 0.0 and reveal.label_bits(np.array([], int)) == 0.0
    assert reveal.label_bits(np.array([0, 0, 1, 1])) == pytest.approx(1.0)


def test_votes_count_only_the_options():
    assert reveal.votes(["a", "b", "a", "zzz"], ["a", "b", "c"]) == [2, 1, 0]


def test_clicked_point_reads_streamlit_selection_states():
    assert lesson_figures.clicked_point({"selection": {"points": [{"x": 1.5, "y": "-2"}]}}) == (1.5, -2.0)
    for state in (None, {}, {"selection": {"points": []}}, {"selection": {"points": [{"x": "a", "y": 1}]}}, 3):
        assert lesson_figures.clicked_point(state) is None


def test_click_grid_spans_the_ranges():
    import plotly.graph_objects as go

    fig = lesson_figures.add_click_grid(go.Figure(), (-2, 3), (0, 10))
    grid = fig.data[-1]
    assert (min(grid.x), max(grid.x), min(grid.y), max(grid.y)) == (-2, 3, 0, 10)
    assert len(grid.x) == lesson_figures.GRID_POINTS ** 2
    logged = lesson_figures.add_click_grid(go.Figure(), (-1, 2), (0, 1), log_x=True).data[-1]
    assert min(logged.x) == pytest.approx(0.1) and max(logged.x) == pytest.approx(100.0)
    assert np.allclose(np.diff(np.log10(np.unique(logged.x))), 3 / (lesson_figures.GRID_POINTS - 1))
