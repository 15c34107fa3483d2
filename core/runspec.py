"""One run's settings: what to build and how to train it, in one frozen record.

The CLI (``python -m core train|sweep``), the shipped-checkpoint table (core.pretrain) and
the app's Train page all describe a run as a ``RunSpec`` and get from it:

    spec.model_config(image_shape)   the ModelConfig for images of that shape
    spec.train_config()              a fresh TrainConfig
    spec.configs(dataset)            both, validated against the data (PCA's size limit included)
    spec.train_command(...)          the ``python -m core train ...`` line that repeats the run

RunSpec's fields are the run settings declared on ModelConfig and TrainConfig
(core.runsettings: default, range, help, form label), plus ``kl_only``; ``RUN_SETTINGS`` names
them in order. ``RunSpec.for_kind`` starts from the training settings of each model kind
(core.train.KIND_DEFAULTS) instead, the ones the CLI and the Train page offer.
"""

from __future__ import annotations

import dataclasses
import numbers
import shlex
from typing import TYPE_CHECKING, Any, Sequence

from core.models import ModelConfig
from core.runsettings import Setting, SettingError, setting, setting_fields, settings_of
from core.train import KIND_DEFAULTS, TrainConfig

if TYPE_CHECKING:
    from core.data import Dataset

# The side own images are resized to (python -m core train --image-size HxW; the Train page's Height and Width).
IMAGE_SIDE = Setting(28, "the height or width own images are resized to", low=4, high=256, name="image_side")
MODEL_SETTINGS = settings_of(ModelConfig)
TRAIN_SETTINGS = settings_of(TrainConfig)


def command_line(subcommand: str, args: Sequence[str]) -> str:
    """``python -m core SUBCOMMAND ARGS...``, each part shell-quoted."""
    return " ".join(shlex.quote(str(a)) for a in ["python", "-m", "core", subcommand, *args])


def pca_limit(n_images: int, num_pixels: int) -> int:
    """The largest latent_dim PCA can fit: min(training images, pixels per image)."""
    return min(int(n_images), int(num_pixels))


class _RunSpec:
    """One training run: the run settings of ModelConfig and TrainConfig, and ``kl_only`` (train on
    the KL term alone: TrainConfig.reconstruction_weight = 0). ``beta`` is used by VAEs only; the
    other kinds train with 1."""

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
        return cls(**{s.name: getattr(model_config, s.name) for s in MODEL_SETTINGS},
                   **{s.name: getattr(train_config, s.name) for s in TRAIN_SETTINGS},
                   kl_only=train_config.reconstruction_weight == 0)

    def replace(self, **changes: Any) -> "RunSpec":
        return dataclasses.replace(self, **changes)

    def _values(self, settings: Sequence[Setting]) -> dict[str, Any]:
        """The fields of ``settings``, numbers as the setting's type (int or float, from any numeric type)."""
        values = {}
        for s in settings:
            value = getattr(self, s.name)
            if s.type is int and isinstance(value, numbers.Integral) and not isinstance(value, bool):
                value = int(value)
            elif s.type is float and isinstance(value, numbers.Real) and not isinstance(value, bool):
                value = float(value)
            values[s.name] = value
        return values

    def model_config(self, image_shape: Sequence[int]) -> ModelConfig:
        return ModelConfig(image_shape=tuple(image_shape), **self._values(MODEL_SETTINGS))

    def train_config(self) -> TrainConfig:
        """A fresh TrainConfig (it is mutable; the spec is not)."""
        values = self._values(TRAIN_SETTINGS)
        if self.kind != "vae":
            values["beta"] = 1.0
        return TrainConfig(**values, reconstruction_weight=0.0 if self.kl_only else 1.0)

    def configs(self, dataset: "Dataset") -> tuple[ModelConfig, TrainConfig]:
        """Both configs for ``dataset``, validated; ValueError names the field, its value and the range."""
        model_config = self.model_config(dataset.image_shape).validate()
        train_config = self.train_config().validate()
        n_train = len(dataset.train_images)
        if self.kind == "pca" and self.latent_dim > pca_limit(n_train, model_config.num_pixels):
            raise SettingError(
                "latent_dim", f"latent_dim={self.latent_dim} is larger than PCA allows here: at most "
                f"min(images, pixels) = {pca_limit(n_train, model_config.num_pixels)}"
            )
        if n_train < 2:
            raise SettingError(None, f"the dataset has {n_train} training images; at least 2 are needed")
        return model_config, train_config

    def train_command(self, dataset: str, out: str, image_size: Sequence[int] | None = None,
                      rgb: bool = False) -> str:
        """The ``python -m core train`` line that repeats this run: the settings the Train page shows, and
        every other whose value differs from what the CLI takes without its flag (the kind's defaults)."""
        plain = RunSpec.for_kind(self.kind, self.latent_dim)
        args = ["--dataset", str(dataset)]
        for s in RUN_SETTINGS.values():
            value = getattr(self, s.name)
            if s.cli_flag is None or (s.name == "beta" and self.kind != "vae"):  # other kinds train with beta 1
                continue
            if value == ():  # the linear models have no hidden layers, whatever the flag says
                continue
            if s.type is bool:
                args += [s.cli_flag] if value else []
            elif s.label or value != getattr(plain, s.name):
                args += [s.cli_flag, s.text(value)]
        if image_size:
            args += ["--image-size", f"{image_size[0]}x{image_size[1]}"]
        if rgb:
            args.append("--rgb")
        return command_line("train", [*args, "--out", str(out)])


RunSpec = dataclasses.make_dataclass(
    "RunSpec",
    [*setting_fields(ModelConfig), *setting_fields(TrainConfig),
     ("kl_only", bool, setting(False, "train on the KL term alone (no reconstruction)"))],
    bases=(_RunSpec,), frozen=True, namespace={"__doc__": _RunSpec.__doc__, "__module__": __name__},
)
RUN_SETTINGS = {s.name: s for s in settings_of(RunSpec)}  # every run setting by name, in RunSpec's field order


__all__ = ["IMAGE_SIDE", "RUN_SETTINGS", "RunSpec", "command_line", "pca_limit"]
