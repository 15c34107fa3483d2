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


def test_curve_point_in_units_of_the_curve():
    rates, distortions = [0.0, 10.0, 40.0], [200.0, 150.0, 100.0]
    out = reveal.curve_point((10.0, 150.0), (10.0, 150.0), rates, distortions)
    assert out.score == 0.0
    out = reveal.curve_point((14.0, 180.0), (10.0, 150.0), rates, distortions)
    assert out.score == pytest.approx(np.hypot(4 / 40, 30 / 100))
    assert "+4.00 nats of rate and +30.0 nats of distortion" in out.off_text


def test_choice_and_nearest_option():
    assert reveal.choice("a", ["a", "b"], "a", "because").score == 0.0
    wrong = reveal.choice("b", ["a", "b"], "a", "because")
    assert wrong.score == 1.0 and "you chose b" in wrong.off_text and "**a**" in wrong.answer_text
    assert reveal.nearest_option(0.12, ["0", "30", "60", "90"]) == "0"
    assert reveal.nearest_option(50.0, ["0", "30", "60", "90"]) == "60"


def test_digit_likeness_against_brute_force():
    rng = np.random.default_rng(2)
    samples, refs = rng.random((30, 1, 4, 4)), rng.random((50, 1, 4, 4))
    mean, sd = reveal.digit_likeness(samples, refs)
    each = [min(((s - r) ** 2).mean() for r in refs) for s in samples]
    assert mean == pytest.approx(np.mean(each)) and sd == pytest.approx(np.std(each))
    assert reveal.digit_likeness(refs[:5], refs)[0] == pytest.approx(0.0, abs=1e-12)


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
