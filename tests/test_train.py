"""Tests of core.train.fit (and core.pipeline.train_and_save): determinism, beta schedules,
cancellation, the NaN guard, the history it reports, PCA's closed-form path."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from core.data import load_dataset
from core.losses import reconstruction_nll
from core.models import VAE, ModelConfig, build_model
from core.pipeline import train_and_save
from core import train
from core.train import (EpochStats, TrainConfig, TrainingDiverged, batch_objective, evaluate_terms, fit,
                        split_validation)

SHAPE = (1, 8, 8)


pytestmark = pytest.mark.usefixtures("single_thread")




@pytest.fixture(scope="module")
def small(digits):
    """A few hundred digits: enough to train on, fast to run."""
    return torch.from_numpy(digits.train_images[:300]), torch.from_numpy(digits.test_images[:100])


def new_model(kind: str = "vae", latent_dim: int = 2, seed: int = 0, **config):
    torch.manual_seed(seed)
    return build_model(ModelConfig(kind, SHAPE, latent_dim, hidden=(32,), **config))


def cfg(**changes) -> TrainConfig:
    base = dict(epochs=3, batch_size=64, lr=3e-3, device="cpu")
    base.update(changes)
    return TrainConfig(**base)


class StopAt:
    """A callback that records what it sees and asks to stop at a given epoch."""

    def __init__(self, epoch: int | None = None):
        self.epoch = epoch
        self.seen: list[EpochStats] = []

    def on_epoch_end(self, stats: EpochStats) -> bool:
        self.seen.append(stats)
        return self.epoch is not None and stats.epoch >= self.epoch


# --------------------------------------------------------------------------- determinism


def without_time(history: list[EpochStats]) -> list[dict]:
    return [{k: v for k, v in s.to_dict().items() if k != "seconds"} for s in history]


@pytest.mark.parametrize("kind", ["linear-ae", "ae", "vae"])
def test_same_seed_gives_identical_history_and_weights(small, kind):
    train, test = small
    runs = []
    for _ in range(2):
        model = new_model(kind, seed=5, input_noise=0.1 if kind == "ae" else 0.0)
        result = fit(model, train, test, cfg(seed=5))
        runs.append((model, result))
    (m1, r1), (m2, r2) = runs
    assert without_time(r1.history) == without_time(r2.history)
    s1, s2 = m1.state_dict(), m2.state_dict()
    assert s1.keys() == s2.keys()
    for key in s1:
        assert torch.equal(s1[key], s2[key]), key
    # And another seed gives another run (the seed is really used).
    other = new_model(kind, seed=6)
    fit(other, train, test, cfg(seed=6))
    assert not torch.equal(other.state_dict()[next(iter(s1))], s1[next(iter(s1))])


def test_the_loop_names_no_wrapper():
    """The epoch loop and the training pass read the same for every run: streaming, torchrun and
    mixed precision reach them only through the Loop's parts (core.train.wrapped_loop)."""
    wrappers = {"distributed", "streaming", "_amp", "amp", "dist", "autocast", "GradScaler", "DataLoader"}
    for loop_function in (train.train_epoch, train._fit_epochs):
        assert not wrappers & set(loop_function.__code__.co_names), loop_function.__name__


def test_fit_returns_the_model_on_the_cpu_in_eval_mode(small):
    model = new_model()
    result = fit(model, small[0], None, cfg(epochs=1))
    assert not model.training
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert result.device == "cpu" and result.seconds > 0 and not result.cancelled


# --------------------------------------------------------------------------- beta schedules


def test_linear_warmup_values_per_epoch():
    config = TrainConfig(beta=2.0, beta_schedule="linear", warmup_epochs=4)
    assert [config.beta_at(e) for e in range(1, 8)] == [0.5, 1.0, 1.5, 2.0, 2.0, 2.0, 2.0]
    constant = TrainConfig(beta=4.0)
    assert [constant.beta_at(e) for e in (1, 5, 50)] == [4.0, 4.0, 4.0]


def test_fit_uses_the_scheduled_beta_in_each_epoch(small):
    model = new_model()
    result = fit(model, small[0], small[1], cfg(epochs=5, beta=3.0, beta_schedule="linear", warmup_epochs=3))
    assert [s.beta for s in result.history] == [1.0, 2.0, 3.0, 3.0, 3.0]
    for s in result.history:
        # The optimised objective is reconstruction + beta * KL, per image.
        assert s.train_loss == pytest.approx(s.train_reconstruction + s.beta * s.train_kl, rel=1e-5)


def test_kl_only_training_collapses_the_posterior_to_the_prior(small):
    model = new_model(latent_dim=3)
    result = fit(model, small[0], small[1], cfg(epochs=15, lr=1e-2, reconstruction_weight=0.0))
    first, last = result.history[0], result.history[-1]
    assert last.train_loss == pytest.approx(last.train_kl)  # nothing but the KL is optimised
    assert last.train_kl < first.train_kl / 10 and last.test_kl < 1e-3


# --------------------------------------------------------------------------- callbacks


def test_a_callback_returning_true_stops_training(small):
    stopper = StopAt(epoch=2)
    watcher = StopAt()
    result = fit(new_model(), small[0], small[1], cfg(epochs=6), callbacks=[watcher, stopper])
    assert result.cancelled is True
    assert len(result.history) == 2
    assert [s.epoch for s in stopper.seen] == [1, 2] == [s.epoch for s in watcher.seen]
    assert all(s.epochs == 6 for s in stopper.seen)


def test_stopping_at_the_last_epoch_is_not_a_cancellation(small):
    result = fit(new_model(), small[0], None, cfg(epochs=2), callbacks=[StopAt(epoch=2)])
    assert result.cancelled is False and len(result.history) == 2


def test_a_cancelled_pipeline_run_saves_nothing(digits, tmp_path):
    trained = train_and_save(
        digits, ModelConfig("vae", SHAPE, 2, hidden=(16,)), cfg(epochs=5), tmp_path / "out" / "m",
        callbacks=[StopAt(epoch=1)], iwae_k=0,
    )
    assert trained.result.cancelled and trained.card is None and trained.metrics is None
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# --------------------------------------------------------------------------- the NaN guard


def nan_after(calls: int):
    """A decoder_output that works for ``calls`` calls, then returns NaN (a diverged decoder)."""
    original = VAE.decoder_output
    count = {"n": 0}

    def decoder_output(self, z):
        count["n"] += 1
        out = original(self, z)
        return out if count["n"] <= calls else torch.full_like(out, float("nan"))

    return decoder_output


def test_a_nan_loss_raises_training_diverged(small, monkeypatch):
    monkeypatch.setattr(VAE, "decoder_output", nan_after(0))
    with pytest.raises(
        TrainingDiverged,
        match=r"training diverged: the loss became nan in epoch 1 \(lr=0.003, beta=1, likelihood=bernoulli\); "
              r"nothing was saved\. Try a smaller learning rate\.",
    ):
        fit(new_model(), small[0], small[1], cfg())


def test_divergence_in_a_later_epoch_names_that_epoch(small, monkeypatch):
    # 300 images / 64 = 5 batches per epoch, plus one test pass (1 decoder call) per epoch.
    monkeypatch.setattr(VAE, "decoder_output", nan_after(5 + 1 + 2))
    with pytest.raises(TrainingDiverged, match=r"the loss became nan in epoch 2 "):
        fit(new_model(), small[0], small[1], cfg())


def test_an_infinite_loss_is_caught_too(small):
    # A real run, nothing patched: a gaussian likelihood whose variance underflows float32
    # weights the squared error by 1/(2c) = inf.
    model = new_model("ae", likelihood="gaussian", gaussian_variance=1e-45)
    with pytest.raises(TrainingDiverged, match=r"the loss became inf in epoch 1 .*likelihood=gaussian"):
        fit(model, small[0], None, cfg())


def test_a_diverging_pipeline_run_writes_no_files(digits, tmp_path, monkeypatch):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    monkeypatch.setattr(VAE, "decoder_output", nan_after(3))
    with pytest.raises(TrainingDiverged, match="nothing was saved"):
        train_and_save(digits, ModelConfig("vae", SHAPE, 2, hidden=(16,)), cfg(epochs=2), out_dir / "vae")
    assert list(out_dir.iterdir()) == []


# --------------------------------------------------------------------------- the history


def test_history_fields(small):
    train, test = small
    result = fit(new_model(), train, test, cfg(epochs=2))
    assert len(result.history) == 2
    fields = {f.name for f in dataclasses.fields(EpochStats)}
    assert fields == {
        "epoch", "epochs", "beta", "train_reconstruction", "train_kl", "train_loss",
        "test_reconstruction", "test_kl", "test_neg_elbo", "seconds", "validation_loss", "lr",
    }
    for i, s in enumerate(result.history, start=1):
        d = s.to_dict()
        assert set(d) == fields
        assert (s.epoch, s.epochs, s.beta) == (i, 2, 1.0)
        assert all(math.isfinite(d[k]) for k in fields - {"validation_loss"})
        assert s.validation_loss is None and s.lr == pytest.approx(3e-3)
        assert s.test_neg_elbo == pytest.approx(s.test_reconstruction + s.test_kl)
        assert s.train_kl > 0 and s.seconds > 0
    # Training lowers the loss.
    assert result.history[-1].train_loss < result.history[0].train_loss
    # Without a test split the test fields are None.
    no_test = fit(new_model(), train, None, cfg(epochs=1)).history[0]
    assert (no_test.test_reconstruction, no_test.test_kl, no_test.test_neg_elbo) == (None, None, None)


def test_the_test_columns_are_the_test_split_terms(small):
    train, test = small
    model = new_model("ae")
    result = fit(model, train, test, cfg(epochs=1))
    recon, kl = evaluate_terms(model, test)
    last = result.history[-1]
    assert (last.test_reconstruction, last.test_kl) == pytest.approx((recon, kl))
    with torch.no_grad():
        direct = reconstruction_nll(model.decoder_output(model.encode(test).mean), test, "bernoulli").mean().item()
    assert recon == pytest.approx(direct, rel=1e-5) and kl == 0.0


def test_pca_through_fit_is_closed_form_in_one_epoch(small):
    train, test = small
    model = new_model("pca", latent_dim=4)
    watcher = StopAt()
    result = fit(model, train, test, cfg(epochs=20), callbacks=[watcher])
    assert len(result.history) == 1 and len(watcher.seen) == 1 and not result.cancelled
    s = result.history[0]
    assert (s.epoch, s.epochs, s.train_kl, s.test_kl) == (1, 1, 0.0, 0.0)
    assert s.test_neg_elbo == pytest.approx(s.test_reconstruction)
    # The axes are fitted: the components are orthonormal.
    gram = model.components @ model.components.T
    torch.testing.assert_close(gram, torch.eye(4), atol=1e-5, rtol=0)
    with torch.no_grad():
        direct = reconstruction_nll(model.decoder_output(model.encode(train).mean), train, "gaussian", 0.01).mean()
    assert s.train_reconstruction == pytest.approx(direct.item(), rel=1e-5)


# --------------------------------------------------------------------------- argument checks


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"epochs": 0}, r"epochs=0 must be an integer in \[1, 10000\]"),
        ({"batch_size": 0}, r"batch_size=0 must be an integer >= 1"),
        ({"lr": 0.0}, r"lr=0.0 must be a number in \(0, 1\]"),
        ({"lr": 5.0}, r"lr=5.0 must be a number in \(0, 1\]"),
        ({"beta": -1.0}, r"beta=-1.0 must be a number in \[0, 1000\]"),
        ({"beta": float("nan")}, r"beta=nan must be a number in \[0, 1000\]"),
        ({"beta_schedule": "cosine"}, r"beta_schedule='cosine' is not one of \('constant', 'linear'\)"),
        ({"warmup_epochs": 0}, r"warmup_epochs=0 must be an integer >= 1"),
        ({"reconstruction_weight": -1.0}, r"reconstruction_weight=-1.0 must be >= 0"),
        ({"reconstruction_weight": 0.0, "beta": 0.0}, r"reconstruction_weight=0 and beta=0 leave nothing to train"),
    ],
)
def test_train_config_errors_name_the_field_and_range(small, changes, message):
    with pytest.raises(ValueError, match=message):
        fit(new_model(), small[0], None, cfg(**changes))


def test_images_of_the_wrong_shape_are_refused(small):
    model = build_model(ModelConfig("vae", (1, 28, 28), 2, hidden=(8,)))
    with pytest.raises(ValueError, match=r"train_images has images of shape \(1, 8, 8\), the model expects \(1, 28, 28\)"):
        fit(model, small[0], None, cfg())
    with pytest.raises(ValueError, match=r"test_images must be a float tensor of shape \(N, C, H, W\)"):
        fit(new_model(), small[0], small[1].flatten(1), cfg())
    with pytest.raises(ValueError, match=r"train_images is empty"):
        fit(new_model(), small[0][:0], None, cfg())


# --------------------------------------------------------------------------- loss reduction, evaluation RNG, early stopping


@pytest.mark.parametrize("images_in_batch", [64, 36, 8])
def test_every_image_weighs_the_same_in_the_ragged_last_batch(images_in_batch):
    """d loss / d (an image's loss) is 1 / batch_size whatever the batch's length: the ragged
    last batch of an epoch is not scaled up to a full step (a mean would weigh its 8 images 8x)."""
    per_image = torch.rand(images_in_batch, requires_grad=True)
    batch_objective(per_image, 64).backward()
    torch.testing.assert_close(per_image.grad, torch.full((images_in_batch,), 1 / 64))


def test_evaluation_does_not_change_the_trained_model(small):
    """The per-epoch test pass draws from its own generator: with or without a test split the
    training stream (and so the trained weights) is the same."""
    train, test = small
    with_test, without_test = new_model(seed=1), new_model(seed=1)
    fit(with_test, train, test, cfg(epochs=2))
    fit(without_test, train, None, cfg(epochs=2))
    for a, b in zip(with_test.parameters(), without_test.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_evaluate_terms_is_repeatable(small):
    _, test = small
    model = new_model(seed=2)
    assert evaluate_terms(model, test) == evaluate_terms(model, test)


def test_early_stopping_keeps_the_best_validation_epoch(small):
    train, test = small
    config = cfg(epochs=40, lr=3e-2, validation_fraction=0.2, patience=3)
    result = fit(new_model(seed=0), train, test, config)
    losses = [s.validation_loss for s in result.history]
    assert all(v is not None for v in losses)
    assert result.n_validation == 60
    assert result.best_epoch == 1 + min(range(len(losses)), key=losses.__getitem__)
    if len(result.history) < 40:  # stopped early: the last `patience` epochs were no better
        assert len(result.history) - result.best_epoch == 3


def test_validation_is_carved_from_training_images_only(small):
    train, _ = small
    rest, val = split_validation(train, 0.1, seed=0)
    assert len(rest) + len(val) == len(train) and len(val) == 30
    joined = torch.cat([rest, val]).flatten(1)
    assert torch.unique(joined, dim=0).shape[0] == torch.unique(train.flatten(1), dim=0).shape[0]


@pytest.mark.parametrize("changes, match", [
    ({"lr_schedule": "step"}, r"lr_schedule='step' is not one of"),
    ({"validation_fraction": 0.9}, r"validation_fraction=0.9 must be a number in \[0, 0.5\]"),
    ({"patience": -1}, r"patience=-1 must be an integer >= 0"),
    ({"patience": 5}, r"patience=5 needs a validation split"),
])
def test_bad_schedule_and_early_stopping_settings_are_named(changes, match):
    with pytest.raises(ValueError, match=match):
        cfg(**changes).validate()


def test_cosine_schedule_decays_to_a_hundredth():
    config = cfg(epochs=11, lr=1e-2, lr_schedule="cosine")
    assert config.lr_at(1) == pytest.approx(1e-2)
    assert config.lr_at(6) == pytest.approx(1e-2 * (0.01 + 0.99 * 0.5))
    assert config.lr_at(11) == pytest.approx(1e-4)
    assert all(config.lr_at(e) > config.lr_at(e + 1) for e in range(1, 11))
