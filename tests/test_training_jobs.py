"""explorer.logic.training and jobqueue: jobs train in processes of their own, through a bounded
queue; they cancel (stopping the process), diverge and fail cleanly, and never touch another
job's files."""

import io
import os
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
from explorer.logic.jobqueue import JobQueue

pytestmark = pytest.mark.timeout(300)


def spec(out_dir, dataset, name, kind="vae", epochs=3, seed=0, lr=1e-3, likelihood=None, **kwargs) -> training.JobSpec:
    """A small job on ``dataset`` (the process loads it again by name: digits here)."""
    likelihood = likelihood or ("gaussian" if kind in ("pca", "linear-ae") else "bernoulli")
    model = ModelConfig(kind=kind, image_shape=dataset.image_shape, latent_dim=2, hidden=(32,), likelihood=likelihood)
    return training.JobSpec(name, out_dir, dataset, model, TrainConfig(epochs=epochs, batch_size=64, lr=lr, seed=seed),
                            eval_images=50, **kwargs)


def wait_for(predicate, timeout=120.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def npz_bytes(images, labels=None) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, images=images, **({} if labels is None else {"labels": labels}))
    return buffer.getvalue()


def test_two_jobs_train_in_their_own_processes_and_keep_their_own_history(tmp_path, digits):
    a = training.TrainingJob(spec(tmp_path, digits, "job-a", kind="vae", epochs=3, seed=0)).start()
    b = training.TrainingJob(spec(tmp_path, digits, "job-b", kind="ae", epochs=2, seed=1)).start()
    assert a.pid and b.pid and len({a.pid, b.pid, os.getpid()}) == 3  # two processes, neither is this one
    assert a.wait(240) and b.wait(240)
    va, vb = a.view(), b.view()
    assert (va.phase, vb.phase) == ("done", "done"), (va.message, vb.message)
    assert [h["epoch"] for h in va.history] == [1, 2, 3] and [h["epoch"] for h in vb.history] == [1, 2]
    assert all(h["train_kl"] > 0 for h in va.history) and all(h["train_kl"] == 0 for h in vb.history)
    names = {c["name"]: c for c in list_checkpoints(tmp_path)}
    assert set(names) == {"job-a", "job-b"}
    assert names["job-a"]["history"] == va.history and names["job-b"]["history"] == vb.history
    assert names["job-a"]["train_config"]["seed"] == 0 and names["job-a"]["trained_in_app"] is True
    assert va.card["path"] == str(tmp_path / "job-a") and va.progress == 1.0
    assert va.card.origin == "trained" and va.card.to_dict() == names["job-a"].to_dict()  # the card as saved
    snap = va.snapshot
    assert snap.epoch == 3 and snap.xy.shape == (len(digits.test_images), 2) and snap.dims == (0, 1)
    assert np.array_equal(np.sort(np.unique(snap.labels)), np.arange(10))
    load_checkpoint(tmp_path / "job-a")  # the saved weights match the card
    assert not (tmp_path / ".jobs" / a.spec.job_id).exists()  # the job's folder is gone once it is read
    assert not alive(a.pid) and not alive(b.pid)


def test_cancel_stops_the_process_and_saves_nothing(tmp_path, digits):
    upload = npz_bytes((digits.train_images[:80, 0] * 255).astype(np.uint8), digits.train_labels[:80])
    data = training.load_upload(upload, "few.npz")
    model, train = RunSpec("vae", 2, likelihood="bernoulli", epochs=5000, beta=1.0).configs(data)
    job = training.new_job("cancelled", tmp_path, data, model, train, upload=(upload, "few.npz")).start()
    kept = job.spec.upload_path
    assert kept.exists() and kept.name.startswith("cancelled-")
    assert wait_for(lambda: job.view().epoch >= 1)
    pid = job.pid
    assert alive(pid)
    if hasattr(os, "getpriority"):  # training runs below the server's priority, so pages answer first
        assert os.getpriority(os.PRIO_PROCESS, pid) >= min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10)
    job.cancel()
    assert job.view().cancel_requested
    assert job.wait(60)
    view = job.view()
    assert view.phase == "cancelled" and view.card is None and "nothing was saved" in view.message
    assert 1 <= view.epoch < 5000
    assert not alive(pid), "the cancelled job's process is still running"
    assert list(tmp_path.glob("cancelled*")) == [] and not kept.exists()


def test_divergence_reports_the_message_and_saves_nothing(tmp_path, digits):
    job = training.TrainingJob(spec(tmp_path, digits, "diverges", kind="vae", lr=1.0, likelihood="gaussian")).start()
    assert job.wait(120)
    view = job.view()
    assert view.phase == "diverged" and "diverged" in view.message and "nothing was saved" in view.message
    assert list(tmp_path.glob("diverges*")) == []


def test_a_failing_save_is_reported(tmp_path, digits):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the output folder should be")
    job = training.TrainingJob(spec(blocker, digits, "x", kind="pca", work_root=tmp_path / "jobs")).start()
    assert job.wait(120)
    view = job.view()
    assert view.phase == "failed" and view.message.startswith("training failed:")


def test_a_job_never_starts_over_an_existing_checkpoint(tmp_path, digits):
    (tmp_path / "taken.json").write_text("{}")
    job = training.TrainingJob(spec(tmp_path, digits, "taken")).start()
    assert job.wait(10) and job.view().phase == "failed" and "exists now" in job.view().message
    assert job.pid is None and (tmp_path / "taken.json").read_text() == "{}"


def test_queue_limits_workers_sessions_and_waiting_jobs(tmp_path, digits):
    queue = JobQueue(workers=1, max_waiting=2, per_client=2, tick_s=0.1)
    try:
        a1 = training.TrainingJob(spec(tmp_path, digits, "a1", epochs=5000, owner="alice", client="alice"))
        a2 = training.TrainingJob(spec(tmp_path, digits, "a2", epochs=1, owner="alice", client="alice"))
        b1 = training.TrainingJob(spec(tmp_path, digits, "b1", epochs=1, owner="bob", client="bob"))
        assert queue.submit(a1) is None and a1.started and a1.view().phase != "queued"
        assert queue.submit(b1) is None and not b1.started
        assert b1.view().phase == "queued" and b1.view().position == 1
        assert queue.submit(a2) is None and a2.view().position == 2
        refused = queue.submit(training.TrainingJob(spec(tmp_path, digits, "a3", owner="alice", client="alice")))
        assert "one visitor may have 2 at once" in refused
        refused = queue.submit(training.TrainingJob(spec(tmp_path, digits, "c1", owner="carol", client="carol")))
        assert "2 jobs are waiting" in refused
        assert queue.busy_names("alice") == {"a1", "a2"} and queue.busy_names() == {"a1", "a2", "b1"}
        a1.cancel()
        assert wait_for(lambda: b1.started, 60), "the next job did not start when the worker was free"
        # alice's next job waits behind bob's (renumbered by the queue's tick that started b1)
        assert wait_for(lambda: a2.view().position == 1, 10), a2.view().position
        assert b1.wait(120) and b1.view().phase == "done", b1.view().message
        assert a2.wait(120) and a2.view().phase == "done", a2.view().message
        assert a1.view().phase == "cancelled" and queue.running() == [] and queue.waiting() == []
    finally:
        queue.shutdown()


def test_a_refused_duplicate_name_deletes_nothing_of_the_running_job(tmp_path, digits):
    upload = npz_bytes((digits.train_images[:80, 0] * 255).astype(np.uint8), digits.train_labels[:80])
    data = training.load_upload(upload, "few.npz")
    model, train = RunSpec("ae", 2, likelihood="bernoulli", epochs=5000, beta=1.0).configs(data)
    queue = JobQueue(workers=1, per_client=3, tick_s=0.1)
    try:
        first = training.new_job("same", tmp_path, data, model, train, upload=(upload, "few.npz"), owner="s")
        assert queue.submit(first) is None
        kept = first.spec.upload_path
        assert wait_for(lambda: first.view().epoch >= 1)
        before = sorted(p.name for p in tmp_path.rglob("*"))
        twin = training.new_job("same", tmp_path, data, model, train, upload=(upload, "few.npz"), owner="s")
        refused = queue.submit(twin)
        assert "is being trained right now" in refused
        twin.discard()
        assert kept.exists() and first.running, "the refused twin touched the running job"
        assert sorted(p.name for p in tmp_path.rglob("*") if p.name != "progress.jsonl") == [
            n for n in before if n != "progress.jsonl"]
        assert not twin.spec.upload_path.exists() and twin.spec.upload_path != kept
    finally:
        queue.shutdown()
    assert not alive(first.pid)


def test_check_name():
    shipped, trained = {"mnist-vae-2"}, {"mine"}
    assert training.check_name("my-model_2", shipped, trained) is None
    assert "letters, digits" in training.check_name("bad name!", shipped, trained)
    assert "letters, digits" in training.check_name("", shipped, trained)
    assert "letters, digits" in training.check_name("../../etc/x", shipped, trained)
    assert "shipped" in training.check_name("mnist-vae-2", shipped, trained)
    assert "taken by a model trained here" in training.check_name("mine", shipped, trained)
    assert "being trained" in training.check_name("busy", shipped, trained, busy={"busy"})
    assert training.unique_name("m", {"m", "m-2"}) == "m-3"


def test_run_spec_configs_validate_against_the_data(digits):
    model, train = RunSpec("vae", 2, likelihood="bernoulli", epochs=3, beta=4.0).configs(digits)
    assert model.image_shape == (1, 8, 8) and train.beta == 4.0 and train.epochs == 3
    with pytest.raises(ValueError, match="latent_dim=65 must be at most the number of pixels"):
        RunSpec("ae", 65, likelihood="bernoulli", epochs=3, beta=1.0).configs(digits)
    with pytest.raises(ValueError, match="epochs=0"):
        RunSpec("vae", 2, likelihood="bernoulli", epochs=0, beta=1.0).configs(digits)


def test_load_upload_names_the_users_file():
    data = npz_bytes(np.random.default_rng(0).integers(0, 255, (20, 6, 5), dtype=np.uint8), np.arange(20) % 2)
    ds = training.load_upload(data, "mine.npz")
    assert ds.image_shape == (1, 6, 5) and ds.name == "custom:mine.npz" and ds.labeled
    with pytest.raises(DatasetError, match=r"^mine\.npz: "):
        training.load_upload(b"not a numpy file", "mine.npz")


def test_new_job_keeps_an_upload_only_once_accepted_and_can_reload_it(tmp_path, digits):
    upload = npz_bytes((digits.train_images[:60, 0] * 255).astype(np.uint8), digits.train_labels[:60])
    data = training.load_upload(upload, "few.npz")
    model, train = RunSpec("ae", 2, likelihood="bernoulli", epochs=1, beta=1.0).configs(data)
    job = training.new_job("own", tmp_path, data, model, train, upload=(upload, "few.npz"))
    kept = job.spec.upload_path
    assert not kept.exists() and list(tmp_path.iterdir()) == []  # nothing written before a queue accepts it
    assert job.spec.dataset_card["path"] == str(kept) and job.spec.owned_files == (kept,)
    assert job.start().wait(120) and job.view().phase == "done", job.view().message
    card = job.view().card
    assert kept.exists() and card["dataset"]["name"] == "custom:few.npz"
    assert not card["dataset"]["path"].startswith("/")  # stored relative to the checkpoint's folder
    assert load_dataset(Card.from_dict(card, path=str(job.spec.out)).dataset_key).image_shape == data.image_shape
    refused = training.new_job("own-2", tmp_path, data, model, train, upload=(upload, "few.npz"))
    refused.discard()
    assert not refused.spec.upload_path.exists() and kept.exists()
