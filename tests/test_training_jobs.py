"""explorer.logic.training: background jobs run side by side, cancel, diverge and fail cleanly."""

import dataclasses
import io
import time

import numpy as np
import pytest

from core.card import Card
from core.checkpoints import list_checkpoints, load_checkpoint
from core.data import DatasetError, load_dataset
from core.models import ModelConfig
from core.runspec import RunSpec
from core.train import TrainConfig
from explorer.logic import training


@pytest.fixture(scope="module")
def digits():
    """A small slice of scikit-learn's bundled digits (8x8), so jobs take a second or two."""
    ds = load_dataset("digits")
    return dataclasses.replace(ds, train_images=ds.train_images[:400], train_labels=ds.train_labels[:400],
                               test_images=ds.test_images[:120], test_labels=ds.test_labels[:120])


def spec(tmp_path, dataset, name, kind="vae", epochs=3, seed=0, lr=1e-3, **kwargs) -> training.JobSpec:
    model = ModelConfig(kind=kind, image_shape=dataset.image_shape, latent_dim=2, hidden=(32,),
                        likelihood="gaussian" if kind in ("pca", "linear-ae") else "bernoulli")
    return training.JobSpec(name, tmp_path, dataset, model, TrainConfig(epochs=epochs, batch_size=64, lr=lr, seed=seed),
                            eval_images=50, **kwargs)


def wait_for(predicate, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_two_jobs_at_once_keep_their_own_history_and_checkpoint(tmp_path, digits):
    a = training.TrainingJob(spec(tmp_path, digits, "job-a", kind="vae", epochs=4, seed=0)).start()
    b = training.TrainingJob(spec(tmp_path, digits, "job-b", kind="ae", epochs=2, seed=1)).start()
    assert a.running and b.running
    assert a.wait(120) and b.wait(120)
    va, vb = a.view(), b.view()
    assert (va.phase, vb.phase) == ("done", "done"), (va.message, vb.message)
    assert [h["epoch"] for h in va.history] == [1, 2, 3, 4] and [h["epoch"] for h in vb.history] == [1, 2]
    assert all(h["train_kl"] > 0 for h in va.history) and all(h["train_kl"] == 0 for h in vb.history)
    names = {c["name"]: c for c in list_checkpoints(tmp_path)}
    assert set(names) == {"job-a", "job-b"}
    assert names["job-a"]["kind"] == "vae" and names["job-b"]["kind"] == "ae"
    assert names["job-a"]["history"] == va.history and names["job-b"]["history"] == vb.history
    assert names["job-a"]["train_config"]["seed"] == 0 and names["job-b"]["train_config"]["seed"] == 1
    assert va.card["path"] == str(tmp_path / "job-a") and va.progress == 1.0
    load_checkpoint(tmp_path / "job-a")  # the saved weights match the card


def test_snapshots_follow_training(tmp_path, digits):
    job = training.TrainingJob(spec(tmp_path, digits, "snap", epochs=2))
    assert job.view().snapshot is None and job.view().phase == "starting"
    job.start().wait(120)
    snap = job.view().snapshot
    assert snap.epoch == 2 and snap.xy.shape == (120, 2) and snap.dims == (0, 1)
    assert np.array_equal(snap.labels, digits.test_labels[:120])


def test_cancel_stops_early_and_saves_nothing(tmp_path, digits):
    owned = tmp_path / "data" / "upload.npz"
    owned.parent.mkdir()
    owned.write_bytes(b"x")
    job = training.TrainingJob(spec(tmp_path, digits, "cancelled", epochs=500, owned_files=(owned,))).start()
    assert wait_for(lambda: job.view().epoch >= 1)
    job.cancel()
    assert job.view().cancel_requested
    assert job.wait(60)
    view = job.view()
    assert view.phase == "cancelled" and view.card is None
    assert 1 <= view.epoch < 500 and "nothing was saved" in view.message
    assert list(tmp_path.glob("cancelled*")) == [] and not owned.exists()


def test_divergence_reports_the_message_and_saves_nothing(tmp_path, digits):
    broken = digits.train_images.copy()
    broken[0, 0, 0, 0] = np.nan  # a NaN pixel makes the first loss NaN
    nan_data = dataclasses.replace(digits, train_images=broken)
    job = training.TrainingJob(spec(tmp_path, nan_data, "diverges", kind="ae", epochs=3)).start()
    assert job.wait(60)
    view = job.view()
    assert view.phase == "diverged" and "diverged" in view.message and "nothing was saved" in view.message
    assert list(tmp_path.glob("diverges*")) == []


def test_a_failing_save_is_reported(tmp_path, digits):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the output folder should be")
    job = training.TrainingJob(spec(blocker, digits, "x", kind="pca")).start()
    assert job.wait(60)
    view = job.view()
    assert view.phase == "failed" and view.message.startswith("training failed:")


def test_job_board_limits_running_jobs_and_names(tmp_path, digits):
    board = training.JobBoard(max_running=1)
    first = training.TrainingJob(spec(tmp_path, digits, "one", epochs=500))
    assert board.submit(first) is None
    assert "being trained" in board.submit(training.TrainingJob(spec(tmp_path, digits, "one")))
    assert "limit is 1" in board.submit(training.TrainingJob(spec(tmp_path, digits, "two")))
    assert board.busy_names() == {"one"}
    first.cancel()
    assert first.wait(60) and board.running() == []


def test_check_name():
    shipped, trained = {"mnist-vae-2"}, {"mine"}
    assert training.check_name("my-model_2", shipped, trained) is None
    assert "letters, digits" in training.check_name("bad name!", shipped, trained)
    assert "letters, digits" in training.check_name("", shipped, trained)
    assert "shipped" in training.check_name("mnist-vae-2", shipped, trained)
    assert "taken by a model trained here" in training.check_name("mine", shipped, trained)
    assert "being trained" in training.check_name("busy", shipped, trained, busy={"busy"})
    assert training.unique_name("m", {"m", "m-2"}) == "m-3"


def test_run_spec_configs_validate_against_the_data(digits):
    model, train = RunSpec("vae", 2, likelihood="bernoulli", epochs=3, beta=4.0).configs(digits)
    assert model.image_shape == (1, 8, 8) and train.beta == 4.0 and train.epochs == 3
    with pytest.raises(ValueError, match="latent_dim=65 must be at most the number of pixels"):
        RunSpec("ae", 65, likelihood="bernoulli", epochs=3, beta=1.0).configs(digits)
    tiny = dataclasses.replace(digits, train_images=digits.train_images[:10], train_labels=digits.train_labels[:10])
    with pytest.raises(ValueError, match="larger than PCA allows"):
        RunSpec("pca", 20, likelihood="gaussian", epochs=1, beta=1.0).configs(tiny)
    with pytest.raises(ValueError, match="epochs=0"):
        RunSpec("vae", 2, likelihood="bernoulli", epochs=0, beta=1.0).configs(digits)


def test_load_upload_names_the_users_file():
    buffer = io.BytesIO()
    np.savez(buffer, images=np.random.default_rng(0).integers(0, 255, (20, 6, 5), dtype=np.uint8),
             labels=np.arange(20) % 2)
    ds = training.load_upload(buffer.getvalue(), "mine.npz")
    assert ds.image_shape == (1, 6, 5) and ds.name == "custom:mine.npz" and ds.labeled
    with pytest.raises(DatasetError, match=r"^mine\.npz: "):
        training.load_upload(b"not a numpy file", "mine.npz")


def test_new_job_keeps_an_upload_for_reloading_and_drops_it_when_refused(tmp_path, digits):
    buffer = io.BytesIO()
    np.savez(buffer, images=(digits.train_images[:60, 0] * 255).astype(np.uint8), labels=digits.train_labels[:60])
    data = training.load_upload(buffer.getvalue(), "few.npz")
    model, train = RunSpec("ae", 2, likelihood="bernoulli", epochs=1, beta=1.0).configs(data)
    job = training.new_job("own", tmp_path, data, model, train, upload=(buffer.getvalue(), "few.npz"))
    kept = tmp_path / "data" / "own.npz"
    assert kept.exists() and job.spec.dataset_card["path"] == str(kept) and job.spec.owned_files == (kept,)
    assert job.start().wait(60) and job.view().phase == "done", job.view().message
    card = job.view().card
    assert card["dataset"]["path"] == "data/own.npz" and card["dataset"]["name"] == "custom:few.npz"  # relative
    assert load_dataset(Card.of(card).dataset_key).image_shape == data.image_shape  # what loaders.data_for does
    refused = training.new_job("own-2", tmp_path, data, model, train, upload=(buffer.getvalue(), "few.npz"))
    refused.discard()
    assert not (tmp_path / "data" / "own-2.npz").exists() and kept.exists()
