"""Tests of core.losses against torch.distributions (an independent implementation) and
Monte Carlo estimates."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from core.losses import (
    LIKELIHOODS,
    gaussian_log_density,
    kl_divergence as closed_form_kl,
    kl_per_dimension,
    reconstruction_nll,
)


def posterior(n: int = 7, d: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return 2.0 * torch.randn(n, d, generator=gen), 1.5 * torch.randn(n, d, generator=gen)


def test_kl_matches_torch_distributions():
    mean, logvar = posterior()
    q = Normal(mean.double(), torch.exp(0.5 * logvar.double()))
    p = Normal(torch.zeros_like(q.loc), torch.ones_like(q.scale))
    reference = kl_divergence(q, p)  # (N, D)
    torch.testing.assert_close(kl_per_dimension(mean.double(), logvar.double()), reference)
    torch.testing.assert_close(closed_form_kl(mean.double(), logvar.double()), reference.sum(1))


def test_kl_matches_a_monte_carlo_estimate():
    # KL(q || p) = E_q[log q(z) - log p(z)]: average over many samples of z ~ q.
    mean, logvar = posterior(n=3, d=4, seed=1)
    mean, logvar = mean.double() / 2, logvar.double() / 2  # moderate values keep the MC variance small
    q = Normal(mean, torch.exp(0.5 * logvar))
    p = Normal(torch.zeros_like(mean), torch.ones_like(mean))
    torch.manual_seed(0)
    z = q.sample((200_000,))  # (S, N, D)
    log_ratio = (q.log_prob(z) - p.log_prob(z)).sum(-1)  # (S, N)
    estimate = log_ratio.mean(0)
    stderr = log_ratio.std(0) / math.sqrt(len(z))
    closed = closed_form_kl(mean, logvar)
    assert torch.all((estimate - closed).abs() < 5 * stderr), (estimate, closed, stderr)
    torch.testing.assert_close(closed, kl_divergence(q, p).sum(1))


def test_kl_is_zero_at_the_prior_and_positive_elsewhere():
    zeros = torch.zeros(2, 3)
    assert torch.equal(kl_per_dimension(zeros, zeros), zeros)
    mean, logvar = posterior()
    assert torch.all(kl_per_dimension(mean, logvar) >= 0)
    # One nat per dimension at mean sqrt(2), unit variance: mu^2 / 2 = 1.
    assert kl_per_dimension(torch.full((1, 1), math.sqrt(2)), torch.zeros(1, 1)).item() == pytest.approx(1.0)


def images_and_outputs(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(6, 1, 8, 8, generator=gen)
    x[0] = (x[0] > 0.5).float()  # binary pixels as well as continuous intensities
    logits = 3.0 * torch.randn(6, 1, 8, 8, generator=gen)
    return x, logits


def test_bernoulli_nll_matches_torch_bernoulli_log_prob():
    x, logits = images_and_outputs()
    # validate_args=False: continuous targets in [0, 1], as in Kingma & Welling and pytorch/examples.
    reference = -Bernoulli(logits=logits.double(), validate_args=False).log_prob(x.double()).flatten(1).sum(1)
    ours = reconstruction_nll(logits, x, "bernoulli")
    assert ours.shape == (6,)
    torch.testing.assert_close(ours.double(), reference, rtol=1e-5, atol=1e-4)


def test_bernoulli_nll_is_stable_for_extreme_logits():
    x = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    logits = torch.tensor([[200.0, -200.0, -200.0, 200.0]])
    nll = reconstruction_nll(logits, x, "bernoulli")
    assert torch.isfinite(nll).all()
    assert nll.item() == pytest.approx(400.0)  # two confident mistakes of 200 nats each


@pytest.mark.parametrize("variance", [0.01, 0.1, 1.0])
def test_gaussian_nll_matches_torch_normal_log_prob(variance):
    x, logits = images_and_outputs(1)
    mean = torch.sigmoid(logits)
    reference = -Normal(mean.double(), math.sqrt(variance)).log_prob(x.double()).flatten(1).sum(1)
    ours = reconstruction_nll(mean, x, "gaussian", gaussian_variance=variance)
    torch.testing.assert_close(ours.double(), reference, rtol=1e-5, atol=1e-4)


def test_gaussian_log_density_matches_torch_normal():
    mean, logvar = posterior(seed=2)
    z = torch.randn(mean.shape, generator=torch.Generator().manual_seed(3))
    reference = Normal(mean.double(), torch.exp(0.5 * logvar.double())).log_prob(z.double()).sum(-1)
    torch.testing.assert_close(gaussian_log_density(z.double(), mean.double(), logvar.double()), reference)


def test_unknown_likelihood_is_refused_with_the_allowed_values():
    x, logits = images_and_outputs()
    assert LIKELIHOODS == ("bernoulli", "gaussian")
    with pytest.raises(ValueError, match=r"likelihood='laplace' is not one of \('bernoulli', 'gaussian'\)"):
        reconstruction_nll(logits, x, "laplace")
