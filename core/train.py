"""The fit loop: in-memory tensors, Adam, beta schedules, callbacks, a NaN guard.

Data live on the device as one tensor and are shuffled by index each epoch, so there is
no per-sample Python work on the hot path (the textbook DataLoader + ToTensor loop spends
most of its time there on small MLPs).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Protocol, Sequence

import torch

from core.models import PCA, LatentModel

BETA_SCHEDULES = ("constant", "linear")


@dataclass
class TrainConfig:
    epochs: int = 30  # passes over the training images
    batch_size: int = 128  # images per Adam step
    lr: float = 1e-3  # Adam learning rate
    beta: float = 1.0  # weight on the KL term: 1 = the ELBO, > 1 beta-VAE, 0 = reconstruction only
    beta_schedule: str = "constant"  # "constant", or "linear": warm beta up from 0 over warmup_epochs
    warmup_epochs: int = 10  # epochs of linear warm-up (ignored for "constant")
    reconstruction_weight: float = 1.0  # 0 trains on the KL term alone (the "KL only" model)
    seed: int = 0  # seeds initialisation, shuffling and the reparameterization noise
    device: str = "auto"  # "auto" (CUDA, then MPS, then CPU), or a torch device name

    def validate(self) -> "TrainConfig":
        """Raise ValueError naming the field, its value and what is allowed."""
        if not isinstance(self.epochs, int) or not 1 <= self.epochs <= 10_000:
            raise ValueError(f"epochs={self.epochs!r} must be an integer in [1, 10000]")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size={self.batch_size!r} must be an integer >= 1")
        if not (math.isfinite(self.lr) and 0 < self.lr <= 1):
            raise ValueError(f"lr={self.lr!r} must be in (0, 1]")
        if not (math.isfinite(self.beta) and 0 <= self.beta <= 1000):
            raise ValueError(f"beta={self.beta!r} must be a finite number in [0, 1000]")
        if self.beta_schedule not in BETA_SCHEDULES:
            raise ValueError(f"beta_schedule={self.beta_schedule!r} is not one of {BETA_SCHEDULES}")
        if not isinstance(self.warmup_epochs, int) or self.warmup_epochs < 1:
            raise ValueError(f"warmup_epochs={self.warmup_epochs!r} must be an integer >= 1")
        if not (math.isfinite(self.reconstruction_weight) and self.reconstruction_weight >= 0):
            raise ValueError(f"reconstruction_weight={self.reconstruction_weight!r} must be >= 0")
        if self.reconstruction_weight == 0 and self.beta == 0:
            raise ValueError("reconstruction_weight=0 and beta=0 leave nothing to train")
        return self

    def beta_at(self, epoch: int) -> float:
        """The KL weight used during ``epoch`` (1-based)."""
        if self.beta_schedule == "linear":
            return self.beta * min(1.0, epoch / self.warmup_epochs)
        return self.beta

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class EpochStats:
    epoch: int  # 1-based
    epochs: int  # total planned
    beta: float  # KL weight used this epoch
    train_reconstruction: float  # nats per image, mean over the epoch's batches
    train_kl: float
    train_loss: float  # the optimised objective: w * reconstruction + beta * KL
    test_reconstruction: float | None  # nats per image on the test split (None without one)
    test_kl: float | None
    test_neg_elbo: float | None  # reconstruction + KL (beta = 1): the bound, whatever beta trained
    seconds: float  # wall time of this epoch (training and test pass)

    def to_dict(self) -> dict:
        return asdict(self)


class Callback(Protocol):
    """Anything with ``on_epoch_end``; return True from it to stop training early.

    A callback may also define ``on_train_begin(model)``, called once before the first
    epoch with the model being trained (the app draws latent-map snapshots from it).
    """

    def on_epoch_end(self, stats: EpochStats) -> bool | None: ...


@dataclass
class TrainResult:
    history: list[EpochStats]
    cancelled: bool  # a callback asked to stop before the last epoch
    seconds: float  # total wall time
    device: str


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; nothing is saved."""


def pick_device(name: str = "auto") -> torch.device:
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@torch.no_grad()
def evaluate_terms(model: LatentModel, x: torch.Tensor, batch_size: int = 1000) -> tuple[float, float]:
    """Mean reconstruction and KL (nats per image) over x, one posterior sample per image."""
    model.eval()
    recon = kl = 0.0
    for start in range(0, len(x), batch_size):
        terms = model.loss_terms(x[start:start + batch_size])
        recon += terms.reconstruction.sum().item()
        kl += terms.kl.sum().item()
    return recon / len(x), kl / len(x)


def fit(
    model: LatentModel,
    train_images: torch.Tensor,
    test_images: torch.Tensor | None,
    config: TrainConfig,
    callbacks: Sequence[Callback] = (),
) -> TrainResult:
    """Train ``model`` in place on images (N, C, H, W) in [0, 1] and return the history.

    PCA is fitted in closed form (one "epoch"). Raises TrainingDiverged on a NaN/inf loss,
    leaving the caller nothing to save. The model ends on the CPU in eval mode.
    """
    config.validate()
    _check_images(train_images, model, "train_images")
    if test_images is not None:
        _check_images(test_images, model, "test_images")
    device = pick_device(config.device)
    torch.manual_seed(config.seed)
    started = time.perf_counter()
    history: list[EpochStats] = []
    cancelled = False
    for cb in callbacks:
        if hasattr(cb, "on_train_begin"):
            cb.on_train_begin(model)

    if isinstance(model, PCA):
        model.fit_closed_form(train_images)
        recon, kl = evaluate_terms(model, train_images)
        stats = _epoch_stats(model, 1, 1, 0.0, recon, kl, recon, test_images, started)
        history.append(stats)
        for cb in callbacks:
            cb.on_epoch_end(stats)
        return TrainResult(history, False, time.perf_counter() - started, "cpu")

    model.to(device)
    train_x = train_images.to(device)
    test_x = test_images.to(device) if test_images is not None else None
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    shuffler = torch.Generator().manual_seed(config.seed)
    noise = model.config.input_noise
    n = len(train_x)
    try:
        for epoch in range(1, config.epochs + 1):
            epoch_start = time.perf_counter()
            beta = config.beta_at(epoch)
            model.train()
            order = torch.randperm(n, generator=shuffler).to(device)
            sums = torch.zeros(3, device=device)  # reconstruction, KL, loss (summed over images)
            for start in range(0, n, config.batch_size):
                x = train_x[order[start:start + config.batch_size]]
                noisy = (x + noise * torch.randn_like(x)).clamp(0.0, 1.0) if noise > 0 else None
                terms = model.loss_terms(x, noisy)
                per_image = config.reconstruction_weight * terms.reconstruction + beta * terms.kl
                loss = per_image.mean()
                if not torch.isfinite(loss):
                    raise TrainingDiverged(
                        f"training diverged: the loss became {loss.item()} in epoch {epoch} "
                        f"(lr={config.lr}, beta={beta:g}, likelihood={model.config.likelihood}); "
                        "nothing was saved. Try a smaller learning rate."
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                sums += torch.stack([terms.reconstruction.sum(), terms.kl.sum(), per_image.sum()]).detach()
            recon, kl, objective = (sums / n).tolist()
            stats = _epoch_stats(model, epoch, config.epochs, beta, recon, kl, objective, test_x, epoch_start)
            history.append(stats)
            if any(cb.on_epoch_end(stats) for cb in callbacks) and epoch < config.epochs:
                cancelled = True
                break
    finally:
        model.to("cpu").eval()
    return TrainResult(history, cancelled, time.perf_counter() - started, str(device))


def _epoch_stats(model, epoch, epochs, beta, recon, kl, objective, test_x, epoch_start) -> EpochStats:
    test_recon = test_kl = test_elbo = None
    if test_x is not None:
        test_recon, test_kl = evaluate_terms(model, test_x)
        test_elbo = test_recon + test_kl
    return EpochStats(
        epoch, epochs, beta, recon, kl, objective, test_recon, test_kl, test_elbo,
        time.perf_counter() - epoch_start,
    )


def _check_images(images: torch.Tensor, model: LatentModel, name: str) -> None:
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise ValueError(f"{name} must be a float tensor of shape (N, C, H, W)")
    if tuple(images.shape[1:]) != tuple(model.image_shape):
        raise ValueError(f"{name} has images of shape {tuple(images.shape[1:])}, the model expects {model.image_shape}")
    if len(images) == 0:
        raise ValueError(f"{name} is empty")


class TqdmCallback:
    """A tqdm bar over epochs showing the latest losses (the CLI's progress)."""

    def __init__(self, total: int, desc: str = "train"):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, desc=desc, unit="epoch", leave=False)

    def on_epoch_end(self, stats: EpochStats) -> None:
        shown = {"loss": f"{stats.train_loss:.1f}"}
        if stats.test_neg_elbo is not None:
            shown["test -ELBO"] = f"{stats.test_neg_elbo:.1f}"
        self.bar.set_postfix(shown)
        self.bar.update(1)
        if stats.epoch == stats.epochs:
            self.bar.close()
