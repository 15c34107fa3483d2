"""One run's settings: what to build and how to train it, in one frozen record.

The CLI (``python -m core train|sweep``), the shipped-checkpoint table (core.pretrain) and
the app's Train page all describe a run as a ``RunSpec`` and get from it:

    spec.model_config(image_shape)   the ModelConfig for images of that shape
    spec.train_config()              a fresh TrainConfig
    spec.configs(dataset)            both, validated against the data (PCA's size limit included)
    spec.train_command(...)          the ``python -m core train ...`` line that repeats the run

Defaults are ModelConfig's and TrainConfig's own, read from those dataclasses, so a
default lives in one place; ``RunSpec.for_kind`` starts from the training settings of each
model kind (core.train.KIND_DEFAULTS) instead, the ones the CLI and the Train page offer.
"""

from __future__ import annotations

import dataclasses
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from core.models import ModelConfig
from core.train import KIND_DEFAULTS, TrainConfig

if TYPE_CHECKING:
    from core.data import Dataset


def _default(cls: type, name: str) -> Any:
    return cls.__dataclass_fields__[name].default


def command_line(subcommand: str, args: Sequence[str]) -> str:
    """``python -m core SUBCOMMAND ARGS...``, each part shell-quoted."""
    return " ".join(shlex.quote(str(a)) for a in ["python", "-m", "core", subcommand, *args])


def pca_limit(n_images: int, num_pixels: int) -> int:
    """The largest latent_dim PCA can fit: min(training images, pixels per image)."""
    return min(int(n_images), int(num_pixels))


@dataclass(frozen=True)
class RunSpec:
    """One training run. The first block builds the ModelConfig, the second the TrainConfig."""

    kind: str  # ModelConfig.kind: "pca", "linear-ae", "ae" or "vae"
    latent_dim: int  # ModelConfig.latent_dim
    hidden: tuple[int, ...] = _default(ModelConfig, "hidden")  # ignored by the linear models
    architecture: str = _default(ModelConfig, "architecture")
    likelihood: str = _default(ModelConfig, "likelihood")  # the linear models always use gaussian
    gaussian_variance: float = _default(ModelConfig, "gaussian_variance")
    input_noise: float = _default(ModelConfig, "input_noise")
    conv_stages: int = _default(ModelConfig, "conv_stages")  # 4 for 64x64 faces (core.models.default_conv_stages)

    epochs: int = _default(TrainConfig, "epochs")
    batch_size: int = _default(TrainConfig, "batch_size")
    lr: float = _default(TrainConfig, "lr")
    beta: float = _default(TrainConfig, "beta")  # used by VAEs only; the others train with 1
    beta_schedule: str = _default(TrainConfig, "beta_schedule")
    warmup_epochs: int = _default(TrainConfig, "warmup_epochs")
    kl_only: bool = False  # train on the KL term alone (TrainConfig.reconstruction_weight = 0)
    seed: int = _default(TrainConfig, "seed")
    device: str = _default(TrainConfig, "device")
    lr_schedule: str = _default(TrainConfig, "lr_schedule")
    validation_fraction: float = _default(TrainConfig, "validation_fraction")
    patience: int = _default(TrainConfig, "patience")
    amp: str = _default(TrainConfig, "amp")

    @classmethod
    def for_kind(cls, kind: str, latent_dim: int, **settings: Any) -> "RunSpec":
        """A run of ``kind`` with that kind's training defaults (epochs, lr, schedule), then ``settings``.

        Settings given as None keep the default, so a CLI namespace can be passed as is.
        """
        if kind not in KIND_DEFAULTS:
            raise ValueError(f"kind={kind!r} is not one of {tuple(KIND_DEFAULTS)}")
        given = {k: v for k, v in settings.items() if v is not None}
        return cls(kind=kind, latent_dim=latent_dim, **{**KIND_DEFAULTS[kind], **given})

    @classmethod
    def from_configs(cls, model_config: ModelConfig, train_config: TrainConfig) -> "RunSpec":
        """The spec of a run already described by its two configs."""
        m, t = model_config, train_config
        return cls(
            kind=m.kind, latent_dim=m.latent_dim, hidden=m.hidden, architecture=m.architecture,
            likelihood=m.likelihood, gaussian_variance=m.gaussian_variance, input_noise=m.input_noise,
            conv_stages=m.conv_stages,
            epochs=t.epochs, batch_size=t.batch_size, lr=t.lr, beta=t.beta, beta_schedule=t.beta_schedule,
            warmup_epochs=t.warmup_epochs, kl_only=t.reconstruction_weight == 0, seed=t.seed, device=t.device,
            lr_schedule=t.lr_schedule, validation_fraction=t.validation_fraction, patience=t.patience, amp=t.amp,
        )

    def replace(self, **changes: Any) -> "RunSpec":
        return dataclasses.replace(self, **changes)

    def model_config(self, image_shape: Sequence[int]) -> ModelConfig:
        return ModelConfig(
            kind=self.kind, image_shape=tuple(image_shape), latent_dim=int(self.latent_dim), hidden=self.hidden,
            architecture=self.architecture, likelihood=self.likelihood,
            gaussian_variance=self.gaussian_variance, input_noise=self.input_noise, conv_stages=self.conv_stages,
        )

    def train_config(self) -> TrainConfig:
        """A fresh TrainConfig (it is mutable; the spec is not)."""
        return TrainConfig(
            epochs=int(self.epochs), batch_size=int(self.batch_size), lr=float(self.lr),
            beta=float(self.beta) if self.kind == "vae" else 1.0, beta_schedule=self.beta_schedule,
            warmup_epochs=int(self.warmup_epochs), reconstruction_weight=0.0 if self.kl_only else 1.0,
            seed=int(self.seed), device=self.device, lr_schedule=self.lr_schedule,
            validation_fraction=float(self.validation_fraction), patience=int(self.patience), amp=self.amp,
        )

    def configs(self, dataset: "Dataset") -> tuple[ModelConfig, TrainConfig]:
        """Both configs for ``dataset``, validated; ValueError names the field, its value and the range."""
        model_config = self.model_config(dataset.image_shape).validate()
        train_config = self.train_config().validate()
        n_train = len(dataset.train_images)
        if self.kind == "pca" and self.latent_dim > pca_limit(n_train, model_config.num_pixels):
            raise ValueError(
                f"latent_dim={self.latent_dim} is larger than PCA allows here: at most "
                f"min(images, pixels) = {pca_limit(n_train, model_config.num_pixels)}"
            )
        if n_train < 2:
            raise ValueError(f"the dataset has {n_train} training images; at least 2 are needed")
        return model_config, train_config

    def train_command(self, dataset: str, out: str, image_size: Sequence[int] | None = None,
                      rgb: bool = False) -> str:
        """The ``python -m core train`` line for this run (the settings the Train page offers)."""
        args = ["--model", self.kind, "--dataset", str(dataset), "--latent-dim", str(self.latent_dim),
                "--likelihood", self.likelihood, "--epochs", str(self.epochs), "--batch-size", str(self.batch_size),
                "--lr", f"{self.lr:g}", "--lr-schedule", self.lr_schedule, "--seed", str(self.seed)]
        if self.patience:
            args += ["--validation-fraction", f"{self.validation_fraction:g}", "--patience", str(self.patience)]
        if self.kind == "vae":
            args += ["--beta", f"{self.beta:g}"]
        if image_size:
            args += ["--image-size", f"{image_size[0]}x{image_size[1]}"]
        if rgb:
            args.append("--rgb")
        return command_line("train", [*args, "--out", str(out)])


__all__ = ["RunSpec", "command_line", "pca_limit"]
