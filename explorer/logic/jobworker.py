"""The training process: ``python -m explorer.logic.jobworker JOB_FOLDER``.

Started by ``explorer.logic.training.TrainingJob`` in a process of its own (never inside
the Streamlit server). It reads ``JOB_FOLDER/spec.json`` (what to train, on which data,
where to save), loads the data itself, runs ``core.pipeline.train_and_save`` and reports
through ``JOB_FOLDER/progress.jsonl``, one JSON object per line, flushed as written:

    {"event": "start", "pid": 1234}
    {"event": "begin"}                                    training started (snapshot 0 may follow)
    {"event": "snapshot", "epoch": E, "xy": [[x, y], ...], "labels": [...] | null, "dims": [i, j]}
    {"event": "epoch", "stats": {...EpochStats...}}
    {"event": "evaluating"}
    {"event": "done"} | {"event": "cancelled", "epochs": E}      done: the checkpoint (and its card) is saved
    {"event": "diverged", "message": "..."} | {"event": "failed", "message": "..."}

It stops after the current epoch, saving nothing, when ``JOB_FOLDER/cancel`` appears or the
process that started it is gone.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

import numpy as np
import torch

from core.data import Dataset, load_dataset
from core.losses import kl_per_dimension
from core.models import LatentModel, ModelConfig
from core.pipeline import train_and_save
from core.sizes import is_allocation_failure, out_of_memory_message
from core.train import EpochStats, TrainConfig, TrainingDiverged

SNAPSHOT_IMAGES = 600  # test images encoded for each latent-map snapshot


def _plain(value):
    """numpy scalars and arrays (and anything else) as JSON can hold them."""
    return value.tolist() if hasattr(value, "tolist") else str(value)


class Progress:
    """Appends one JSON line per event to the progress file."""

    def __init__(self, path: Path):
        self.file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - open for the process's life

    def write(self, **event) -> None:
        self.file.write(json.dumps(event, default=_plain) + "\n")
        self.file.flush()


def snapshot_subset(dataset: Dataset) -> tuple[torch.Tensor, np.ndarray | None]:
    """The same (up to) SNAPSHOT_IMAGES test images for every snapshot of a run."""
    n = len(dataset.test_images)
    idx = np.sort(np.random.default_rng(0).choice(n, min(n, SNAPSHOT_IMAGES), replace=False))
    labels = None if dataset.test_labels is None else np.asarray(dataset.test_labels)[idx]
    return torch.from_numpy(np.array(dataset.test_images[idx], dtype=np.float32)), labels


@torch.no_grad()
def latent_xy(model: LatentModel, images: torch.Tensor) -> tuple[np.ndarray, tuple[int, int]]:
    """Codes of ``images`` in the two dims worth drawing (the most used ones), and which dims."""
    posterior = model.encode(images.to(model.device))
    codes = posterior.mean.cpu().numpy()
    if codes.shape[1] == 1:
        return np.column_stack([codes[:, 0], np.zeros(len(codes))]), (0, 0)
    if posterior.logvar is not None and codes.shape[1] > 2:
        spread = kl_per_dimension(posterior.mean, posterior.logvar).mean(0).cpu().numpy()
    else:
        spread = codes.var(0)
    top = np.argsort(-spread, kind="stable")[:2] if codes.shape[1] > 2 else np.array([0, 1])
    dims = (int(top[0]), int(top[1]))
    return codes[:, list(dims)], dims


class Reporter:
    """The fit callback: progress lines, snapshots, and the stop signal."""

    def __init__(self, progress: Progress, dataset: Dataset, cancel_file: Path, parent_pid: int):
        self.progress, self.cancel_file, self.parent_pid = progress, cancel_file, parent_pid
        self.images, labels = snapshot_subset(dataset)
        self.labels = None if labels is None else labels.tolist()
        self.model: LatentModel | None = None

    def stop_requested(self) -> bool:
        return self.cancel_file.exists() or os.getppid() != self.parent_pid

    def on_train_begin(self, model: LatentModel) -> None:
        self.model = model
        self.progress.write(event="begin")
        self.snapshot(0)

    def on_epoch_end(self, stats: EpochStats) -> bool:
        self.snapshot(stats.epoch)
        self.progress.write(event="epoch", stats=stats.to_dict())
        if stats.epoch >= stats.epochs:
            self.progress.write(event="evaluating")  # fit ignores a stop after the last epoch
        return self.stop_requested()

    def snapshot(self, epoch: int) -> None:
        model = self.model
        if model is None or (model.config.kind == "pca" and epoch == 0):
            return  # PCA is fitted in closed form: nothing to draw before the fit
        was_training = model.training
        model.eval()
        try:
            xy, dims = latent_xy(model, self.images)
        finally:
            model.train(was_training)
        self.progress.write(event="snapshot", epoch=epoch, xy=np.round(xy, 4).tolist(), labels=self.labels,
                            dims=list(dims))


def configs(spec: dict) -> tuple[ModelConfig, TrainConfig]:
    model = dict(spec["model_config"])
    for key in ("image_shape", "hidden"):
        if isinstance(model.get(key), list):
            model[key] = tuple(model[key])
    return ModelConfig.from_dict(model), TrainConfig.from_dict(spec["train_config"])


# Training yields the cores to the pages: with a class on one server, a student's slider must
# not wait behind someone's epoch (bench/bench_start.py's load step measures it).
TRAINING_NICENESS = 10


def run(folder: Path) -> int:
    spec = json.loads((folder / "spec.json").read_text())
    if hasattr(os, "nice"):  # POSIX; elsewhere the process keeps the server's priority
        os.nice(TRAINING_NICENESS)
    torch.set_num_threads(int(spec.get("threads", 1)))
    progress = Progress(folder / "progress.jsonl")
    progress.write(event="start", pid=os.getpid())
    try:
        data = spec["data"]
        dataset = load_dataset(data["key"], data.get("data_root"), download=data.get("download", True),
                               image_size=tuple(data["image_size"]) if data.get("image_size") else None,
                               grayscale=data.get("grayscale", True))
        model_config, train_config = configs(spec)
        extra = dict(spec["extra_card"])
        if spec.get("dataset_card") is not None:
            extra["dataset"] = {**dataset.describe(), **spec["dataset_card"]}
        reporter = Reporter(progress, dataset, folder / "cancel", int(spec["parent_pid"]))
        trained = train_and_save(
            dataset, model_config, train_config, spec["out"], callbacks=[reporter], command=spec.get("command"),
            iwae_k=100 if model_config.kind == "vae" else 0, eval_images=spec.get("eval_images"), extra_card=extra)
        if trained.card is None:
            progress.write(event="cancelled", epochs=len(trained.result.history))
        else:
            progress.write(event="done")
    except TrainingDiverged as err:
        progress.write(event="diverged", message=str(err))
    except Exception as err:  # noqa: BLE001 - reported to the page; the traceback goes to the job's log
        traceback.print_exc()
        message = (out_of_memory_message("the training") if is_allocation_failure(err)
                   else f"training failed: {type(err).__name__}: {err}")
        progress.write(event="failed", message=message)
    return 0


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1])))
