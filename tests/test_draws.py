"""explorer/logic/draws.py: finding a model's measured numbers and writing sentences from them."""

from __future__ import annotations

import json

import pytest

from core.card import Card
from explorer.logic import draws


def _stat(mean: float, std: float) -> dict:
    return {"mean": mean, "std": std, "draws": 5}


def _entry(kind: str, dim: int, l2: float, recognised: float, sha: str = "abc") -> dict:
    return {"kind": kind, "latent_dim": dim, "weights_sha256": sha,
            "prior": {"recognised": _stat(recognised, 0.01), "nearest_l2_median": _stat(l2, 0.02)}}


def _draws(models: dict) -> dict:
    scorer = {"test_accuracy": 0.99, "threshold": 0.9, "real_test_recognised": 0.97}
    return {"settings": {"samples": 1000, "seeds": 5, "pairs": 200, "steps": 10, "grid_n": 20, "span": 3.0},
            "datasets": {"mnist": {"scorer": scorer, "models": models}}}


def test_an_entry_is_used_only_while_the_weights_are_the_ones_measured():
    found = _draws({"m": _entry("vae", 2, 4.6, 0.3, sha="abc")})
    card = Card.from_dict({"name": "m", "dataset": {"name": "mnist"}, "weights_sha256": "abc",
                           "model_config": {"latent_dim": 2}})
    assert draws.entry_for(found, card) is not None
    assert draws.entry_for(found, card.updated(weights_sha256="retrained")) is None
    assert draws.entry_for(None, card) is None


def test_read_draws_refuses_missing_or_malformed_files(tmp_path):
    assert draws.read_draws(tmp_path / "none.json") is None
    (tmp_path / "bad.json").write_text("{not json")
    assert draws.read_draws(tmp_path / "bad.json") is None
    (tmp_path / "list.json").write_text(json.dumps([1, 2]))
    assert draws.read_draws(tmp_path / "list.json") is None


def test_percentile_places_a_value_among_the_pairs():
    assert draws.percentile_of(2.5, [1.0, 2.0, 3.0, 4.0]) == 50.0
    assert draws.percentile_of(0.5, [1.0, 2.0]) == 0.0 and draws.percentile_of(9.0, [1.0, 2.0]) == 100.0
    assert draws.percentile_of(0.0, [0.0] * 10) == 50.0  # a tie with every pair is the middle, not the top
    assert draws.percentile_of(2.0, [1.0, 2.0, 3.0, 4.0]) == 37.5


def test_the_lesson_is_framed_by_where_the_numbers_show_it():
    # The reference of the issue: 2-D AE 4.25 vs VAE 4.59; 16-D beta 0: 5.15 vs beta 1: 4.72.
    found = _draws({"ae2": _entry("ae", 2, 4.25, 0.2), "vae2": _entry("vae", 2, 4.59, 0.1),
                    "ae16": _entry("ae", 16, 5.15, 0.3), "vae16": _entry("vae", 16, 4.72, 0.2)})
    text = draws.prior_comparison(found, "mnist")
    assert "by distance it shows in 16-D and not elsewhere (2-D: the AE's are better)" in text
    assert "**2-D**: the VAE (vae2)" in text and "4.59 ± 0.02" in text and "4.25 ± 0.02" in text
    assert "the AE's samples lie closer to real images" in text  # 2-D, said plainly
    assert "the VAE's samples lie closer to real images" in text  # 16-D


def test_a_difference_within_the_spread_is_called_so():
    found = _draws({"ae2": _entry("ae", 2, 4.50, 0.20), "vae2": _entry("vae", 2, 4.51, 0.21)})
    text = draws.prior_comparison(found, "mnist")
    assert "no difference beyond the spread" in text and "by distance it shows in none" in text
    assert draws.clearly_apart(_stat(1.0, 0.1), _stat(1.5, 0.1)) and not draws.clearly_apart(_stat(1.0, 0.1),
                                                                                             _stat(1.2, 0.1))


def test_spread_is_written_the_way_it_was_measured():
    assert draws.share(_stat(0.41, 0.012)) == "41% ± 1.2"
    assert draws.share({"mean": 0.41, "low": 0.37, "high": 0.45, "n": 200}) == "41% [37–45]"
    assert draws.value({"mean": 1.5, "low": 1.4, "high": 1.6, "n": 200}) == "1.50 [1.40–1.60]"


@pytest.mark.parametrize("even,on_data,expected", [("PCA", "VAE", "Even is not the same as on the data: PCA"),
                                                   ("VAE", "VAE", "VAE's paths are both the most even")])
def test_interpolation_caption_says_which_model_is_even_and_which_on_the_data(even, on_data, expected):
    def path(u, r):
        return {"interpolation": {"linear": {"summary": {
            "unevenness": {"mean": u, "low": u - 0.1, "high": u + 0.1, "n": 200},
            "recognised": {"mean": r, "low": r - 0.05, "high": r + 0.05, "n": 200}}}}}

    entries = {"PCA": path(1.0 if even == "PCA" else 2.0, 0.05), "VAE": path(1.5, 0.6)}
    text = draws.interpolation_caption(_draws({}), "mnist", entries, "linear")
    assert expected in text and "200 random pairs" in text and "1.50 [1.40–1.60]" in text


def test_the_shipped_numbers_belong_to_the_shipped_weights_and_are_many_draws():
    """checkpoints/judge/draws.json is rebuilt whenever a measured checkpoint is: an entry whose weights
    changed would silently drop out of the captions."""
    from core.checkpoints import read_card
    from scripts.measure_draws import MODELS, REPO

    found = draws.read_draws()
    assert found is not None
    s = found["settings"]
    assert s["samples"] * s["seeds"] >= 1000 and s["pairs"] >= 200
    for dataset, rows in MODELS.items():
        for _, name, _, _ in rows:
            if name is None:
                continue
            card = read_card(REPO / "checkpoints" / name)
            assert draws.entry_named(found, dataset, name)["weights_sha256"] == card["weights_sha256"], name
            assert draws.entry_for(found, card) is not None


def _sweep_member(name: str, beta: float, sha: str = "abc") -> Card:
    return Card.from_dict({"name": name, "kind": "vae", "train_config": {"beta": beta}, "dataset": {"name": "mnist"},
                           "weights_sha256": sha, "model_config": {"latent_dim": 16}})


@pytest.mark.parametrize("low_end, verdict", [(0.0, "β = 0 clearly fewer"), (0.35, "β = 0 as many within the spread")])
def test_the_beta_page_caption_names_where_prior_samples_are_recognised_most(low_end, verdict):
    found = _draws({})
    found["datasets"]["mnist"]["sweep_priors"] = {
        name: {"weights_sha256": "abc", "prior": {"recognised": _stat(r, 0.01)}}
        for name, r in (("b0", low_end), ("b1", 0.36), ("b8", 0.11))}
    members = [_sweep_member("b0", 0), _sweep_member("b1", 1), _sweep_member("b8", 8)]
    text = draws.sweep_prior_caption(found, "mnist", members)
    assert "β = 0: " + draws.share(_stat(low_end, 0.01)) in text and "β = 1: 36% ± 1.0" in text
    assert "Most at β = 1" in text and verdict in text and "β = 8 clearly fewer" in text
    # a member retrained since (other weights) is not quoted; fewer than two measured: no caption
    members[0] = _sweep_member("b0", 0, sha="retrained")
    assert "β = 0:" not in draws.sweep_prior_caption(found, "mnist", members)
    assert draws.sweep_prior_caption(found, "mnist", members[:2]) is None
