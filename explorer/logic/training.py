"""Background training jobs for the Train page: one thread per job, cancellable, observable.

A TrainingJob lives in one user's ``st.session_state``. Its thread runs
``core.pipeline.train_and_save``; the fit callbacks (``on_train_begin``, ``on_epoch_end``)
write progress, the loss history and a latent-map snapshot under the job's lock, and the
page reads a consistent copy with ``job.view()`` while it polls. Nothing here imports
Streamlit, so jobs can be run and tested without a browser:

    job = TrainingJob(spec).start()
    job.wait()
    job.view().phase   # "done", "cancelled", "diverged" or "failed"

Cancelling sets a threading.Event that the callback checks after each epoch; fit then stops
and train_and_save saves nothing. A diverging run (NaN loss) saves nothing either. Files the
job was handed to own (the saved copy of an uploaded dataset) are deleted unless a
checkpoint was written.

The job's arrays are its own copies, so no two jobs (or sessions) share mutable state.
Torch's global random generator is shared by the process, though: two jobs training at the
same time draw from it in turn, so each result is valid but not bit-for-bit reproducible.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from core.data import Dataset, DatasetError, load_dataset
from core.losses import kl_per_dimension
from core.models import LatentModel, ModelConfig
from core.pipeline import train_and_save
from core.runspec import RunSpec
from core.train import EpochStats, TrainConfig, TrainingDiverged

log = logging.getLogger(__name__)

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
PHASES = ("starting", "training", "evaluating", "done", "cancelled", "diverged", "failed")
FINISHED = ("done", "cancelled", "diverged", "failed")
SNAPSHOT_IMAGES = 600  # test images encoded for each latent-map snapshot


def check_name(name: str, shipped: set[str], trained: set[str], busy: set[str] = frozenset()) -> str | None:
    """Why ``name`` cannot name a new checkpoint, or None if it can.

    Existing names are refused, the app's own included: models are cached by path, so a
    checkpoint replaced under the same name would keep showing the old one.
    """
    if not NAME_PATTERN.match(name or ""):
        return (f"name={name!r} must be 1-64 characters: letters, digits, '-' and '_', "
                "starting with a letter or digit")
    if name in shipped:
        return f"name={name!r} is a shipped checkpoint; pick another name"
    if name in busy:
        return f"name={name!r} is being trained right now (maybe in another tab); pick another name"
    if name in trained:
        return f"name={name!r} is taken by a model trained here; pick another name"
    return None


def unique_name(base: str, taken: set[str]) -> str:
    """``base``, or ``base-2``, ``base-3`` ... the first one not in ``taken``."""
    if base not in taken:
        return base
    k = 2
    while f"{base}-{k}" in taken:
        k += 1
    return f"{base}-{k}"


def load_upload(data: bytes, filename: str, image_size: tuple[int, int] | None = None,
                grayscale: bool = True) -> Dataset:
    """An uploaded .npz / .npy as a Dataset (raises core.data.DatasetError with the reason)."""
    suffix = Path(filename).suffix.lower()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / (Path(filename).name if suffix in (".npz", ".npy") else "upload.npz")
        path.write_bytes(data)
        try:
            return load_dataset(path, image_size=image_size, grayscale=grayscale)
        except DatasetError as err:  # name the user's file, not the temporary copy
            raise DatasetError(str(err).replace(str(path), Path(filename).name)) from None


def save_upload(data: bytes, folder: Path, name: str, suffix: str = ".npz") -> Path:
    """Keep an uploaded dataset next to the checkpoints (``folder/data/NAME.npz``), atomically."""
    target = folder / "data" / f"{name}{suffix}"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(target)
    return target


def new_job(name: str, out_dir: Path, dataset: Dataset, model_config: ModelConfig, train_config: TrainConfig, *,
            upload: tuple[bytes, str] | None = None, folder: str | Path | None = None,
            image_size: tuple[int, int] | None = None, title: str | None = None) -> "TrainingJob":
    """A job for the Train page's choices (not started).

    Own data gets its path (and size, when resized) in the card, so loaders.data_for can load
    it again: an uploaded file (``(bytes, filename)``) is kept as ``out_dir/data/NAME.npz``
    (deleted again if nothing is saved), an image folder is referred to where it is.
    """
    dataset_card, owned = None, ()
    size = list(image_size) if image_size else None
    if upload is not None:
        data, filename = upload
        saved = save_upload(data, Path(out_dir), name, Path(filename).suffix.lower() or ".npz")
        dataset_card = {"path": str(saved), "image_size": size, "source": f"uploaded {filename}, kept as {saved}"}
        owned = (saved,)
    elif folder is not None:
        dataset_card = {"path": str(Path(folder).expanduser().resolve()), "image_size": size}
    title = title or f"{model_config.kind}, {model_config.latent_dim}-D on {dataset.name} (trained here)"
    return TrainingJob(JobSpec(name, Path(out_dir), dataset, model_config, train_config, dataset_card, title, owned))


@dataclass
class JobSpec:
    name: str  # checkpoint name, already checked with check_name
    out_dir: Path  # the checkpoint goes to out_dir / name (.safetensors + .json)
    dataset: Dataset
    model_config: ModelConfig
    train_config: TrainConfig
    dataset_card: dict | None = None  # replaces card["dataset"] (own data: with "path" and "image_size")
    title: str | None = None  # card["title"]
    owned_files: tuple[Path, ...] = ()  # deleted unless a checkpoint is saved
    eval_images: int | None = 2000  # test images every metric (the -log p(x) estimate included) is measured on

    @property
    def out(self) -> Path:
        return Path(self.out_dir) / self.name

    def card_fields(self) -> dict:
        """The card fields known before training (kind, model_config, beta, train_config)."""
        return {"kind": self.model_config.kind, "model_config": self.model_config.to_dict(),
                "beta": self.train_config.beta, "train_config": self.train_config.to_dict()}


@dataclass(frozen=True)
class Snapshot:
    epoch: int
    xy: np.ndarray  # (N, 2) codes of the snapshot images in the two drawn dims
    labels: np.ndarray | None  # (N,)
    dims: tuple[int, int]  # which latent dims xy shows


@dataclass(frozen=True)
class JobView:
    """A consistent copy of a job's state, for drawing."""

    name: str
    phase: str  # one of PHASES
    epoch: int  # epochs finished
    epochs: int  # epochs planned
    history: list[dict]  # EpochStats dicts, one per finished epoch
    snapshot: Snapshot | None
    message: str | None  # what went wrong (diverged / failed), or a note
    card: dict | None  # the saved card when phase == "done"
    seconds: float  # since the job started
    cancel_requested: bool

    @property
    def finished(self) -> bool:
        return self.phase in FINISHED

    @property
    def progress(self) -> float:
        if self.phase in ("evaluating", "done"):
            return 1.0
        return self.epoch / max(1, self.epochs)


class TrainingJob:
    """One training run in a daemon thread; see the module docstring."""

    def __init__(self, spec: JobSpec):
        self.spec = spec
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._finished = threading.Event()
        self._thread: threading.Thread | None = None
        self._model = None
        self._snapshot_x, self._snapshot_labels = self._snapshot_subset(spec.dataset)
        self._phase = "starting"
        self._epoch = 0
        self._epochs = 1 if spec.model_config.kind == "pca" else spec.train_config.epochs  # PCA: closed form
        self._history: list[dict] = []
        self._snapshot: Snapshot | None = None
        self._message: str | None = None
        self._card: dict | None = None
        self._started = time.monotonic()
        self._ended: float | None = None

    # ------------------------------------------------------------------ control

    def start(self) -> "TrainingJob":
        if self._thread is not None:
            raise RuntimeError("the job was already started")
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"train-{self.spec.name}", daemon=True)
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the job to stop after the current epoch; nothing will be saved."""
        self._cancel.set()

    def discard(self) -> None:
        """Delete the files this job owns (for a job that will never run, e.g. refused by a JobBoard)."""
        if self._thread is None:
            for path in self.spec.owned_files:
                Path(path).unlink(missing_ok=True)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job has finished (True) or ``timeout`` seconds passed (False)."""
        return self._finished.wait(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and not self._finished.is_set()

    def view(self) -> JobView:
        with self._lock:
            end = self._ended if self._ended is not None else time.monotonic()
            return JobView(
                self.spec.name, self._phase, self._epoch, self._epochs, list(self._history), self._snapshot,
                self._message, self._card, end - self._started, self._cancel.is_set(),
            )

    # ------------------------------------------------------------------ fit callbacks (training thread)

    def on_train_begin(self, model: LatentModel) -> None:
        self._model = model
        self._take_snapshot(0)
        with self._lock:
            self._phase = "training"

    def on_epoch_end(self, stats: EpochStats) -> bool:
        self._take_snapshot(stats.epoch)
        with self._lock:
            self._epoch = stats.epoch
            self._history.append(stats.to_dict())
            if stats.epoch >= stats.epochs:
                self._phase = "evaluating"  # fit ignores a cancel after the last epoch
        return self._cancel.is_set()

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _snapshot_subset(dataset: Dataset) -> tuple[torch.Tensor, np.ndarray | None]:
        n = len(dataset.test_images)
        idx = np.sort(np.random.default_rng(0).choice(n, min(n, SNAPSHOT_IMAGES), replace=False))
        labels = None if dataset.test_labels is None else np.asarray(dataset.test_labels)[idx]
        return torch.from_numpy(np.array(dataset.test_images[idx], dtype=np.float32)), labels

    @torch.no_grad()
    def _take_snapshot(self, epoch: int) -> None:
        model = self._model
        if model is None:
            return
        was_training = model.training
        model.eval()
        try:
            if model.config.kind == "pca" and epoch == 0:
                return  # fitted in closed form: nothing to draw before the fit
            posterior = model.encode(self._snapshot_x.to(model.device))
            codes = posterior.mean.cpu().numpy()
            if codes.shape[1] == 1:
                xy, dims = np.column_stack([codes[:, 0], np.zeros(len(codes))]), (0, 0)
            else:
                if posterior.logvar is not None and codes.shape[1] > 2:
                    spread = kl_per_dimension(posterior.mean, posterior.logvar).mean(0).cpu().numpy()
                else:
                    spread = codes.var(0)
                top = np.argsort(-spread, kind="stable")[:2] if codes.shape[1] > 2 else np.array([0, 1])
                dims = (int(top[0]), int(top[1]))
                xy = codes[:, list(dims)]
            with self._lock:
                self._snapshot = Snapshot(epoch, xy, self._snapshot_labels, dims)
        finally:
            model.train(was_training)

    def _run(self) -> None:
        spec = self.spec
        saved = False
        try:
            dataset = _own_copy(spec.dataset)
            extra = {"title": spec.title or spec.name, "trained_in_app": True}
            if spec.dataset_card is not None:
                extra["dataset"] = {**dataset.describe(), **spec.dataset_card}
            trained = train_and_save(
                dataset, spec.model_config, spec.train_config, spec.out, callbacks=[self],
                command=cli_command(spec), iwae_k=100 if spec.model_config.kind == "vae" else 0,
                eval_images=spec.eval_images, extra_card=extra,
            )
            with self._lock:
                if trained.card is None:
                    self._phase = "cancelled"
                    self._message = f"Cancelled after {len(trained.result.history)} epochs; nothing was saved."
                else:
                    saved = True
                    self._card = {**trained.card, "path": str(spec.out), "origin": "trained"}
                    self._phase = "done"
        except TrainingDiverged as err:
            with self._lock:
                self._phase, self._message = "diverged", str(err)
        except Exception as err:  # noqa: BLE001 - shown to the user, logged with the traceback
            log.error("training job %s failed:\n%s", spec.name, traceback.format_exc())
            with self._lock:
                self._phase, self._message = "failed", f"training failed: {type(err).__name__}: {err}"
        finally:
            if not saved:
                for path in spec.owned_files:
                    Path(path).unlink(missing_ok=True)
            self._model = None
            with self._lock:
                self._ended = time.monotonic()
            self._finished.set()


def _own_copy(dataset: Dataset) -> Dataset:
    """The dataset with writable arrays of its own (cached datasets are shared and read-only)."""
    copy = lambda a: None if a is None else np.array(a)  # noqa: E731
    return dataclasses.replace(dataset, train_images=copy(dataset.train_images), test_images=copy(dataset.test_images),
                               train_labels=copy(dataset.train_labels), test_labels=copy(dataset.test_labels))


def cli_command(spec: JobSpec) -> str:
    """The command line that trains the same model with ``python -m core train``."""
    data = (spec.dataset_card or {}).get("path") or spec.dataset.name
    run = RunSpec.from_configs(spec.model_config, spec.train_config)
    return run.train_command(data, spec.out, (spec.dataset_card or {}).get("image_size"),
                             rgb=spec.model_config.image_shape[0] == 3)


@dataclass
class JobBoard:
    """The jobs running in this server process (the page holds one with st.cache_resource),
    so a shared machine is not swamped and two tabs cannot train under the same name."""

    max_running: int = 2
    _jobs: list[TrainingJob] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def running(self) -> list[TrainingJob]:
        with self._lock:
            self._jobs = [j for j in self._jobs if j.running]
            return list(self._jobs)

    def busy_names(self) -> set[str]:
        return {j.spec.name for j in self.running()}

    def submit(self, job: TrainingJob) -> str | None:
        """Start ``job``, or say why not (the server is busy, or its name is in use)."""
        with self._lock:
            self._jobs = [j for j in self._jobs if j.running]
            if any(j.spec.name == job.spec.name for j in self._jobs):
                return f"a model named {job.spec.name!r} is being trained right now; pick another name"
            if len(self._jobs) >= self.max_running:
                return (f"{len(self._jobs)} models are training on this server right now (the limit is "
                        f"{self.max_running}); try again when one has finished")
            self._jobs.append(job.start())
        return None
