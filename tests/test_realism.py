"""core/realism.py: the scorers and the measures over many draws, against independent references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core import judge, realism
from core.data import load_dataset
from core.data.mnist import shipped_test_set

pytestmark = pytest.mark.usefixtures("no_network")


@pytest.fixture(scope="module")
def t10k():
    images, labels, _ = shipped_test_set()
    return images, labels


@pytest.fixture(scope="module")
def digit_scorer(t10k):
    return realism.DigitScorer(t10k[0][:2000])


def test_nearest_distance_matches_a_brute_force_reference():
    rng = np.random.default_rng(0)
    x, ref = rng.random((7, 1, 4, 4)), rng.random((30, 16))
    expected = np.sqrt(((x.reshape(7, 1, 16) - ref[None]) ** 2).sum(-1)).min(1)
    got = realism.nearest_distance(x, torch.as_tensor(ref, dtype=torch.float32), batch=3)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_bootstrap_interval_holds_the_mean_and_narrows_with_more_draws():
    rng = np.random.default_rng(1)
    few, many = realism.bootstrap_mean(rng.random(50)), realism.bootstrap_mean(rng.random(5000))
    for e in (few, many):
        assert e["low"] <= e["mean"] <= e["high"]
    assert many["high"] - many["low"] < (few["high"] - few["low"]) / 5  # ~1/sqrt(100) as wide
    spread = realism.over_draws([0.2, 0.4])
    assert spread == {"mean": pytest.approx(0.3), "std": pytest.approx(np.std([0.2, 0.4], ddof=1)), "draws": 2}


def test_prior_codes_are_standard_normal_for_a_vae_and_fitted_for_the_others():
    rng = np.random.default_rng(2)
    codes = rng.multivariate_normal([5.0, -3.0], [[4.0, 1.5], [1.5, 1.0]], 20_000)
    fitted = realism.prior_codes(False, codes, 20_000, seed=0)
    np.testing.assert_allclose(fitted.mean(0), [5.0, -3.0], atol=0.06)
    np.testing.assert_allclose(np.cov(fitted, rowvar=False), [[4.0, 1.5], [1.5, 1.0]], atol=0.12)
    prior = realism.prior_codes(True, codes, 20_000, seed=0)
    np.testing.assert_allclose(prior.mean(0), [0, 0], atol=0.03)
    np.testing.assert_allclose(np.cov(prior, rowvar=False), np.eye(2), atol=0.04)


def test_a_cross_fade_is_even_but_not_recognised_and_a_jump_is_uneven(t10k, digit_scorer):
    images, labels = t10k
    sure = digit_scorer.recognise(images[:200])
    a, b = images[:200][sure & (labels[:200] == 3)][0], images[:200][sure & (labels[:200] == 8)][0]
    t = np.linspace(0, 1, 10)[:, None, None, None]
    fade = realism.path_measures((1 - t) * a + t * b, digit_scorer)
    assert fade.unevenness == pytest.approx(1.0, abs=1e-4)  # every step the same size
    assert fade.recognised <= 0.5  # the overlays in the middle are no digit
    jump = realism.path_measures(np.stack([a] * 5 + [b] * 5), digit_scorer)
    assert jump.unevenness == pytest.approx(9.0, rel=1e-4)  # one step carries the whole change
    assert jump.recognised == 1.0  # every image is a real digit the judge is sure of


def test_random_pairs_are_distinct_and_seeded():
    pairs = realism.random_pairs(10, 500, seed=3)
    assert pairs.shape == (500, 2) and (pairs[:, 0] != pairs[:, 1]).all() and pairs.max() < 10
    np.testing.assert_array_equal(pairs, realism.random_pairs(10, 500, seed=3))


def test_face_scorer_recognises_real_faces_by_construction_and_not_noise():
    frey = load_dataset("frey", download=False)
    scorer = realism.FaceScorer(frey.train_images, frey.test_images)
    real = scorer(frey.train_images).recognised.mean()
    assert real == pytest.approx(realism.FACE_QUANTILE, abs=0.01)
    noise = np.random.default_rng(4).random((100, *frey.test_images.shape[1:])).astype(np.float32)
    assert scorer.recognise(noise).mean() == 0.0


class _Identity2D:
    """A 'decoder' that writes its 2-D code into the pixels of a blank digit-sized image."""

    def decode(self, z):
        out = torch.zeros(len(z), 1, 28, 28)
        out[:, 0, 0, :2] = z
        return out


class _CountsPixels:
    """A stand-in scorer: an image is recognised when its first pixel is positive."""

    def __call__(self, images):
        first = np.asarray(images)[:, 0, 0, 0]
        return realism.Scores(first > 0, np.zeros(len(images)))


def test_holes_split_the_box_by_distance_to_the_data():
    rng = np.random.default_rng(5)
    # Codes in two tight clusters at x = -1 and x = +1: the box between them is mostly hole.
    codes = np.concatenate([rng.normal([-1, 0], 0.05, (500, 2)), rng.normal([1, 0], 0.05, (500, 2))])
    out = realism.holes(_Identity2D(), codes, np.array([-1.2, -0.2]), np.array([1.2, 0.2]), _CountsPixels(), n=2000)
    assert 0.5 < out["hole_share"]["mean"] < 0.95
    # Near the data every code has |x| ~ 1, so half are recognised (x > 0); in the hole, about half too.
    assert out["recognised_near_data"]["mean"] == pytest.approx(0.5, abs=0.1)
    assert out["radius"] < 0.1


def test_scorer_for_knows_mnist_and_frey_only():
    class Named:
        def __init__(self, name):
            self.name, self.test_images, self.train_images = name, np.zeros((3, 1, 28, 28), np.float32), None

    assert isinstance(realism.scorer_for(Named("mnist")), realism.DigitScorer)
    assert realism.scorer_for(Named("digits")) is None


def test_the_threshold_is_the_judges(t10k, digit_scorer):
    images, _ = t10k
    p = judge.probabilities(digit_scorer.model, images[:50])
    np.testing.assert_array_equal(digit_scorer(images[:50]).recognised, p[:, :10].max(1) >= judge.CONFIDENT)
