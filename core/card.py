"""The checkpoint card, typed: one home for reading what a NAME.json says.

A card on disk is a JSON object (see core.checkpoints); ``Card.from_dict`` parses it and
``Card.to_dict`` gives it back unchanged (plus ``path`` / ``origin`` when the app added
them). Every question the app, the CLI and the scripts ask of a card has one answer here:

    card.beta            the KL weight it trained with; None for models without one (not a VAE)
    card.is_kl_only      trained on the KL term alone (reconstruction weight 0)
    card.is_plain        the textbook model of its kind: for a VAE, beta 1 with reconstruction
    card.dataset_name    the registry name (or "custom:<file>") of its training data
    card.latent_dim      D
    card.likelihood_label   "Bernoulli" or "Gaussian, c = 0.01"
    card.display_name    "mnist-vae-2 · VAE, 2-D, beta 1" (for pickers)

Cards also read like the dict they came from (``card["metrics"]``, ``card.get("title")``),
so code that only passes a field through needs no accessor.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KIND_LABELS = {"pca": "PCA", "linear-ae": "Linear AE", "ae": "AE", "vae": "VAE"}


def beta_suffix(beta: float) -> str:
    """The part of a checkpoint name that tells its beta: ``-beta4``, ``-beta0.25``."""
    return f"-beta{beta:g}"


def beta_text(beta: float | None, kl_only: bool = False, none: str = "–") -> str:
    """A beta for tables: ``4``, ``1 (KL only)``, or ``none`` for models without one."""
    if beta is None:
        return none
    return f"{beta:g}" + (" (KL only)" if kl_only else "")


@dataclass(frozen=True, eq=False)
class Card(Mapping):
    """A checkpoint card: typed accessors over the JSON dict it was read from."""

    name: str
    kind: str  # "pca", "linear-ae", "ae" or "vae"
    model_config: dict[str, Any]  # ModelConfig.to_dict()
    dataset: dict[str, Any] = field(default_factory=dict)  # Dataset.describe() (+ "path", "image_size" for own data)
    train_config: dict[str, Any] = field(default_factory=dict)  # TrainConfig.to_dict()
    metrics: dict[str, Any] = field(default_factory=dict)  # Metrics.to_dict() on the test split
    path: str | None = None  # NAME without extension, where the app found it
    origin: str | None = None  # "shipped" or "trained" (in the app)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)  # every field, as stored

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], **overrides: Any) -> "Card":
        """Parse a card dict (as read from NAME.json, or a Card); ``overrides`` set fields
        such as ``path`` and ``origin``."""
        raw = {**(d.raw if isinstance(d, Card) else dict(d)), **overrides}
        return cls(
            name=str(raw.get("name", "?")),
            kind=str(raw.get("kind", "?")),
            model_config=dict(raw.get("model_config") or {}),
            dataset=dict(raw.get("dataset") or {}),
            train_config=dict(raw.get("train_config") or {}),
            metrics=dict(raw.get("metrics") or {}),
            path=None if raw.get("path") is None else str(raw["path"]),
            origin=raw.get("origin"),
            raw=raw,
        )

    @classmethod
    def of(cls, card: "Card | Mapping[str, Any]") -> "Card":
        """``card`` itself when it is a Card, else parsed."""
        return card if isinstance(card, Card) else cls.from_dict(card)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.raw)

    # ------------------------------------------------------------------ dict-like reading

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)

    # ------------------------------------------------------------------ what the model is

    @property
    def variational(self) -> bool:
        return self.kind == "vae"

    @property
    def beta(self) -> float | None:
        """The KL weight it trained with (TrainConfig.beta); None when the model has no KL term."""
        if not self.variational:
            return None
        value = self.train_config.get("beta", self.raw.get("beta", 1.0))
        return float(1.0 if value is None else value)

    @property
    def is_kl_only(self) -> bool:
        """Trained on the KL term alone (reconstruction_weight 0)."""
        return self.train_config.get("reconstruction_weight", 1.0) == 0

    @property
    def is_plain(self) -> bool:
        """The textbook model of its kind: a VAE with beta 1 and a reconstruction term; any other kind."""
        return not self.is_kl_only and (self.beta is None or self.beta == 1)

    @property
    def latent_dim(self) -> int:
        return int(self.model_config["latent_dim"])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c, h, w = self.model_config["image_shape"]
        return int(c), int(h), int(w)

    @property
    def likelihood(self) -> str:
        return str(self.model_config.get("likelihood", "?"))

    @property
    def likelihood_label(self) -> str:
        """'Bernoulli' or 'Gaussian, c = 0.01': which p(x|z) a number in nats refers to."""
        if self.likelihood == "bernoulli":
            return "Bernoulli"
        return f"Gaussian, c = {self.model_config['gaussian_variance']:g}"

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    @property
    def beta_text(self) -> str:
        """The beta for tables: '4', '1 (KL only)', or '–' for models without one."""
        return beta_text(self.beta, self.is_kl_only)

    @property
    def training_label(self) -> str:
        """'Bernoulli likelihood, β = 4': what a model's losses mean, in a few words."""
        text = f"{self.likelihood_label} likelihood"
        if self.beta is not None:
            text += f", β = {self.beta:g}" + (", KL only" if self.is_kl_only else "")
        return text

    @property
    def display_name(self) -> str:
        """A short label: 'mnist-vae-2 · VAE, 2-D, beta 1' (trained-in-app models marked)."""
        parts = [self.kind_label, f"{self.latent_dim}-D"]
        if self.beta is not None:
            parts.append(f"beta {self.beta:g}")
        if self.is_kl_only:
            parts.append("KL only")
        origin = " (trained here)" if self.origin == "trained" else ""
        return f"{self.name} · {', '.join(parts)}{origin}"

    # ------------------------------------------------------------------ what it was trained on

    @property
    def dataset_name(self) -> str:
        """The registry name of its training data, or "custom:<file>"; "?" when unknown."""
        return str(self.dataset.get("name", "?"))

    @property
    def dataset_key(self) -> str:
        """What to pass to core.data.load_dataset to load that data again (a name or a path).

        A card's ``dataset.path`` is relative to the checkpoint's folder (core.checkpoints);
        it is joined to that folder when the card knows where it was found (``path``)."""
        data_path = self.dataset.get("path")
        if not data_path:
            return str(self.dataset.get("name", ""))
        if self.path and not os.path.isabs(str(data_path)):
            return os.path.normpath(os.path.join(os.path.dirname(self.path), str(data_path)))
        return str(data_path)

    @property
    def image_size(self) -> tuple[int, int] | None:
        """(H, W) the images were resized to for training, or None for the native size."""
        size = self.dataset.get("image_size")
        return (int(size[0]), int(size[1])) if size else None

    @property
    def sweep(self) -> str | None:
        """The beta sweep it belongs to (compared side by side), or None."""
        return self.raw.get("sweep") or None

    @property
    def title(self) -> str:
        return str(self.raw.get("title") or "")


_ABSOLUTE_PATH = re.compile(r"(?<![\w<>.~:/\\-])/[^\s'\",;()\[\]{}]*[^\s'\",;()\[\]{}.]")


def relative_paths(card: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The card with no absolute path of this machine in it.

    ``dataset.path`` (what loads the data again) becomes relative to the checkpoint's
    folder; every other absolute path in a text field becomes relative to that folder when
    it lies inside it, else its file name ("/home/ann/data/frey.mat" -> "frey.mat").
    """
    folder = Path(os.path.abspath(folder))

    def short(match: re.Match) -> str:
        p = Path(match.group(0))
        try:
            return p.relative_to(folder).as_posix() or "."
        except ValueError:
            return p.name or "/"

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return _ABSOLUTE_PATH.sub(short, value)
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    dataset = card.get("dataset")
    if isinstance(dataset, dict) and isinstance(dataset.get("path"), str) and os.path.isabs(dataset["path"]):
        dataset = {**dataset, "path": Path(os.path.relpath(dataset["path"], folder)).as_posix()}
        card = {**card, "dataset": dataset}
    kept = card.get("dataset", {}).get("path") if isinstance(card.get("dataset"), dict) else None
    out = walk(card)
    if kept is not None:
        out["dataset"]["path"] = kept
    return out


__all__ = ["KIND_LABELS", "Card", "beta_suffix", "beta_text", "relative_paths"]
