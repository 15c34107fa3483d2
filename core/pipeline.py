"""One home for "train a model on a dataset, measure it, save it with its card".

The CLI, the pretrain script and the app's Train page all go through ``train_and_save``,
so every checkpoint carries the same card fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from core import distributed
from core.checkpoints import save_checkpoint
from core.collapse import collapse_note
from core.data import Dataset
from core.evaluate import Metrics, evaluate
from core.models import LatentModel, ModelConfig, build_model
from core.train import Callback, TrainConfig, TrainResult, fit


@dataclass
class TrainedModel:
    model: LatentModel
    result: TrainResult
    metrics: Metrics | None  # None when training was cancelled
    card: dict | None  # the card as saved; None when nothing was saved


def tensors_of(dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, test) images as float32 tensors; shares memory with the dataset's arrays."""
    return torch.from_numpy(dataset.train_images), torch.from_numpy(dataset.test_images)


def train_and_save(
    dataset: Dataset,
    model_config: ModelConfig,
    train_config: TrainConfig,
    out: str | Path | None,
    callbacks: Sequence[Callback] = (),
    command: str | None = None,
    precision: str = "float32",
    iwae_k: int = 100,
    eval_images: int | None = None,
    extra_card: dict | None = None,
    overwrite: bool = True,
) -> TrainedModel:
    """Train, evaluate on the test split, and save to ``out`` (unless None or cancelled).

    A diverging run raises core.train.TrainingDiverged before anything is written;
    ``overwrite=False`` makes the save refuse (CheckpointError) to replace a checkpoint.
    Under torchrun every rank trains; only rank 0 evaluates and writes (the others return
    metrics=None, card=None), and the card records world size, backend and global batch.
    """
    train_config.validate()
    if tuple(model_config.image_shape) != dataset.image_shape:
        raise ValueError(
            f"model image_shape={tuple(model_config.image_shape)} does not match the dataset's {dataset.image_shape}"
        )
    torch.manual_seed(train_config.seed)  # the initial weights depend on the seed too
    model = build_model(model_config)
    train_x, test_x = tensors_of(dataset)
    # A streamed folder (core/streaming.py) trains from disk; its train_images are only the kNN sample.
    stream = getattr(dataset, "train_stream", None)
    result = fit(model, train_x if stream is None else stream, test_x, train_config, callbacks)
    if result.cancelled:
        return TrainedModel(model, result, None, None)
    if not distributed.is_main():  # DDP: only rank 0 evaluates and writes; the others wait for its save
        distributed.barrier()
        return TrainedModel(model, result, None, None)
    # Every metric on the same test images: all of them, or the first ``eval_images``.
    n_eval = len(test_x) if eval_images is None else min(eval_images, len(test_x))
    test_labels = None if dataset.test_labels is None else dataset.test_labels[:n_eval]
    metrics = evaluate(
        model, test_x[:n_eval], test_labels, train_x, dataset.train_labels,
        iwae_k=iwae_k, seed=train_config.seed,
    )
    card = {
        "dataset": dataset.describe(),
        "train_config": train_config.to_dict(),
        "epochs": len(result.history),
        "best_epoch": result.best_epoch,
        "validation_images": result.n_validation,
        "history": [s.to_dict() for s in result.history],
        "metrics": metrics.to_dict(),
        # why the posterior collapsed and the fixes (core/collapse.py), for every reader of the file
        "collapse": collapse_note(metrics.kl_per_dim, train_config.beta, train_config.reconstruction_weight == 0),
        "train_seconds": round(result.seconds, 2),
        "device": result.device,
        "command": command,
        **distributed.card_fields(train_config.batch_size),  # {} in one process
        **(extra_card or {}),
    }
    if out is not None:
        card = save_checkpoint(model, out, card, precision=precision, overwrite=overwrite)
    distributed.barrier()  # the other ranks wait here for the checkpoint (no-op in one process)
    return TrainedModel(model, result, metrics, card)
