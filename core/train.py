"""The fit loop: each epoch, forward, loss, backward and step over the training batches
(``train_epoch``, read it beside pytorch/examples' vae/main.py), then the test and validation
passes, the callbacks and early stopping (``fit``); beta and learning-rate schedules; a NaN guard.

Data live on the device as one tensor and are shuffled by index each epoch, so there is
no per-sample Python work on the hot path (the textbook DataLoader + ToTensor loop spends
most of its time there on small MLPs). A folder streamed from disk (core/streaming.py), torchrun
(core/distributed.py) and mixed precision (core/amp.py) wrap the loop's parts from outside
(``Loop``, ``wrapped_loop``); the loop itself is the same for all of them.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import asdict, dataclass
from typing import Callable, Iterable, Iterator, Protocol, Sequence

import torch
from torch import nn

from core import amp as _amp, distributed, streaming  # the loop's wrappers: mixed precision, DDP, folders
from core.models import PCA, LatentModel
from core.runsettings import SettingError, check_settings, setting

BETA_SCHEDULES = ("constant", "linear")
LR_SCHEDULES = ("constant", "cosine")
MAX_SEED = 2**32 - 1  # numpy's and torch's seeds
DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(:(0|[1-9][0-9]{0,2}))?")
EVALUATION_SEED = 12345  # the test/validation passes draw their own noise, never from the training stream


@dataclass
class TrainConfig:
    epochs: int = setting(30, "passes over the training images (PCA is fitted in closed form, in one pass)",
                          low=1, high=10_000, label="Epochs")
    batch_size: int = setting(
        128, "images per Adam step (under torchrun: per process; the global batch is this x processes)",
        low=1, label="Batch size")
    lr: float = setting(1e-3, "Adam's learning rate", low=0, high=1, low_open=True, label="Learning rate (Adam)",
                        step=5e-4, format="%.4f")
    beta: float = setting(
        1.0, "weight on the KL term (VAEs only): 1 = the ELBO; > 1 a β-VAE (Higgins et al., 2017); 0 = no KL term",
        low=0, high=1000, label="β (weight on the KL term)", step=0.25)
    beta_schedule: str = setting(
        "constant", "constant, or linear: warm beta up from 0 over warmup_epochs", choices=BETA_SCHEDULES)
    warmup_epochs: int = setting(10, "epochs of linear warm-up (ignored for a constant beta)", low=1)
    reconstruction_weight: float = 1.0  # 0 trains on the KL term alone (the "KL only" model; RunSpec.kl_only)
    seed: int = setting(0, "seeds initialisation, shuffling and the reparameterization noise",
                        low=0, high=MAX_SEED, label="Seed")
    device: str = setting("auto", "auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps",
                          pattern=DEVICE_PATTERN.pattern, describe="auto, cpu, cuda, cuda:N or mps")
    lr_schedule: str = setting(  # cosine: Loshchilov & Hutter, 2017
        "constant", "constant, or cosine decay to lr/100 over the epochs", choices=LR_SCHEDULES)
    validation_fraction: float = setting(
        0.0, "share of the training images held out for early stopping (never the test split)", low=0, high=0.5)
    patience: int = setting(
        0, "stop after this many epochs without a better validation loss (0: never stop early)", low=0)
    amp: str = setting("off", "mixed precision of the training step: auto = bf16 where supported, else fp16 with "
                       "a grad scaler (see core/amp.py)", choices=_amp.AMP_MODES)

    def validate(self) -> "TrainConfig":
        """Raise SettingError (a ValueError) naming the field, its value and what is allowed."""
        check_settings(self)
        if not (math.isfinite(self.reconstruction_weight) and self.reconstruction_weight >= 0):
            raise SettingError("reconstruction_weight",
                               f"reconstruction_weight={self.reconstruction_weight!r} must be >= 0")
        if self.reconstruction_weight == 0 and self.beta == 0:
            raise SettingError("reconstruction_weight", "reconstruction_weight=0 and beta=0 leave nothing to train")
        if self.patience > 0 and self.validation_fraction == 0:
            raise SettingError("patience",
                               f"patience={self.patience} needs a validation split (validation_fraction > 0)")
        return self

    def beta_at(self, epoch: int) -> float:
        """The KL weight used during ``epoch`` (1-based)."""
        if self.beta_schedule == "linear":
            return self.beta * min(1.0, epoch / self.warmup_epochs)
        return self.beta

    def lr_at(self, epoch: int) -> float:
        """The learning rate used during ``epoch`` (1-based): cosine runs from lr to lr/100."""
        if self.lr_schedule == "cosine" and self.epochs > 1:
            progress = (epoch - 1) / (self.epochs - 1)
            return self.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress)))
        return self.lr

    def to_dict(self) -> dict:
        d = asdict(self)
        if d["amp"] == "off":  # the default is left out, so cards of models without the field read the same
            del d["amp"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """Rebuild from a card's train_config; fields added since the card was written keep their defaults."""
        known = {f: d[f] for f in cls.__dataclass_fields__ if f in d}
        return cls(**known)


# Training settings per model kind that converge to what the app teaches (measured on digits
# and the MNIST subset, 2 seeds each; tests/test_cli.py checks the linear AE through the CLI).
# The linear AE needs a large, decaying step to reach PCA's error within 1%: Adam at 1e-3 for
# 30 epochs stops at 1.2-1.5x PCA's MSE, and at 1e-2 some seeds stay 5-10% above it. The deep
# models stop early on held-out training images: on a few thousand images they overfit.
KIND_DEFAULTS: dict[str, dict] = {
    "pca": {"epochs": 1},
    "linear-ae": {"epochs": 100, "lr": 3e-2, "lr_schedule": "cosine"},
    "ae": {"epochs": 50, "lr": 1e-3, "lr_schedule": "cosine", "validation_fraction": 0.1, "patience": 10},
    "vae": {"epochs": 50, "lr": 1e-3, "lr_schedule": "cosine", "validation_fraction": 0.1, "patience": 10},
}


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
    validation_loss: float | None = None  # the objective (at the final beta) on the validation split
    lr: float | None = None  # the learning rate used this epoch

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
    best_epoch: int | None = None  # the epoch whose weights were kept (early stopping); None: the last
    n_validation: int = 0  # training images held out for early stopping


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; nothing is saved."""


def device_problem(name: str) -> str | None:
    """Why ``name`` cannot be used on this machine (None when it can): a clear sentence."""
    if not isinstance(name, str) or not DEVICE_PATTERN.fullmatch(name):
        return f"invalid device {name!r}: expected auto, cpu, cuda, cuda:N or mps"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            return f"device {name!r}: CUDA is not available on this machine (use cpu or auto)"
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            return f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s), numbered from 0"
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        return "device 'mps': Apple's MPS is not available on this machine (use cpu or auto)"
    return None


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
    """Mean reconstruction and KL (nats per image) over x, one posterior sample per image.

    The posterior samples come from a forked, fixed-seed generator: evaluating (or not) never
    moves the training stream's random numbers, and the same weights always score the same.
    """
    model.eval()
    recon = kl = 0.0
    devices = [x.device] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(EVALUATION_SEED)
        for start in range(0, len(x), batch_size):
            terms = model.loss_terms(x[start:start + batch_size])
            recon += terms.reconstruction.sum().item()
            kl += terms.kl.sum().item()
    return recon / len(x), kl / len(x)


def split_validation(images: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(train, validation) carved from the training images by a seeded permutation."""
    n_val = int(round(fraction * len(images)))
    if n_val == 0:
        return images, None
    if n_val >= len(images):
        raise ValueError(f"validation_fraction={fraction} leaves no training images out of {len(images)}")
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed + 1))
    return images[order[n_val:]], images[order[:n_val]]


def fit(
    model: LatentModel,
    train_images: torch.Tensor,
    test_images: torch.Tensor | None,
    config: TrainConfig,
    callbacks: Sequence[Callback] = (),
) -> TrainResult:
    """Train ``model`` in place on images (N, C, H, W) in [0, 1] and return the history.

    PCA is fitted in closed form (one "epoch"). With ``config.validation_fraction`` > 0 a
    seeded share of the training images is held out; with ``config.patience`` > 0 training
    stops when the validation objective has not improved for that many epochs, and the best
    epoch's weights are kept. The test split is only ever measured, never used to decide.
    Raises TrainingDiverged on a NaN/inf loss, leaving the caller nothing to save. The model
    ends on the CPU in eval mode. ``train_images`` may also be a folder streamed from disk
    (core/streaming.py); under torchrun every rank calls fit (core/distributed.py).
    """
    config.validate()
    streamed = streaming.is_stream(train_images)
    if streamed:
        streaming.check_stream(train_images, model, config)
    else:
        _check_images(train_images, model, "train_images")
    if test_images is not None:
        _check_images(test_images, model, "test_images")
    device = distributed.training_device(pick_device(config.device))  # cuda:LOCAL_RANK under torchrun
    torch.manual_seed(config.seed)
    started = time.perf_counter()
    for cb in callbacks:
        if hasattr(cb, "on_train_begin"):
            cb.on_train_begin(model)

    if isinstance(model, PCA):
        model.fit_closed_form(train_images)
        recon, kl = evaluate_terms(model, train_images)
        stats = _epoch_stats(model, 1, 1, 0.0, recon, kl, recon, test_images, started)
        for cb in callbacks:
            cb.on_epoch_end(stats)
        return TrainResult([stats], False, time.perf_counter() - started, "cpu")

    if streamed:
        train_x, val_images = train_images, None
    else:
        train_x, val_images = split_validation(train_images, config.validation_fraction, config.seed)
        train_x = train_x.to(device)
    model.to(device)
    try:
        return _fit_epochs(model, wrapped_loop(model, train_x, config, device), val_images, test_images,
                           config, callbacks, device, started)
    finally:
        model.to("cpu").eval()


def _fit_epochs(model, loop, val_images, test_images, config, callbacks, device, started) -> TrainResult:
    """Epoch after epoch: the schedules, one epoch of training, the test and validation passes,
    the callbacks, early stopping."""
    n_validation = 0 if val_images is None else len(val_images)
    if not loop.reports:  # under torchrun rank 0 alone measures and reports; loop.agree shares its decisions
        val_images = test_images = None
        callbacks = ()
    val_x, test_x = (None if t is None else t.to(device) for t in (val_images, test_images))
    history: list[EpochStats] = []
    best = _BestWeights(config.patience)
    for epoch in range(1, config.epochs + 1):
        epoch_start = time.perf_counter()
        beta, lr = config.beta_at(epoch), config.lr_at(epoch)
        for group in loop.optimizer.param_groups:
            group["lr"] = lr
        recon, kl, objective = train_epoch(loop, epoch, beta, config)
        stats = _epoch_stats(model, epoch, config.epochs, beta, recon, kl, objective, test_x, epoch_start)
        stats.lr = lr
        if val_x is not None:
            val_recon, val_kl = evaluate_terms(model, val_x)
            stats.validation_loss = config.reconstruction_weight * val_recon + config.beta * val_kl
            stats.seconds = time.perf_counter() - epoch_start
        history.append(stats)
        cancel = any(cb.on_epoch_end(stats) for cb in callbacks)
        stats.validation_loss, cancel = loop.agree(stats.validation_loss, cancel)
        stop = best.update(model, epoch, stats.validation_loss, warm=epoch >= _warm_epoch(config))
        if cancel and epoch < config.epochs:
            return TrainResult(history, True, time.perf_counter() - started, str(device))
        if stop:
            break
    best_epoch = best.restore(model)
    return TrainResult(history, False, time.perf_counter() - started, str(device),
                       best_epoch=best_epoch, n_validation=n_validation)


def train_epoch(loop: Loop, epoch: int, beta: float, config: TrainConfig) -> tuple[float, float, float]:
    """One pass over the training images: forward, loss, backward, step (as ``train`` in
    pytorch/examples' vae/main.py). Returns the epoch's means per image: reconstruction, KL and
    the optimised objective. Raises TrainingDiverged at the first batch whose loss is NaN or
    infinite, before its step."""
    loop.model.train()
    sums = 0  # reconstruction, KL, objective and images, summed over the epoch's batches
    for x in loop.batches(epoch):
        terms = loop.model(x)  # per image: -log p(x|z) and KL(q(z|x) || p(z))
        per_image = config.reconstruction_weight * terms.reconstruction + beta * terms.kl
        loss = batch_objective(per_image, config.batch_size)
        # the batch's sums; under torchrun added over every rank, so a NaN on one rank stops them all
        batch_sums = loop.sum_over_ranks(torch.stack(
            [terms.reconstruction.sum(), terms.kl.sum(), per_image.sum(), per_image.new_tensor(len(x))]).detach())
        if not torch.isfinite(batch_sums[2]):
            raise TrainingDiverged(
                f"training diverged: the loss became {batch_sums[2].item()} in epoch {epoch} "
                f"(lr={loop.optimizer.param_groups[0]['lr']:g}, beta={beta:g}, likelihood={loop.likelihood}); "
                "nothing was saved. Try a smaller learning rate."
            )
        loop.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        loop.optimizer.step()
        sums = sums + batch_sums
    recon, kl, objective = (sums[:3] / sums[3]).tolist()
    return recon, kl, objective


@dataclass
class Loop:
    """The parts ``train_epoch`` calls. ``wrapped_loop`` builds them for one process training in
    float32 on a tensor; core/streaming.py, core/distributed.py and core/amp.py replace parts."""

    model: nn.Module  # batch -> its LossTerms: the model itself, or DDP and autocast around it
    batches: Callable[[int], Iterable[torch.Tensor]]  # epoch -> that epoch's batches (this rank's share)
    optimizer: torch.optim.Optimizer
    likelihood: str  # named when the loss diverges
    sum_over_ranks: Callable[[torch.Tensor], torch.Tensor] = lambda sums: sums  # a batch's sums over every rank
    agree: Callable = lambda validation_loss, cancel: (validation_loss, cancel)  # rank 0's decisions everywhere
    reports: bool = True  # this process measures the test and validation splits and runs the callbacks


def wrapped_loop(model: LatentModel, train_x, config: TrainConfig, device: torch.device) -> Loop:
    """The plain parts (the model, a shuffled pass over the images, Adam), then the wrappers the
    run asks for; each returns the loop unchanged when it does not apply."""
    shuffler = torch.Generator().manual_seed(config.seed)
    loop = Loop(model, lambda epoch: shuffled_batches(train_x, config.batch_size, shuffler),
                torch.optim.Adam(model.parameters(), lr=config.lr), model.config.likelihood)
    loop = streaming.wrap(loop, train_x, config, device)  # a folder: a DataLoader's batches
    loop = distributed.wrap(loop, train_x, config, device)  # a process group: DDP, this rank's share, collectives
    return _amp.wrap(loop, config.amp, device)  # autocast (+ a grad scaler for fp16)


def shuffled_batches(images: torch.Tensor, batch_size: int, shuffler: torch.Generator) -> Iterator[torch.Tensor]:
    """One epoch of batches in a new random order: ``DataLoader(shuffle=True)`` for a tensor
    already on the device, without the per-sample Python work."""
    order = torch.randperm(len(images), generator=shuffler).to(images.device)
    for start in range(0, len(images), batch_size):
        yield images[order[start:start + batch_size]]


def batch_objective(per_image: torch.Tensor, batch_size: int) -> torch.Tensor:
    """The batch's loss: its sum over images / the nominal batch size, not the batch's mean.

    Every image then weighs 1 / batch_size in every step, so the ragged last batch (8 images
    at 5,000 / 128) does not get a full step of its own right before the epoch's evaluation.
    """
    return per_image.sum() / batch_size


def _warm_epoch(config: TrainConfig) -> int:
    """The first epoch whose validation loss counts: after the beta warm-up, the objective is final."""
    return config.warmup_epochs if config.beta_schedule == "linear" else 1


class _BestWeights:
    """Early stopping: remember the weights of the best validation epoch, stop after ``patience`` worse ones."""

    def __init__(self, patience: int):
        self.patience = patience
        self.loss = math.inf
        self.epoch: int | None = None
        self.state: dict | None = None

    def update(self, model: LatentModel, epoch: int, loss: float | None, warm: bool) -> bool:
        if loss is None or not warm:
            return False
        if loss < self.loss:
            self.loss, self.epoch = loss, epoch
            self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            return False
        return self.patience > 0 and epoch - self.epoch >= self.patience

    def restore(self, model: LatentModel) -> int | None:
        if self.state is None or self.patience == 0:
            return None
        model.load_state_dict(self.state)
        return self.epoch


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
