"""What a training job is: its settings (JobSpec), the data it loads (DataRef), and what the
page draws of it (JobView, Snapshot). ``explorer.logic.training`` runs jobs; nothing here
imports Streamlit.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core import atomicfile
from core.card import Card
from core.data import Dataset
from core.models import ModelConfig
from core.sizes import FLOAT_BYTES, parameter_count
from core.runspec import RunSpec
from core.train import TrainConfig

PHASES = ("queued", "starting", "training", "evaluating", "done", "cancelled", "diverged", "failed")
FINISHED = ("done", "cancelled", "diverged", "failed")
CARD_BYTES = 64_000  # room reserved for a checkpoint's card, plus EPOCH_CARD_BYTES per epoch
EPOCH_CARD_BYTES = 400


def write_atomically(target: Path, data: bytes) -> Path:
    return atomicfile.write_atomically(target, lambda tmp: Path(tmp).write_bytes(data))


@dataclass(frozen=True)
class DataRef:
    """How the training process loads the data: a registry name or a real path, and how."""

    key: str
    image_size: tuple[int, int] | None = None
    grayscale: bool = True
    data_root: str | None = None
    download: bool = True


@dataclass
class JobSpec:
    name: str  # checkpoint name, already checked with check_name
    out_dir: Path  # the checkpoint goes to out_dir / name (.safetensors + .json)
    dataset: Dataset  # what the page showed (shape, class names); the process loads ``data`` itself
    model_config: ModelConfig
    train_config: TrainConfig
    data: DataRef | None = None  # None: the registered dataset ``dataset.name``
    dataset_card: dict | None = None  # replaces card["dataset"] (own data: with "path" and "image_size")
    title: str | None = None  # card["title"]
    upload: tuple[bytes, str] | None = None  # (bytes, filename): kept as upload_path once the job is accepted
    owner: str = ""  # the session whose job it is (its workspace token: the names it trains)
    client: str = ""  # the client whose job it is (clients.client_key): the queue's limits and turns
    session_id: str = ""  # the browser session that asked for it ("": unknown, never treated as gone)
    workspace: Path | None = None  # that session's folder (never expired while the job is active)
    work_root: Path | None = None  # the job's folder goes here (default: out_dir / ".jobs")
    eval_images: int | None = 2000  # test images every metric (the -log p(x) estimate included) is measured on
    threads: int = 1  # torch threads of the training process
    job_id: str = field(default_factory=lambda: secrets.token_hex(8))

    @property
    def out(self) -> Path:
        return Path(self.out_dir) / self.name

    @property
    def folder(self) -> Path:
        return Path(self.work_root or Path(self.out_dir) / ".jobs") / self.job_id

    @property
    def upload_path(self) -> Path | None:
        if self.upload is None:
            return None
        suffix = Path(self.upload[1]).suffix.lower()
        return Path(self.out_dir) / "data" / f"{self.name}-{self.job_id}{suffix if suffix == '.npy' else '.npz'}"

    @property
    def owned_files(self) -> tuple[Path, ...]:
        return () if self.upload_path is None else (self.upload_path,)

    def card(self) -> Card:
        """The card as far as it is known before training (kind, model_config, train_config)."""
        return Card.from_dict({"name": self.name, "kind": self.model_config.kind, "model_config": self.model_config.to_dict(),
                               "train_config": self.train_config.to_dict()})

    def estimated_bytes(self) -> tuple[int, int]:
        """(bytes the upload takes, bytes the checkpoint will take at most): for the disk quota."""
        upload = len(self.upload[0]) if self.upload else 0
        return upload, FLOAT_BYTES * parameter_count(self.model_config) + CARD_BYTES + EPOCH_CARD_BYTES * self.train_config.epochs

    def process_spec(self) -> dict:
        """What the training process reads from spec.json."""
        data = self.data or DataRef(self.dataset.name)
        card = dict(self.dataset_card) if self.dataset_card is not None else None
        return {
            "data": {"key": data.key, "image_size": list(data.image_size) if data.image_size else None,
                     "grayscale": data.grayscale, "data_root": data.data_root, "download": data.download},
            "model_config": self.model_config.to_dict(), "train_config": self.train_config.to_dict(),
            "out": str(self.out), "dataset_card": card, "eval_images": self.eval_images,
            "extra_card": {"title": self.title or self.name, "trained_in_app": True},
            "command": cli_command(self), "threads": self.threads, "parent_pid": os.getpid(),
        }


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
    card: Card | None  # the saved card when phase == "done"
    seconds: float  # since the job's process started (0 while queued)
    cancel_requested: bool
    position: int | None = None  # place in the queue while queued (1: next)
    pid: int | None = None  # the training process

    @property
    def finished(self) -> bool:
        return self.phase in FINISHED

    @property
    def progress(self) -> float:
        if self.phase in ("evaluating", "done"):
            return 1.0
        return self.epoch / max(1, self.epochs)


def cli_command(spec: JobSpec) -> str:
    """The command line that trains the same model with ``python -m core train``."""
    data = (spec.dataset_card or {}).get("path") or spec.dataset.name
    run = RunSpec.from_configs(spec.model_config, spec.train_config)
    return run.train_command(data, spec.out, (spec.dataset_card or {}).get("image_size"),
                             rgb=spec.model_config.image_shape[0] == 3)
