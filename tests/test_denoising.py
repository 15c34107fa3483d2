"""explorer.logic.denoising's paired comparison: per-image errors and the bootstrap interval of a difference."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from explorer.logic import denoising


def test_per_image_errors_average_to_the_pooled_mse():
    rng = np.random.default_rng(0)
    clean, recon = rng.random((7, 1, 5, 5)), rng.random((7, 1, 5, 5))
    per_image = denoising.mse_per_image(recon, clean)
    assert per_image.shape == (7,)
    assert per_image[3] == pytest.approx(((recon[3] - clean[3]) ** 2).mean())
    assert per_image.mean() == pytest.approx(denoising.mse_per_pixel(recon, clean))


def test_paired_interval_agrees_with_scipys_percentile_bootstrap():
    rng = np.random.default_rng(1)
    base = rng.gamma(2.0, 0.02, 500)  # errors that vary a lot between images ...
    other = base + 0.002 + rng.normal(0, 0.004, 500)  # ... and a small, consistent shift
    diff = denoising.paired_difference(other, base, n_boot=4000)
    ref = stats.bootstrap((other - base,), np.mean, n_resamples=4000, method="percentile", random_state=2)
    assert diff.mean == pytest.approx((other - base).mean())
    assert diff.low == pytest.approx(ref.confidence_interval.low, abs=1.5e-4)
    assert diff.high == pytest.approx(ref.confidence_interval.high, abs=1.5e-4)
    assert diff.clear  # pairing removes the between-image spread: the shift shows


def test_sentences_name_the_lower_error_or_say_level():
    rng = np.random.default_rng(2)
    a = rng.random(300)
    lower = denoising.comparison_sentence("the VAE", "the AE", denoising.paired_difference(a - 0.05, a), 300)
    assert lower.startswith("the VAE is closer") and "300 images" in lower
    higher = denoising.comparison_sentence("the VAE", "the AE", denoising.paired_difference(a + 0.05, a), 300)
    assert higher.startswith("the AE is closer")
    noise = denoising.paired_difference(a + rng.normal(0, 0.05, 300), a)
    level = denoising.comparison_sentence("the VAE", "the AE", noise, 300)
    assert noise.clear or "level" in level


def test_paired_difference_refuses_mismatched_or_tiny_inputs():
    with pytest.raises(ValueError):
        denoising.paired_difference(np.ones(3), np.ones(4))
    with pytest.raises(ValueError):
        denoising.paired_difference(np.ones(1), np.ones(1))


def test_the_shipped_denoisers_are_real_specs():
    from core.pretrain.specs import spec_names

    assert denoising.shipped_denoisers() and set(denoising.shipped_denoisers()) <= set(spec_names())
