"""Tests of core.evaluate on a VAE trained on digits: the IWAE bound against the ELBO,
active units, kNN accuracy from 1 % of the labels, and MSE against direct computations."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import sklearn.neighbors
import torch

from core.data import load_dataset
from core.evaluate import ACTIVE_UNIT_THRESHOLD, bernoulli_nll, evaluate, iwae_negative_log_likelihood, knn_accuracy
from core.losses import kl_divergence, kl_per_dimension, reconstruction_nll
from core.models import ModelConfig, build_model
from core.train import TrainConfig, fit

LATENT = 8


pytestmark = pytest.mark.usefixtures("single_thread")




@pytest.fixture(scope="module")
def tensors(digits):
    return torch.from_numpy(digits.train_images), torch.from_numpy(digits.test_images)


@pytest.fixture(scope="module")
def vae(tensors):
    torch.manual_seed(0)
    model = build_model(ModelConfig("vae", (1, 8, 8), LATENT, hidden=(64,)))
    fit(model, tensors[0], None, TrainConfig(epochs=25, batch_size=64, lr=3e-3, device="cpu"))
    return model


@pytest.fixture(scope="module")
def metrics(vae, digits, tensors):
    return evaluate(vae, tensors[1], digits.test_labels, tensors[0], digits.train_labels, iwae_k=100)


@pytest.fixture(scope="module")
def reference_neg_elbo(vae, tensors) -> torch.Tensor:
    """-ELBO per test image with the expectation over q(z|x) averaged over 200 samples."""
    test = tensors[1]
    with torch.no_grad():
        mean, logvar = vae.encode(test)
        gen = torch.Generator().manual_seed(123)
        recon = torch.stack([
            reconstruction_nll(vae.decoder_output(mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=gen)),
                               test, "bernoulli")
            for _ in range(200)
        ]).double().mean(0)
        return recon + kl_divergence(mean, logvar).double()


# --------------------------------------------------------------------------- IWAE vs ELBO


def mean_and_stderr(values: torch.Tensor) -> tuple[float, float]:
    return values.mean().item(), (values.std() / math.sqrt(len(values))).item()


def test_iwae_with_one_sample_is_the_elbo(vae, tensors, reference_neg_elbo):
    iwae1 = iwae_negative_log_likelihood(vae, tensors[1], k=1, seed=1).double()
    assert iwae1.shape == (len(tensors[1]),)
    diff, stderr = mean_and_stderr(iwae1 - reference_neg_elbo)
    assert abs(diff) < 4 * stderr, (diff, stderr)  # equal up to sampling noise


def test_iwae_with_100_samples_is_a_tighter_bound(vae, tensors, reference_neg_elbo, metrics):
    iwae100 = iwae_negative_log_likelihood(vae, tensors[1], k=100, seed=1).double()
    diff, stderr = mean_and_stderr(iwae100 - reference_neg_elbo)
    print(f"\nIWAE k=100 - (-ELBO) = {diff:.3f} +- {stderr:.3f} nats")
    assert diff < 0 and diff < -5 * stderr, (diff, stderr)
    # More samples never loosen it (on average over the test set).
    iwae10 = iwae_negative_log_likelihood(vae, tensors[1], k=10, seed=1).double()
    assert iwae100.mean() <= iwae10.mean() <= reference_neg_elbo.mean()
    # The reported metric is this estimate, below the reported -ELBO.
    assert metrics.iwae_k == 100
    assert metrics.iwae_nll == pytest.approx(iwae_negative_log_likelihood(vae, tensors[1], 100, seed=0).mean().item())
    assert metrics.iwae_nll <= metrics.neg_elbo


def test_iwae_needs_a_posterior_and_k_at_least_1(vae, tensors):
    with pytest.raises(ValueError, match=r"k=0 must be >= 1"):
        iwae_negative_log_likelihood(vae, tensors[1][:5], k=0)
    ae = build_model(ModelConfig("ae", (1, 8, 8), 2, hidden=(8,)))
    with pytest.raises(ValueError, match=r"needs a model with a posterior \(a VAE\)"):
        iwae_negative_log_likelihood(ae, tensors[1][:5])


def test_iwae_and_elbo_are_measured_on_the_same_images(vae, tensors):
    m = evaluate(vae, tensors[1][:50], iwae_k=20, seed=3)
    assert m.n_test == 50
    assert m.iwae_nll == pytest.approx(iwae_negative_log_likelihood(vae, tensors[1][:50], 20, seed=3).mean().item())
    # On the same images the IWAE bound (k = 20) is at least as tight as the ELBO (k = 1), up to sampling noise.
    assert m.iwae_nll <= m.neg_elbo + 0.5


def test_bernoulli_nll_at_mean_puts_every_model_on_one_scale(vae, tensors):
    """The common scale is -log Bernoulli(x | decode(mean)), checked against torch's BCE; a perfect
    reconstruction of a binary image costs ~0 and a clamped 0/1 mistake costs -log(1e-6) per pixel."""
    test = tensors[1][:40]
    m = evaluate(vae, test, iwae_k=0)
    with torch.no_grad():
        decoded = vae.decode(vae.encode(test).mean).clamp(1e-6, 1 - 1e-6)
    bce = torch.nn.functional.binary_cross_entropy(decoded, test, reduction="none").flatten(1).sum(1).mean()
    assert m.bernoulli_nll_at_mean == pytest.approx(bce.item(), rel=1e-5)
    x = torch.tensor([[0.0, 1.0, 1.0]])
    assert bernoulli_nll(x, x).item() == pytest.approx(0.0, abs=1e-4)
    assert bernoulli_nll(1 - x, x).item() == pytest.approx(3 * -math.log(1e-6), rel=1e-3)


# --------------------------------------------------------------------------- the other numbers


def test_neg_elbo_kl_and_reconstruction(vae, tensors, metrics, reference_neg_elbo):
    test = tensors[1]
    with torch.no_grad():
        mean, logvar = vae.encode(test)
    kl_dims = kl_per_dimension(mean, logvar).double().mean(0)
    np.testing.assert_allclose(metrics.kl_per_dim, kl_dims.numpy(), rtol=1e-5)
    assert metrics.kl == pytest.approx(kl_dims.sum().item(), rel=1e-5)
    assert metrics.neg_elbo == pytest.approx(metrics.reconstruction + metrics.kl)
    # One sample per image: close to the 200-sample reference.
    assert metrics.neg_elbo == pytest.approx(reference_neg_elbo.mean().item(), abs=0.3)
    assert (metrics.likelihood, metrics.n_test) == ("bernoulli", len(test))


def test_mse_is_the_per_pixel_error_of_the_reconstruction(vae, tensors, metrics):
    test = tensors[1]
    with torch.no_grad():
        direct = ((vae.decode(vae.encode(test).mean) - test) ** 2).double().mean().item()
    assert metrics.mse == pytest.approx(direct, rel=1e-6)


def test_active_units_count_dims_with_kl_above_0_01(metrics):
    assert ACTIVE_UNIT_THRESHOLD == 0.01
    assert metrics.active_units == sum(v > 0.01 for v in metrics.kl_per_dim)
    assert 0 < metrics.active_units <= LATENT


def test_active_units_threshold_on_a_model_with_known_kl(vae, tensors):
    """Dims whose posterior is fixed at N(mu, 1) have KL = mu^2 / 2 for every image."""
    model = copy.deepcopy(vae)
    last = model.encoder[1][-1]  # Linear(hidden, 2 * D): means, then log-variances
    fixed = {0: 0.0, 1: 0.02, 2: 0.005, 3: 0.011}  # dim -> its KL in nats
    with torch.no_grad():
        for dim, kl in fixed.items():
            for row in (dim, LATENT + dim):
                last.weight[row] = 0.0
                last.bias[row] = 0.0
            last.bias[dim] = math.sqrt(2 * kl)
    m = evaluate(model, tensors[1], iwae_k=0)
    for dim, kl in fixed.items():
        assert m.kl_per_dim[dim] == pytest.approx(kl, abs=1e-6)
    free = [m.kl_per_dim[d] for d in range(4, LATENT)]
    assert m.active_units == 2 + sum(v > 0.01 for v in free)  # dims 1 (0.02) and 3 (0.011) count; 0 and 2 do not
    assert m.iwae_nll is None and m.iwae_k is None  # iwae_k=0 skips the estimate


def test_deterministic_models_report_no_variational_numbers(tensors):
    torch.manual_seed(0)
    ae = build_model(ModelConfig("ae", (1, 8, 8), 2, hidden=(16,), likelihood="gaussian"))
    m = evaluate(ae, tensors[1])
    assert (m.kl, m.kl_per_dim, m.neg_elbo, m.iwae_nll, m.active_units) == (None, None, None, None, None)
    assert m.knn_accuracy is None  # no labels given
    with torch.no_grad():
        direct = reconstruction_nll(ae.decoder_output(ae.encode(tensors[1]).mean), tensors[1], "gaussian", 0.01)
    assert m.reconstruction == pytest.approx(direct.mean().item(), rel=1e-5)
    assert m.likelihood == "gaussian"


# --------------------------------------------------------------------------- kNN with 1 % of the labels


class RecordingKNN(sklearn.neighbors.KNeighborsClassifier):
    fitted_labels: list[np.ndarray] = []

    def fit(self, X, y):
        RecordingKNN.fitted_labels.append(np.asarray(y).copy())
        return super().fit(X, y)


@pytest.fixture
def recording_knn(monkeypatch):
    RecordingKNN.fitted_labels = []
    monkeypatch.setattr(sklearn.neighbors, "KNeighborsClassifier", RecordingKNN)
    return RecordingKNN.fitted_labels


def clustered_codes(labels: np.ndarray, seed: int) -> np.ndarray:
    """Codes at the class index on a line, with a little noise: perfectly separable."""
    rng = np.random.default_rng(seed)
    return np.stack([labels * 10.0, np.zeros(len(labels))], 1) + rng.normal(0, 0.5, (len(labels), 2))


def test_knn_uses_a_stratified_one_percent_of_the_labels(recording_knn):
    train_labels = np.repeat(np.arange(10), 200)  # 2,000 labels -> 20 used, 2 per class
    test_labels = np.tile(np.arange(10), 30)
    accuracy, used = knn_accuracy(
        clustered_codes(train_labels, 0), train_labels, clustered_codes(test_labels, 1), test_labels,
    )
    assert used == 20
    (fitted,) = recording_knn
    assert np.bincount(fitted, minlength=10).tolist() == [2] * 10
    assert accuracy == 1.0


def test_knn_stratifies_unbalanced_classes_and_keeps_every_class(recording_knn):
    train_labels = np.concatenate([np.zeros(2400, int), np.ones(400, int), np.full(200, 2)])  # 3,000 -> 30 labels
    accuracy, used = knn_accuracy(clustered_codes(train_labels, 2), train_labels,
                                  clustered_codes(np.arange(3), 3), np.arange(3))
    assert used == 30
    assert np.bincount(recording_knn[0]).tolist() == [24, 4, 2]  # the classes' shares
    # Fewer images than 100 per class: still at least one label per class.
    small = np.repeat(np.arange(10), 5)
    _, used_small = knn_accuracy(clustered_codes(small, 4), small, clustered_codes(small, 5), small)
    assert used_small == 10


def test_knn_accuracy_in_evaluate_uses_1_percent_of_the_train_labels(metrics, digits):
    assert metrics.knn_labels == max(10, round(0.01 * len(digits.train_labels)))
    assert 0.25 < metrics.knn_accuracy <= 1.0  # well above chance (0.1) from 14 labels (measured ~0.42)
