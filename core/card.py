"""The checkpoint card, typed: one home for reading what a NAME.json says.

A card on disk is a JSON object; ``core.checkpoints.read_card`` reads it (as untrusted input)
into a Card, and every listing and load returns Cards. ``Card.to_dict`` gives the stored fields
back unchanged; ``path`` / ``origin`` (where the app found it) read like fields too. Every question the app, the
CLI and the scripts ask of a card has one answer here:

    card.beta            the KL weight it trained with; None for models without one (not a VAE)
    card.is_kl_only      trained on the KL term alone (reconstruction weight 0)
    card.collapse        why its posterior collapsed and the fixes, or None
    card.is_denoiser     trained with noise on its inputs (a denoising AE)
    card.is_plain        the textbook model of its kind: clean inputs, a reconstruction term, beta 1
    card.plain_rank      sorts candidates for the plain model of a kind (canonical models, partners)
    card.sweep           the beta sweep it belongs to, or None
    card.dataset_name    the registry name (or "custom:<file>") of its training data
    card.latent_dim      D
    card.likelihood_label   "Bernoulli" or "Gaussian, c = 0.01"
    card.display_name    "mnist-vae-2 · VAE, 2-D, beta 1" (for pickers)

Cards also read like the dict they came from (``card["metrics"]``, ``card.get("title")``),
so code that only passes a field through needs no accessor.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from core.collapse import collapse_note
from core.sizes import size_problem

KIND_LABELS = {"pca": "PCA", "linear-ae": "Linear AE", "ae": "AE", "vae": "VAE"}
MAX_CARD_BYTES = 1_000_000  # a card is read whole; 1,000 epochs of history take 300 KB
MAX_TEXT = 20_000  # characters of one text field (a description, a command)
MAX_HIDDEN_LAYERS = 16
READ_FIELDS = ("path", "origin", "error")  # added to a card when it is read or listed, never stored


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

    def updated(self, **fields: Any) -> "Card":
        """This card with ``fields`` set: ``path`` / ``origin`` where the app found it, fresh metrics."""
        return Card.from_dict(self.raw, **fields)

    def to_dict(self) -> dict[str, Any]:
        """The fields as stored (without ``path``, ``origin`` and ``error``, which are added when read)."""
        return {k: v for k, v in self.raw.items() if k not in READ_FIELDS}

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
        """The KL weight it trained with (train_config.beta, stored once; TrainConfig's default 1
        when absent); None when the model has no KL term."""
        if not self.variational:
            return None
        value = self.train_config.get("beta")
        return float(1.0 if value is None else value)

    @property
    def is_kl_only(self) -> bool:
        """Trained on the KL term alone (reconstruction_weight 0)."""
        return self.train_config.get("reconstruction_weight", 1.0) == 0

    @property
    def input_noise(self) -> float:
        """The std of the Gaussian noise its inputs got while training (0: none)."""
        return float(self.model_config.get("input_noise") or 0.0)

    @property
    def is_denoiser(self) -> bool:
        """Trained to undo noise on its inputs (a denoising AE or VAE)."""
        return self.input_noise > 0

    @property
    def is_plain(self) -> bool:
        """The textbook model of its kind: trained on clean inputs, with a reconstruction term
        and, for a VAE, beta 1."""
        return not self.is_kl_only and not self.is_denoiser and (self.beta is None or self.beta == 1)

    @property
    def plain_rank(self) -> tuple:
        """Sorts the candidates for "the plain model of a kind" (smallest first): the textbook
        model (``is_plain``; else the beta nearest 1, a reconstruction term, clean inputs), shipped
        before trained or published, then the shortest name (mnist-vae-2 before mnist-vae-2-beta1)."""
        return (not self.is_plain, self.is_kl_only, self.is_denoiser, abs((1.0 if self.beta is None else self.beta) - 1.0),
                self.origin != "shipped", len(self.name), self.name)

    @property
    def error(self) -> str | None:
        """Why the checkpoint cannot be used, for a card listed although unreadable; else None."""
        return self.raw.get("error")

    @property
    def collapse(self) -> str | None:
        """Why its posterior collapsed (no active unit) and the fixes, or None (core/collapse.py)."""
        if not self.variational:
            return None
        return collapse_note((self.raw.get("metrics") or {}).get("kl_per_dim"), self.beta, self.is_kl_only)

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


# --------------------------------------------------------------------------- checking a card read from disk

_MODEL_CONFIG_FIELDS = {"kind", "image_shape", "latent_dim", "hidden", "architecture", "likelihood",
                        "gaussian_variance", "input_noise", "conv_stages"}


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def _is_text(v: Any) -> bool:
    return isinstance(v, str) and len(v) <= MAX_TEXT


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, bool) or _is_number(v) or _is_text(v)


def _is_measure(v: Any) -> bool:
    """A metric or a history value: a number, none, a label ("bernoulli"), or a list of numbers (per dimension)."""
    return _is_scalar(v) or (isinstance(v, list) and all(_is_number(x) or x is None for x in v))


def _mapping_of(check):
    return lambda v: isinstance(v, dict) and all(isinstance(k, str) and check(x) for k, x in v.items())


def _optional(check):
    return lambda v: v is None or check(v)


def _model_config_problem(config: Any) -> str | None:
    """What is wrong with a card's model_config, by type and size alone (core.models checks the rest)."""
    if not isinstance(config, dict):
        return f"model_config is a {type(config).__name__}, not an object"
    unknown = sorted(set(config) - _MODEL_CONFIG_FIELDS)
    if unknown:
        return f"unknown fields {unknown[:5]}"
    shape, hidden = config.get("image_shape"), config.get("hidden", [400, 200])
    checks = {
        "kind": (_is_text(config.get("kind")), "must be text"),
        "image_shape": (isinstance(shape, list) and len(shape) == 3 and all(map(_is_count, shape)),
                        "must be three positive integers"),
        "latent_dim": (_is_count(config.get("latent_dim")), "must be an integer >= 1"),
        "hidden": (isinstance(hidden, list) and len(hidden) <= MAX_HIDDEN_LAYERS and all(map(_is_count, hidden)),
                   f"must be at most {MAX_HIDDEN_LAYERS} positive integers"),
        "architecture": (_is_text(config.get("architecture", "")), "must be text"),
        "likelihood": (_is_text(config.get("likelihood", "")), "must be text"),
        "gaussian_variance": (_is_number(config.get("gaussian_variance", 1)), "must be a number"),
        "input_noise": (_is_number(config.get("input_noise", 0)), "must be a number"),
        "conv_stages": (config.get("conv_stages", 2) in (2, 4), "must be 2 or 4"),
    }
    for name, (ok, rule) in checks.items():
        if not ok:
            return f"{name}={str(config.get(name))[:60]} {rule}"
    return size_problem(architecture_of(config))


def architecture_of(config: dict[str, Any]) -> SimpleNamespace:
    """A checked model_config's fields as core.sizes reads them (ModelConfig's defaults filled in),
    for counting a card's parameters without importing torch."""
    shape, linear = tuple(config["image_shape"]), config["kind"] in ("pca", "linear-ae")
    return SimpleNamespace(
        kind=config["kind"], image_shape=shape, latent_dim=config["latent_dim"],
        hidden=() if linear else tuple(config.get("hidden", (400, 200))),
        architecture=config.get("architecture", "mlp"), conv_stages=config.get("conv_stages", 2),
        num_pixels=shape[0] * shape[1] * shape[2])


# What a card's fields must be, for the ones the app reads; other fields pass as they are
# (their size and nesting are bounded when the file is read).
_CARD_FIELDS = {
    "name": _is_text, "kind": lambda v: v in KIND_LABELS, "title": _optional(_is_text), "description": _optional(_is_text),
    "sweep": _optional(_is_text), "command": _optional(_is_text), "created": _optional(_is_text),
    "weights_sha256": _optional(_is_text), "precision": _optional(_is_text), "format_version": _is_count,
    "epochs": _optional(_is_number), "best_epoch": _optional(_is_number),
    "dataset": _mapping_of(lambda v: _is_scalar(v) or isinstance(v, (list, dict))),
    "train_config": _mapping_of(_is_scalar),
    "metrics": _mapping_of(_is_measure),
    "history": lambda v: isinstance(v, list) and all(_mapping_of(_is_measure)(e) for e in v),
    "seeds": _optional(lambda v: isinstance(v, dict)), "pretrain": _optional(lambda v: isinstance(v, dict)),
}


def card_problem(raw: Any) -> str | None:
    """Why a card read from disk cannot be used, as the rest of a sentence that starts with the
    card's name ("has an invalid model_config: ..."), or None. Checked before anything trusts a
    card: listings skip a card with a problem and name it; nothing is built from it."""
    if not isinstance(raw, dict) or "model_config" not in raw:
        return "has no 'model_config'; it is not a checkpoint card"
    bad = [key for key, check in _CARD_FIELDS.items() if key in raw and not check(raw[key])]
    if bad:
        rule = {"metrics": "metrics must map names to numbers", "history": "a list of mappings of names to numbers",
                "kind": f"one of {tuple(KIND_LABELS)}"}.get(bad[0], f"not a {type(raw[bad[0]]).__name__}")
        return f"has a field {bad[0]!r} of the wrong type or size ({rule})"
    dataset = raw.get("dataset") or {}
    size = dataset.get("image_size")
    if size is not None and not (isinstance(size, list) and len(size) == 2 and all(map(_is_count, size))):
        return "has a dataset.image_size that is not two positive integers"
    if not all(_is_text(dataset.get(k, "")) for k in ("name", "path")):
        return "has a dataset name or path that is not text"
    problem = _model_config_problem(raw["model_config"])
    return None if problem is None else f"has an invalid model_config: {problem}"


def within_card_size(card: dict[str, Any]) -> dict[str, Any]:
    """The card, small enough for readers (MAX_CARD_BYTES as saved): a long history keeps every
    k-th epoch and the last one (``history_every``: k). ValueError when it is too large anyway."""
    history, step = card.get("history"), 1
    room = MAX_CARD_BYTES - 1_000  # the weights' hash is added when the card is written
    while len(json.dumps(card, indent=1)) > room:
        if not isinstance(history, list) or step >= len(history):
            raise ValueError(f"the card would take more than {MAX_CARD_BYTES:,} bytes; it is not saved")
        step *= 2
        kept = history[::step] + ([history[-1]] if (len(history) - 1) % step else [])
        card = {**card, "history": kept, "history_every": step}
    return card


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


__all__ = ["KIND_LABELS", "MAX_CARD_BYTES", "Card", "architecture_of", "card_problem", "within_card_size", "beta_suffix", "beta_text", "relative_paths"]
