"""Training jobs for the Train page: each in a process of its own, cancellable, observable.

A TrainingJob is made in one user's session and handed to a ``jobqueue.JobQueue``, which
starts it when a worker is free. Starting it writes ``FOLDER/spec.json`` (FOLDER: the
job's own folder in the session's workspace) and runs ``python -m explorer.logic.jobworker
FOLDER`` as a separate process (``subprocess``; the Streamlit server never trains). The
process reports through ``FOLDER/progress.jsonl``; ``job.view()`` reads what is new and
returns a consistent copy for drawing. Nothing here imports Streamlit:

    job = TrainingJob(spec).start()
    job.wait()
    job.view().phase   # "done", "cancelled", "diverged" or "failed"

Cancelling writes ``FOLDER/cancel`` (the process stops after the epoch, saving nothing)
and, if the process is still there ``CANCEL_GRACE_S`` later, kills it. Files the job owns
(its copy of an uploaded dataset, a half-written checkpoint) are deleted unless a
checkpoint was saved, and only those: its upload has a name no other job uses
(``NAME-<job id>.npz``), and it never starts over a checkpoint that exists.
"""

from __future__ import annotations

import ctypes
import dataclasses
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from core.card import Card
from core.checkpoints import CheckpointError, checkpoint_paths, read_card
from core.data import Dataset, DatasetError, load_dataset
from core.models import ModelConfig
from core.train import TrainConfig
from explorer.logic import plaintext
from explorer.logic.jobspec import (  # noqa: F401 - the job's parts, re-exported for callers
    FINISHED, PHASES, DataRef, JobSpec, JobView, Snapshot, cli_command, write_atomically,
)

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
CANCEL_GRACE_S = 5.0  # a cancelled process still running this long after is killed


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


_PARSING_UPLOAD = threading.Lock()  # one upload parsed at a time per server process


def _return_freed_memory() -> None:
    """Hand the heap's freed pages back to the system (glibc keeps them for reuse otherwise,
    so a server that parsed three uploads at once would hold their peak for good)."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (AttributeError, OSError):  # not glibc: nothing to do
        pass


def load_upload(data: bytes, filename: str, image_size: tuple[int, int] | None = None,
                grayscale: bool = True) -> Dataset:
    """An uploaded .npz / .npy as a Dataset (raises core.data.DatasetError with the reason).

    The browser's file name is only shown, as ``plaintext.file_name`` makes it; whatever it
    holds (a NUL byte, 300 characters, Markdown), the copy on disk has a name of our own.
    Uploads are parsed one at a time (visitors uploading together wait in turn instead of
    adding their peaks), and the memory of the parse is returned to the system after it."""
    shown = plaintext.file_name(filename)
    suffix = ".npy" if shown.lower().endswith(".npy") else ".npz"
    with _PARSING_UPLOAD, tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            loaded = load_dataset(path, image_size=image_size, grayscale=grayscale)
        except DatasetError as err:  # name the user's file, not the temporary copy
            raise DatasetError(str(err).replace(str(path), shown)) from None
        finally:
            _return_freed_memory()
    return dataclasses.replace(loaded, name=f"custom:{shown}", source=loaded.source.replace(path.name, shown))


def new_job(name: str, out_dir: Path, dataset: Dataset, model_config: ModelConfig, train_config: TrainConfig, *,
            upload: tuple[bytes, str] | None = None, folder: str | Path | None = None,
            image_size: tuple[int, int] | None = None, grayscale: bool = True, data_root: str | None = None,
            title: str | None = None, **spec_fields) -> "TrainingJob":
    """A job for the Train page's choices (not started, nothing written yet).

    Own data gets its path (and size, when resized) in the card, so loaders.data_for can load
    it again: an uploaded file (``(bytes, filename)``) will be kept as ``out_dir/data/NAME-<job
    id>.npz`` once a queue accepts the job (and deleted if nothing is saved); an image folder
    (already resolved and checked by the caller) is referred to where it is.
    """
    size = tuple(int(s) for s in image_size) if image_size else None
    title = title or f"{model_config.kind}, {model_config.latent_dim}-D on {dataset.name} (trained here)"
    spec = JobSpec(name, Path(out_dir), dataset, model_config, train_config, title=title, upload=upload, **spec_fields)
    if upload is not None:
        path = str(spec.upload_path)
        spec.dataset_card = {"name": dataset.name, "path": path, "image_size": list(size) if size else None,
                             "source": f"uploaded {plaintext.file_name(upload[1])}"}
        spec.data = DataRef(path, size, grayscale)
    elif folder is not None:
        path = os.path.realpath(folder)
        spec.dataset_card = {"path": path, "image_size": list(size) if size else None}
        spec.data = DataRef(path, size, grayscale)
    else:
        spec.data = DataRef(dataset.name, size, grayscale, data_root)
    return TrainingJob(spec)


class TrainingJob:
    """One training run in a process of its own; see the module docstring."""

    def __init__(self, spec: JobSpec):
        self.spec = spec
        self._lock = threading.RLock()
        self._proc: subprocess.Popen | None = None
        self._log = None
        self._prepared = False
        self._offset = 0  # bytes of progress.jsonl read so far
        self._phase = "queued"
        self._epoch = 0
        self._epochs = 1 if spec.model_config.kind == "pca" else spec.train_config.epochs  # PCA: closed form
        self._history: list[dict] = []
        self._snapshot: Snapshot | None = None
        self._message: str | None = None
        self._card: Card | None = None
        self._pid: int | None = None
        self._started: float | None = None
        self._ended: float | None = None
        self._cancel_at: float | None = None
        self._stop_reason: tuple[str, str] | None = None  # (phase, message) when the server stopped it
        self.position: int | None = None  # set by the queue while the job waits

    # ------------------------------------------------------------------ control

    def prepare(self) -> None:
        """Write the job's folder and its copy of the upload (once the job is accepted)."""
        with self._lock:
            if self._prepared:
                return
            self.spec.folder.mkdir(parents=True, exist_ok=True)
            if self.spec.upload is not None:
                write_atomically(self.spec.upload_path, self.spec.upload[0])
            self._prepared = True

    def start(self) -> "TrainingJob":
        """Start the training process (the queue calls this when a worker is free)."""
        with self._lock:
            if self._proc is not None or self._started is not None:
                raise RuntimeError("the job was already started")
            if self.finished:
                return self
            self._started = time.monotonic()
            self.prepare()
            if any(p.exists() for p in checkpoint_paths(self.spec.out)):
                self._finish("failed", f"a checkpoint named {self.spec.name!r} exists now; pick another name")
                return self
            folder = self.spec.folder
            (folder / "spec.json").write_text(json.dumps(self.spec.process_spec()))
            self._log = open(folder / "log.txt", "wb")  # noqa: SIM115 - closed in _finish
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "explorer.logic.jobworker", str(folder)], cwd=REPO_ROOT, env=env,
                stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
            self._pid = self._proc.pid
            (folder / "pid").write_text(str(self._pid))
            self._phase = "starting"
        return self

    def cancel(self, reason: str | None = None, phase: str = "cancelled") -> None:
        """Stop the job: a waiting one never starts; a running one's process stops, saving nothing.

        ``reason``: the server stops it (a limit, its session gone); the job ends in ``phase``
        with that message instead of the user's "Cancelled ..."."""
        with self._lock:
            if self.finished or self._cancel_at is not None:
                return
            self._cancel_at = time.monotonic()
            if reason is not None:
                self._stop_reason = (phase, reason)
            if self._proc is None:
                self._finish(*(self._stop_reason or ("cancelled", "Cancelled before it started; nothing was saved.")))
            else:
                (self.spec.folder / "cancel").touch()

    def terminate(self) -> None:
        """Cancel and stop its process now, without the grace (the server is stopping)."""
        with self._lock:
            if self.finished:
                return
            self._cancel_at = time.monotonic() - CANCEL_GRACE_S - 1
            if self._proc is None:
                self._finish("cancelled", "Cancelled before it started; nothing was saved.")
            self.poll()

    def fail(self, message: str) -> None:
        """End a job that could not run (e.g. its process could not be started)."""
        with self._lock:
            if not self.finished:
                self._finish("failed", message)

    def discard(self) -> None:
        """Delete what a job that will never run wrote (nothing, unless it was prepared)."""
        with self._lock:
            if self._proc is None and not self.finished:
                self._finish("cancelled", "Not started; nothing was saved.")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job has finished (True) or ``timeout`` seconds passed (False)."""
        end = None if timeout is None else time.monotonic() + timeout
        while not self.poll():
            if end is not None and time.monotonic() > end:
                return False
            time.sleep(0.05)
        return True

    @property
    def finished(self) -> bool:
        return self._phase in FINISHED

    @property
    def started(self) -> bool:
        return self._started is not None

    @property
    def running(self) -> bool:
        """Its process was started and the job has not finished."""
        return self.started and not self.poll()

    @property
    def active(self) -> bool:
        """Waiting or running."""
        return not self.poll()

    @property
    def pid(self) -> int | None:
        return self._pid

    def view(self) -> JobView:
        with self._lock:
            self.poll()
            return JobView(
                self.spec.name, self._phase, self._epoch, self._epochs, list(self._history), self._snapshot,
                self._message, self._card, self.running_seconds, self._cancel_at is not None,
                self.position if self._phase == "queued" else None, self._pid,
            )

    # ------------------------------------------------------------------ the process

    def poll(self) -> bool:
        """Read what the process reported; notice its end; kill it after a cancel's grace. Finished?"""
        with self._lock:
            if self.finished or self._proc is None:
                return self.finished
            self._read_progress()
            if self.finished:
                return True
            code = self._proc.poll()
            if code is not None:
                self._read_progress()
                if not self.finished:
                    self._finish("failed", f"the training process stopped unexpectedly (exit code {code})"
                                 + self._log_tail())
            elif self._cancel_at is not None and time.monotonic() - self._cancel_at > CANCEL_GRACE_S:
                self._kill()
                self._finish(*self._cancelled(self._epoch))
            return self.finished

    def _read_progress(self) -> None:
        path = self.spec.folder / "progress.jsonl"
        try:
            with open(path, "rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        for line in complete.splitlines():
            self._apply(json.loads(line))

    def _apply(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "begin":
            self._phase = "training"
        elif kind == "snapshot":
            labels = None if event.get("labels") is None else np.asarray(event["labels"])
            self._snapshot = Snapshot(int(event["epoch"]), np.asarray(event["xy"], dtype=np.float64).reshape(-1, 2),
                                      labels, tuple(event["dims"]))
        elif kind == "epoch":
            self._epoch = int(event["stats"]["epoch"])
            self._history.append(event["stats"])
        elif kind == "evaluating":
            self._phase = "evaluating"
        elif kind == "done":  # the card as saved, read back as every listing reads it
            try:
                self._card = read_card(self.spec.out).updated(origin="trained")
            except CheckpointError as err:  # no server path in what the visitor sees
                self._finish("failed", str(err).replace(str(Path(self.spec.out).parent) + os.sep, ""))
            else:
                self._finish("done")
        elif kind == "cancelled":
            self._finish(*self._cancelled(event.get("epochs", self._epoch)))
        elif kind in ("diverged", "failed"):
            self._finish(kind, event.get("message"))

    def _cancelled(self, epochs: int) -> tuple[str, str]:
        return self._stop_reason or ("cancelled", f"Cancelled after {epochs} epochs; nothing was saved.")

    @property
    def running_seconds(self) -> float:
        """Seconds since its process started (0 before)."""
        if self._started is None:
            return 0.0
        return (self._ended if self._ended is not None else time.monotonic()) - self._started

    def _kill(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self._proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self._proc.wait(timeout=3)
                return
            except subprocess.TimeoutExpired:
                continue

    def _log_text(self) -> str:
        try:
            return (self.spec.folder / "log.txt").read_text(errors="replace").strip()
        except OSError:
            return ""

    def _log_tail(self) -> str:
        lines = self._log_text().splitlines()
        return (": " + lines[-1][:300]) if lines else ""

    def _finish(self, phase: str, message: str | None = None) -> None:
        """Record the end; delete what the job owns unless it saved a checkpoint; drop its folder."""
        self._phase, self._message = phase, message
        self._ended = time.monotonic()
        if phase == "failed":
            log.warning("training job %s failed: %s\n%s", self.spec.name, message, self._log_text()[-3000:])
        if self._proc is not None and self._proc.poll() is None:
            try:
                self._proc.wait(timeout=2)  # it reported its end and is exiting
            except subprocess.TimeoutExpired:
                self._kill()
        if phase != "done":
            mine = list(self.spec.owned_files)
            if self._started is not None and self._proc is not None:  # a half-written checkpoint of its own
                mine += checkpoint_paths(self.spec.out)
            for path in mine:
                try:
                    Path(path).unlink()
                except (FileNotFoundError, NotADirectoryError):
                    pass
        if self._log is not None:
            self._log.close()
        if self.spec.folder.exists() and (self._prepared or self._started):
            shutil.rmtree(self.spec.folder, ignore_errors=True)


