"""Tests of core.models: the one interface of PCA, LinearAE, AE and VAE, checked against
independent references (numpy forward passes, scikit-learn's PCA, closed-form Gaussians,
the Eckart-Young theorem).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from sklearn.decomposition import PCA as SklearnPCA

from core.data import load_dataset
from core.models import (
    AE,
    MODEL_KINDS,
    PCA,
    VAE,
    LinearAE,
    ModelConfig,
    Posterior,
    build_model,
    count_parameters,
)
from core.sizes import MAX_PARAMETERS, parameter_count, training_memory_bytes
from core.train import TrainConfig, fit

DIGITS_SHAPE = (1, 8, 8)


pytestmark = pytest.mark.usefixtures("single_thread")




def make_model(kind: str, image_shape=DIGITS_SHAPE, latent_dim: int = 3, seed: int = 0, **config):
    """A fresh model; PCA is fitted on random images so its axes are not all zero."""
    torch.manual_seed(seed)
    model = build_model(ModelConfig(kind=kind, image_shape=image_shape, latent_dim=latent_dim, hidden=(16, 8), **config))
    if isinstance(model, PCA):
        model.fit_closed_form(torch.rand(64, *image_shape, generator=torch.Generator().manual_seed(seed)))
    return model.eval()


def random_images(n: int, shape=DIGITS_SHAPE, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, *shape, generator=torch.Generator().manual_seed(seed))


# --------------------------------------------------------------------------- the interface


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_encode_decode_reconstruct_shapes(kind):
    model = make_model(kind, latent_dim=3)
    x = random_images(5)
    with torch.no_grad():
        post = model.encode(x)
        assert isinstance(post, Posterior)
        assert post.mean.shape == (5, 3)
        if kind == "vae":
            assert post.logvar is not None and post.logvar.shape == (5, 3)
        else:
            assert post.logvar is None  # deterministic encoders have no spread
        images = model.decode(post.mean)
        assert images.shape == (5, *DIGITS_SHAPE)
        assert model.reconstruct(x).shape == (5, *DIGITS_SHAPE)
        assert torch.equal(model.reconstruct(x), images)
    assert model.latent_dim == 3 and model.image_shape == DIGITS_SHAPE
    assert model.variational == (kind == "vae")


@pytest.mark.parametrize("kind", MODEL_KINDS)
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_decode_stays_in_unit_interval_even_far_from_the_data(kind, likelihood):
    model = make_model(kind, latent_dim=2, likelihood=likelihood)
    z = 50.0 * torch.randn(200, 2, generator=torch.Generator().manual_seed(0))  # far outside the data
    with torch.no_grad():
        images = model.decode(z)
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert torch.isfinite(images).all()


@pytest.mark.parametrize("kind", ["ae", "vae"])
@pytest.mark.parametrize("image_shape", [(1, 28, 28), (1, 28, 20), (3, 32, 32)])
def test_conv_models_keep_the_image_shape(kind, image_shape):
    model = make_model(kind, image_shape=image_shape, latent_dim=4, architecture="conv")
    x = random_images(3, image_shape)
    with torch.no_grad():
        post = model.encode(x)
        out = model.decode(post.mean)
    assert post.mean.shape == (3, 4)
    assert (post.logvar is not None) == (kind == "vae")
    assert out.shape == (3, *image_shape)
    assert out.min() >= 0 and out.max() <= 1
    assert model.decoder_layers() is None  # no dense export of a conv decoder


@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_conv_is_rejected_on_8x8_images_with_a_clear_error(kind):
    with pytest.raises(ValueError, match=r"architecture='conv' needs images at least 28 pixels high.*image_shape=\(1, 8, 8\)"):
        build_model(ModelConfig(kind=kind, image_shape=(1, 8, 8), latent_dim=2, architecture="conv"))


def numpy_decode(layers, z: np.ndarray) -> np.ndarray:
    """The decoder run layer by layer in float64 numpy, as the browser runs it."""
    h = z.astype(np.float64)
    for layer in layers:
        h = h @ layer.weight.astype(np.float64).T + layer.bias.astype(np.float64)
        if layer.activation == "relu":
            h = np.maximum(h, 0.0)
        elif layer.activation == "sigmoid":
            h = 1.0 / (1.0 + np.exp(-h))
        elif layer.activation == "clamp01":
            h = np.clip(h, 0.0, 1.0)
        else:
            raise AssertionError(f"unknown activation {layer.activation}")
    return h


@pytest.mark.parametrize("kind", MODEL_KINDS)
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_decoder_layers_reproduce_decode_in_numpy(kind, likelihood):
    model = make_model(kind, latent_dim=3, likelihood=likelihood)
    layers = model.decoder_layers()
    assert layers is not None
    for layer in layers:
        assert layer.weight.dtype == np.float32 and layer.bias.shape == (layer.weight.shape[0],)
    assert layers[0].weight.shape[1] == 3 and layers[-1].weight.shape[0] == 64
    z = 2.0 * torch.randn(50, 3, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = model.decode(z).flatten(1).numpy()
    np.testing.assert_allclose(numpy_decode(layers, z.numpy()), expected, atol=2e-6)


def test_count_parameters_matches_the_pytorch_example_vae():
    # pytorch/examples vae/main.py: fc1 784->400, fc21/fc22 400->20, fc3 20->400, fc4 400->784.
    expected = (784 * 400 + 400) + 2 * (400 * 20 + 20) + (20 * 400 + 400) + (400 * 784 + 784)
    model = build_model(ModelConfig("vae", (1, 28, 28), 20, hidden=(400,)))
    assert count_parameters(model) == expected == 652_824


# --------------------------------------------------------------------------- sizes from the configuration


@pytest.mark.parametrize("kind", MODEL_KINDS)
@pytest.mark.parametrize(
    ("image_shape", "architecture", "conv_stages", "hidden"),
    [((1, 8, 8), "mlp", 2, (16, 8)), ((3, 28, 20), "mlp", 2, (7,)), ((1, 28, 20), "conv", 2, (16,)),
     ((3, 32, 28), "conv", 2, (12, 5)), ((3, 64, 64), "conv", 4, (32,)), ((1, 80, 64), "conv", 4, (9, 4))],
)
def test_parameter_count_from_the_config_equals_the_built_models(kind, image_shape, architecture, conv_stages, hidden):
    if architecture == "conv" and kind in ("pca", "linear-ae"):
        pytest.skip("the linear models have no conv architecture")
    config = ModelConfig(kind, image_shape, 3, hidden=hidden, architecture=architecture, conv_stages=conv_stages)
    model = build_model(config)
    stored = sum(t.numel() for t in model.state_dict().values())
    assert parameter_count(config) == stored
    if kind != "pca":  # PCA's values are fitted buffers, not trained parameters
        assert parameter_count(config) == count_parameters(model)


def test_training_memory_counts_adam_copies_activations_and_images():
    # The PyTorch example VAE: 652,824 parameters; per image 400 + 40 + 400 + 784 layer outputs.
    config = ModelConfig("vae", (1, 28, 28), 20, hidden=(400,))
    expected = 4 * (4 * 652_824 + 2 * 128 * (400 + 40 + 400 + 784) + 2 * 60_000 * 784)
    assert training_memory_bytes(config, batch_size=128, n_images=60_000) == expected


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (dict(kind="vae", image_shape=(1, 28, 28), latent_dim=2, hidden=(40_000, 40_000)), r"3,263,120,788 parameters \(13,052 MB\)"),
        (dict(kind="ae", image_shape=(1, 200, 200), latent_dim=2, hidden=(400, 200)), r"parameters .*at most 20,000,000"),
        (dict(kind="linear-ae", image_shape=(3, 256, 256), latent_dim=60), r"parameters"),
        (dict(kind="vae", image_shape=(1, 28, 28), latent_dim=2, hidden=(10**30,)), r"parameters"),
        (dict(kind="vae", image_shape=(1, 2000, 2000), latent_dim=2), r"at most 3 channels and 65,536 pixels"),
        (dict(kind="pca", image_shape=(1, 1, 10**12), latent_dim=2), r"65,536 pixels per image"),
        (dict(kind="ae", image_shape=(5, 28, 28), latent_dim=2), r"at most 3 channels"),
    ],
)
def test_oversized_configs_are_refused_before_anything_is_built(config, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**config).validate()
    with pytest.raises(ValueError, match=message):
        build_model(ModelConfig(**config))


def test_the_largest_accepted_model_is_at_the_cap():
    # Hidden width h on 256x256 gray images, latent 2: the AE stores 2*65536*h + 2h + 2*h + 2 + 65536 values.
    h = (MAX_PARAMETERS - 65_536 - 2) // (2 * 65_536 + 4)
    accepted = ModelConfig("ae", (1, 256, 256), 2, hidden=(h,))
    assert parameter_count(accepted) <= MAX_PARAMETERS < parameter_count(ModelConfig("ae", (1, 256, 256), 2, hidden=(h + 1,)))
    accepted.validate()


# --------------------------------------------------------------------------- config validation


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"latent_dim": 0}, r"latent_dim=0 must be an integer >= 1"),
        ({"latent_dim": -3}, r"latent_dim=-3 must be an integer >= 1"),
        ({"latent_dim": 65}, r"latent_dim=65 must be at most the number of pixels per image \(64\)"),
        ({"likelihood": "poisson"}, r"likelihood='poisson' is not one of \('bernoulli', 'gaussian'\)"),
        ({"architecture": "rnn"}, r"architecture='rnn' is not one of \('mlp', 'conv'\)"),
        ({"kind": "gan"}, r"kind='gan' is not one of \('pca', 'linear-ae', 'ae', 'vae'\)"),
        ({"hidden": (16, 0)}, r"hidden=\(16, 0\) must be comma-separated integers >= 1"),
        ({"hidden": ()}, r"hidden=\(\) must hold at least one width for kind='vae'"),
        ({"gaussian_variance": 0.0}, r"gaussian_variance=0.0 must be a number > 0"),
        ({"input_noise": 1.5}, r"input_noise=1.5 must be a number in \[0, 1\]"),
        ({"image_shape": (1, 0, 8)}, r"image_shape=\(1, 0, 8\) must be \(C, H, W\) with positive sizes"),
    ],
)
def test_config_errors_name_the_field_the_value_and_the_range(changes, message):
    config = dict(kind="vae", image_shape=DIGITS_SHAPE, latent_dim=2, hidden=(16,))
    config.update(changes)
    with pytest.raises(ValueError, match=message):
        build_model(ModelConfig(**config))


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_latent_dim_larger_than_the_image_is_refused_for_every_kind(kind):
    with pytest.raises(ValueError, match=r"latent_dim=65 .*\(64\)"):
        build_model(ModelConfig(kind, DIGITS_SHAPE, 65))


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_config_round_trips_through_a_dict(kind):
    config = ModelConfig(kind, (1, 28, 20), 5, hidden=[32, 16])
    again = ModelConfig.from_dict(config.to_dict())
    assert again == config
    assert isinstance(again.image_shape, tuple) and isinstance(again.hidden, tuple)


@pytest.mark.parametrize("kind", ["pca", "linear-ae"])
def test_linear_models_are_gaussian_dense_and_unhidden(kind):
    config = ModelConfig(kind, DIGITS_SHAPE, 2, hidden=(99,), likelihood="bernoulli", architecture="conv")
    assert (config.likelihood, config.architecture, config.hidden) == ("gaussian", "mlp", ())


# --------------------------------------------------------------------------- the VAE's maths


def test_reparameterize_samples_have_the_posterior_mean_and_spread():
    mean = torch.tensor([[1.0, -2.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(0.25), math.log(4.0)]])
    n = 200_000
    gen = torch.Generator().manual_seed(0)
    z = VAE.reparameterize(mean.expand(n, 3), logvar.expand(n, 3), generator=gen)
    std = torch.exp(0.5 * logvar)[0]
    # Mean within 5 standard errors; std within 1 % (its standard error is ~0.16 % here).
    assert torch.all((z.mean(0) - mean[0]).abs() < 5 * std / math.sqrt(n))
    torch.testing.assert_close(z.std(0), std, rtol=0.01, atol=0)
    # The gradient flows to mean and logvar (the point of the trick).
    m = mean.clone().requires_grad_(True)
    lv = logvar.clone().requires_grad_(True)
    VAE.reparameterize(m, lv).sum().backward()
    assert torch.equal(m.grad, torch.ones_like(m)) and lv.grad is not None


def test_vae_training_code_is_a_sample_and_deterministic_models_use_the_mean():
    x = random_images(4)
    vae = make_model("vae")
    ae = make_model("ae")
    with torch.no_grad():
        post = vae.encode(x)
        assert not torch.equal(vae.sample_latent(post), post.mean)
        post_ae = ae.encode(x)
        assert torch.equal(ae.sample_latent(post_ae), post_ae.mean)


@pytest.mark.parametrize("kind", ["linear-ae", "ae", "vae"])
@pytest.mark.parametrize("variance", [0.01, 0.5])
def test_gaussian_likelihood_is_weighted_squared_error_plus_a_constant(kind, variance):
    model = make_model(kind, latent_dim=2, likelihood="gaussian", gaussian_variance=variance)
    x = random_images(6)
    torch.manual_seed(0)
    with torch.no_grad():
        terms = model.loss_terms(x)
        # Direct computation in float64 for the decoded mean of the same codes: the VAE
        # samples z, so recompute with the same noise.
        torch.manual_seed(0)
        z = model.sample_latent(model.encode(x))
        mean = model.decoder_output(z).double().flatten(1).numpy()
    flat = x.double().flatten(1).numpy()
    c_weight = 1.0 / (2.0 * variance)
    const = 0.5 * flat.shape[1] * math.log(2 * math.pi * variance)
    expected = c_weight * ((flat - mean) ** 2).sum(1) + const
    np.testing.assert_allclose(terms.reconstruction.double().numpy(), expected, rtol=1e-5)
    # The gaussian mean is an image: in [0, 1] (sigmoid for AE/VAE, clamp only at decode for linear).
    if kind != "linear-ae":
        assert mean.min() >= 0 and mean.max() <= 1


@pytest.mark.parametrize("kind", ["pca", "linear-ae", "ae"])
def test_deterministic_models_have_zero_kl(kind):
    model = make_model(kind)
    with torch.no_grad():
        terms = model.loss_terms(random_images(4))
    assert torch.equal(terms.kl, torch.zeros(4))
    assert terms.kl_per_dim.shape == (4, 3)


def test_vae_kl_terms_are_the_closed_form_of_its_posterior():
    model = make_model("vae")
    x = random_images(4)
    with torch.no_grad():
        terms = model.loss_terms(x)
        mean, logvar = model.encode(x)
    var = logvar.exp()
    expected = 0.5 * (mean**2 + var - 1 - logvar)
    torch.testing.assert_close(terms.kl_per_dim, expected)
    torch.testing.assert_close(terms.kl, expected.sum(1))


# --------------------------------------------------------------------------- PCA vs scikit-learn


@pytest.mark.parametrize("latent_dim", [2, 10])
def test_pca_encode_matches_sklearn_up_to_sign(digits, latent_dim):
    train = torch.from_numpy(digits.train_images)
    test = torch.from_numpy(digits.test_images)
    model = build_model(ModelConfig("pca", DIGITS_SHAPE, latent_dim)).fit_closed_form(train)
    reference = SklearnPCA(n_components=latent_dim).fit(digits.train_images.reshape(len(train), -1).astype(np.float64))
    flat_test = digits.test_images.reshape(len(test), -1).astype(np.float64)
    expected = reference.transform(flat_test)
    with torch.no_grad():
        ours = model.encode(test).mean.double().numpy()
    signs = np.sign((ours * expected).sum(0))
    assert np.all(signs != 0)
    np.testing.assert_allclose(ours * signs, expected, atol=1e-4)
    np.testing.assert_allclose(model.explained_variance.numpy(), reference.explained_variance_, rtol=1e-5)
    # Reconstruction: the unclamped decoder output is sklearn's inverse_transform.
    with torch.no_grad():
        recon = model.decoder_output(model.encode(test).mean).double().flatten(1).numpy()
        clamped = model.reconstruct(test).double().flatten(1).numpy()
    sk_recon = reference.inverse_transform(expected)
    np.testing.assert_allclose(recon, sk_recon, atol=1e-4)
    sk_mse = ((sk_recon - flat_test) ** 2).mean()
    assert ((recon - flat_test) ** 2).mean() == pytest.approx(sk_mse, rel=1e-5)
    # decode() clamps to [0, 1]: that can only bring pixels closer to the data (also in [0, 1]).
    assert ((clamped - flat_test) ** 2).mean() <= sk_mse + 1e-9


def test_pca_axes_are_the_top_singular_vectors(digits):
    flat = digits.train_images.reshape(len(digits.train_images), -1).astype(np.float64)
    centred = flat - flat.mean(0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    model = build_model(ModelConfig("pca", DIGITS_SHAPE, 5)).fit_closed_form(torch.from_numpy(digits.train_images))
    angles = scipy.linalg.subspace_angles(model.components.double().numpy().T, vt[:5].T)
    assert np.degrees(angles).max() < 1e-2
    np.testing.assert_allclose(model.explained_variance.numpy(), s[:5] ** 2 / (len(flat) - 1), rtol=1e-5)


def test_pca_refuses_more_components_than_images():
    model = build_model(ModelConfig("pca", DIGITS_SHAPE, 10))
    with pytest.raises(ValueError, match=r"latent_dim=10 must be at most min\(n_images, n_pixels\) = 6 for PCA"):
        model.fit_closed_form(random_images(6))


# --------------------------------------------------------------------------- Eckart-Young

# A linear autoencoder trained on squared error reaches PCA's reconstruction error, and its
# decoder spans PCA's subspace (Eckart & Young, 1936; Baldi & Hornik, 1989). Adam in two
# stages (lr 1e-2, then 1e-3 to settle) on batches of 32 converges for every seed tried.
EY_STAGES = {"digits": [(100, 1e-2), (20, 1e-3)], "mnist": [(25, 1e-2), (5, 1e-3)]}


def eckart_young(dataset, latent_dim: int, stages, seed: int = 0) -> dict:
    train = torch.from_numpy(dataset.train_images)
    test = torch.from_numpy(dataset.test_images)
    pca = build_model(ModelConfig("pca", dataset.image_shape, latent_dim))
    fit(pca, train, None, TrainConfig())
    torch.manual_seed(seed)
    linear = build_model(ModelConfig("linear-ae", dataset.image_shape, latent_dim))
    for epochs, lr in stages:
        fit(linear, train, None, TrainConfig(epochs=epochs, batch_size=32, lr=lr, seed=seed))

    def mse(model, x, clamped=True):
        with torch.no_grad():
            codes = model.encode(x).mean
            out = model.decode(codes) if clamped else model.decoder_output(codes)
            return float((out - x).pow(2).mean())

    angles = np.degrees(scipy.linalg.subspace_angles(
        linear.decoder.weight.detach().double().numpy(), pca.components.double().numpy().T,
    ))
    out = {
        "pca_test_mse": mse(pca, test), "linear_test_mse": mse(linear, test),
        "pca_train_mse_unclamped": mse(pca, train, False), "linear_train_mse_unclamped": mse(linear, train, False),
        "max_angle_deg": float(angles.max()), "mean_angle_deg": float(angles.mean()),
    }
    print(f"\nEckart-Young {dataset.name} k={latent_dim}: " + ", ".join(f"{k} {v:.6g}" for k, v in out.items()))
    return out


def check_eckart_young(result: dict) -> None:
    ratio = result["linear_test_mse"] / result["pca_test_mse"]
    assert abs(ratio - 1) < 0.01, result  # within 1 % of PCA's test MSE
    # On the training images PCA's (unclamped) reconstruction is optimal: the linear AE
    # cannot beat it (up to float32 noise), and it gets within 1 %.
    train_ratio = result["linear_train_mse_unclamped"] / result["pca_train_mse_unclamped"]
    assert 1 - 1e-4 < train_ratio < 1.01, result
    assert result["max_angle_deg"] < 10.0, result  # the same subspace


@pytest.mark.parametrize("latent_dim", [2, 10])
def test_linear_ae_reaches_pca_error_on_digits(digits, latent_dim):
    check_eckart_young(eckart_young(digits, latent_dim, EY_STAGES["digits"]))


@pytest.mark.slow
@pytest.mark.parametrize("latent_dim", [2, 10])
def test_linear_ae_reaches_pca_error_on_the_mnist_subset(tmp_path_factory, latent_dim):
    mnist = load_dataset("mnist", tmp_path_factory.mktemp("no-mnist-here"), download=False)
    # the offline subset, tested on the shipped t10k images
    assert (len(mnist.train_images), len(mnist.test_images)) == (5000, 10000) and mnist.image_shape == (1, 28, 28)
    check_eckart_young(eckart_young(mnist, latent_dim, EY_STAGES["mnist"]))


def test_kind_classes():
    assert isinstance(build_model(ModelConfig("linear-ae", DIGITS_SHAPE, 2)), LinearAE)
    assert type(build_model(ModelConfig("ae", DIGITS_SHAPE, 2))) is AE
    assert isinstance(build_model(ModelConfig("vae", DIGITS_SHAPE, 2)), AE)  # VAE overrides only what differs
