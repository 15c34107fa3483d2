"""explorer.logic.analysis: choosing checkpoints, sweep groups, endpoints, paths, subspace angles."""

import numpy as np
import pytest
import torch

from core.card import Card
from core.models import ModelConfig, build_model
from explorer.logic import analysis


def card(name, kind="vae", dataset="mnist", dim=2, beta=1.0, sweep=None, kl_only=False, origin="shipped",
         metrics=None, seeds=None, likelihood="bernoulli", noise=0.0):
    return Card.from_dict({
        "name": name, "kind": kind, "dataset": {"name": dataset}, "origin": origin,
        "model_config": {"latent_dim": dim, "likelihood": likelihood, "gaussian_variance": 0.01, "input_noise": noise},
        "train_config": {"beta": beta, "reconstruction_weight": 0.0 if kl_only else 1.0},
        **({"sweep": sweep} if sweep else {}), "metrics": metrics or {}, **({"seeds": seeds} if seeds else {}),
    })


CARDS = [
    card("mnist-pca-2", "pca"), card("mnist-ae-2", "ae"), card("mnist-linear-ae-2", "linear-ae"),
    card("mnist-vae-2-beta4", beta=4.0, sweep="mnist-vae-2", metrics={"kl": 1.0, "reconstruction": 180.0}),
    card("mnist-vae-2", beta=1.0, sweep="mnist-vae-2", metrics={"kl": 5.0, "reconstruction": 140.0}),
    card("mnist-vae-2-beta0", beta=0.0, sweep="mnist-vae-2", metrics={"kl": 20.0, "reconstruction": 120.0}),
    card("mnist-vae-2-klonly", sweep="mnist-vae-2", kl_only=True, metrics={"kl": 0.0, "reconstruction": 540.0}),
    card("mnist-vae-10-beta1", dim=10, sweep="mnist-vae-10", metrics={"kl_per_dim": [0.0] * 10}),
    card("mnist-vae-10-beta8", dim=10, beta=8.0, sweep="mnist-vae-10"),
    card("mine", "vae", origin="trained"),
    card("digits-ae-2", "ae", dataset="digits"),
]


def test_canonical_models_one_per_kind_plain_vae_first():
    chosen = analysis.canonical_models(CARDS, "mnist", 2)
    assert list(chosen) == ["pca", "linear-ae", "ae", "vae"]
    assert chosen["vae"]["name"] == "mnist-vae-2"  # beta 1, shipped, shortest name
    assert analysis.canonical_models(CARDS, "digits", 2).keys() == {"ae"}
    assert analysis.latent_dims_with(CARDS, "mnist") == [2]
    assert analysis.latent_dims_with(CARDS, "mnist", min_kinds=1) == [2, 10]


def test_sweep_groups_sorted_by_beta_with_the_kl_only_model_apart():
    groups = analysis.sweep_groups(CARDS)
    assert list(groups) == ["mnist-vae-2", "mnist-vae-10"]
    g = groups["mnist-vae-2"]
    assert g.betas == [0.0, 1.0, 4.0] and g.kl_only["name"] == "mnist-vae-2-klonly"
    assert g.at_beta(4)["name"] == "mnist-vae-2-beta4" and g.at_beta(2) is None
    assert (g.dataset, g.latent_dim) == ("mnist", 2)
    points = analysis.rate_distortion(g.models)
    assert (points.betas, points.rates, points.distortions) == ([0.0, 1.0, 4.0], [20.0, 5.0, 1.0], [120.0, 140.0, 180.0])
    assert points.follows_theory() and not points.has_spread
    assert "reconstructions improve" in analysis.tradeoff_caption(points)


def test_tradeoff_caption_never_claims_what_the_numbers_contradict():
    """A sweep where beta = 2 beats beta = 1 on both axes gets no caption saying reconstructions
    improve with rate: the caption is read off the numbers."""
    zigzag = analysis.RateDistortion([0.5, 1.0, 2.0], [7.3, 6.4, 5.4], [147.9, 148.9, 146.9], [np.nan] * 3, [np.nan] * 3)
    assert not zigzag.follows_theory()
    caption = analysis.tradeoff_caption(zigzag)
    assert "reconstructions improve" not in caption and "do not all line up" in caption
    assert "not measured" in caption and "falls by 2.0 nats" in caption


def test_a_fall_in_reconstruction_is_called_noise_only_within_the_measured_spread():
    """The 2-D sweep's reconstruction falls from beta 0.5 (154.0) to 1 (152.0): its measured seed
    spreads (1.4 and 1.0 nats) make that difference noise; a spread of 0.3 would not."""
    def points(std):
        return analysis.RateDistortion([0.5, 1.0, 2.0], [7.3, 5.9, 5.0], [154.0, 152.0, 153.9], [np.nan] * 3, std)

    noisy = points([1.42, 1.01, np.nan])
    assert noisy.falls() == [1] and noisy.fall_is_noise(1)
    assert noisy.distortion_noise(1) == pytest.approx(np.hypot(1.42, 1.01))
    assert "within training noise" in noisy.fall_note(1)
    assert "up to training noise" in analysis.tradeoff_caption(noisy)
    sharp = points([0.3, 0.3, np.nan])
    assert not sharp.fall_is_noise(1) and "more than twice the training noise" in sharp.fall_note(1)
    assert "do not all line up" in analysis.tradeoff_caption(sharp)


def test_your_models_join_the_sweep_of_their_data_dimension_and_likelihood():
    groups = analysis.sweep_groups(CARDS)
    mine = [card("mine", beta=3.0, origin="trained", metrics={"kl": 2.0, "reconstruction": 150.0}),
            card("mine-3d", dim=3, origin="trained"), card("mine-gauss", origin="trained", likelihood="gaussian")]
    joined, refused = analysis.your_models(CARDS + mine, groups["mnist-vae-2"])
    assert [c.name for c in joined] == ["mine"]
    assert any("mine-3d" in r and "3-D" in r for r in refused)
    assert any("mine-gauss" in r and "not on one scale" in r for r in refused)


def test_rate_distortion_reads_the_seed_spread_and_picks_the_measured_sweep():
    seeded = [card(f"s{b:g}", dim=16, beta=b, sweep="mnist-vae-16",
                   metrics={"kl": 30 / (1 + b), "reconstruction": 90 + b},
                   seeds={"std": {"kl": 0.3, "reconstruction": 0.5}, "runs": [{}, {}, {}]}) for b in (0.5, 1, 4)]
    groups = analysis.sweep_groups(CARDS + seeded)
    points = analysis.rate_distortion(groups["mnist-vae-16"].models)
    assert points.has_spread and points.distortion_std == [0.5, 0.5, 0.5]
    assert analysis.default_sweep(groups, "mnist") == "mnist-vae-16"  # the 2-D sweep has no seeds
    assert analysis.default_sweep(groups, "frey") is None
    assert analysis.kl_only_point(groups["mnist-vae-2"]) is None or len(analysis.kl_only_point(groups["mnist-vae-2"])) == 2


def test_the_plain_model_of_a_kind_is_one_choice_on_every_page(monkeypatch):
    """A denoising AE is never the plain AE: the Compare page's models (canonical_models) and the
    partner the Manifold page and the lessons compare with (explore.partner_card) agree."""
    from explorer.ui import explore, loaders

    shipped_dae = card("mnist-ae-2-dae", "ae", noise=0.3)
    trained_ae = card("my-ae", "ae", origin="trained")
    vae = card("mnist-vae-2")
    cards = [shipped_dae, trained_ae, vae]
    monkeypatch.setattr(loaders, "all_cards", lambda: cards)
    assert analysis.canonical_models(cards, "mnist", 2)["ae"].name == "my-ae"
    assert explore.partner_card(vae, "ae").name == "my-ae"
    assert shipped_dae.is_denoiser and not shipped_dae.is_plain and trained_ae.is_plain
    assert explore.partner_card(vae, "vae") is None  # not itself
    assert analysis.canonical_models([shipped_dae, vae], "mnist", 2).keys() == {"vae"}


def test_sweep_groups_fall_back_to_shared_settings_without_sweep_fields():
    cards = [card("a", beta=0.5), card("b", beta=2.0), card("c", dim=3)]
    groups = analysis.sweep_groups(cards)
    assert len(groups) == 1 and next(iter(groups.values())).betas == [0.5, 2.0]


def test_map_dims_picks_the_most_informative_dims():
    c = card("v", dim=4, metrics={"kl_per_dim": [0.1, 3.0, 0.0, 2.0]})
    assert analysis.map_dims(c) == (1, 3)
    assert analysis.map_dims(card("p", "pca", dim=4)) == (0, 1)


def test_pairs_by_class_and_at_random_are_seeded():
    labels = np.array([0, 1, 1, 2, 0, 1])
    i, j = analysis.pair_by_class(labels, 0, 1, seed=3)
    assert labels[i] == 0 and labels[j] == 1
    assert analysis.pair_by_class(labels, 0, 1, seed=3) == (i, j)
    i, j = analysis.pair_by_class(labels, 1, 1, seed=0)
    assert i != j and labels[i] == labels[j] == 1
    with pytest.raises(ValueError, match="class 7 has no test images"):
        analysis.pair_by_class(labels, 7, 1)
    a, b = analysis.random_pair(10, seed=1)
    assert a != b and (a, b) == analysis.random_pair(10, seed=1)
    assert len(analysis.subsample(100, 10)) == 10 and list(analysis.subsample(5, 10)) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("method", ["linear", "spherical"])
def test_interpolation_path_runs_between_the_decoded_ends(method):
    torch.manual_seed(0)
    model = build_model(ModelConfig("vae", (1, 6, 6), 3, hidden=(16,))).eval()
    z0, z1 = torch.randn(3), torch.randn(3)
    path = analysis.interpolation_path(model, z0, z1, 7, method)
    assert path.images.shape == (7, 1, 6, 6) and path.steps.shape == (6,)
    with torch.no_grad():
        ends = model.decode(torch.stack([z0, z1])).numpy()
    np.testing.assert_allclose(path.images[[0, -1]], ends, atol=1e-5)
    assert path.largest_jump == pytest.approx(path.steps.max())
    with pytest.raises(ValueError, match="method='curved'"):
        analysis.interpolation_path(model, z0, z1, 7, "curved")


def test_principal_angles_zero_for_a_mix_of_the_pca_axes_and_large_otherwise():
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.random((200, 1, 5, 5), dtype=np.float32))
    pca = build_model(ModelConfig("pca", (1, 5, 5), 3)).fit_closed_form(x)
    linear = build_model(ModelConfig("linear-ae", (1, 5, 5), 3))
    mix = torch.from_numpy(rng.normal(size=(3, 3)).astype(np.float32))  # any invertible 3 x 3
    with torch.no_grad():
        linear.decoder.weight.copy_(pca.components.T @ mix)
    angles = analysis.principal_angles_deg(linear, pca)
    assert angles.shape == (3,) and angles.max() < 0.01
    with torch.no_grad():
        linear.decoder.weight.copy_(torch.from_numpy(rng.normal(size=(25, 3)).astype(np.float32)))
    assert analysis.principal_angles_deg(linear, pca).max() > 10


def test_labels_and_rows():
    vae = card("v", beta=4.0, metrics={"mse": 0.01, "kl": 2.0})
    assert vae.training_label == "Bernoulli likelihood, β = 4"
    assert card("k", kl_only=True).training_label.endswith("KL only")
    row = analysis.metrics_rows([vae])[0]
    assert row["mse"] == 0.01 and row["neg_elbo · Bernoulli"] is None and row["likelihood"] == "Bernoulli"
    assert "reconstruction" not in row  # nats of different likelihoods never share a column
    assert analysis.fmt(None) == "–" and analysis.fmt(2.345, ".1f", " nats") == "2.3 nats"
    images = analysis.basis_images(np.arange(12, dtype=np.float32).reshape(4, 3), (1, 2, 2))
    assert images.shape == (3, 1, 2, 2) and images.min() == 0 and images.max() == 1
