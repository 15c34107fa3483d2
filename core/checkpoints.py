"""Checkpoints: NAME.safetensors (tensors) + NAME.json (the card), atomic, no pickle.

The card carries everything needed to rebuild the model (its ModelConfig) and to judge
it (dataset, training config and history, test metrics, versions, the command that
rebuilds it). Loading never runs code from the file: safetensors holds raw tensors only,
and pickled formats (.pt, .pth, .pkl, .ckpt) are refused.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:  # torch is imported by the functions that need it: reading cards must not wait for it
    from core.models import LatentModel

FORMAT_VERSION = 1
PICKLED_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin", ".joblib")
PRECISIONS = ("float32", "float16")


class CheckpointError(ValueError):
    """A checkpoint is missing, refused, truncated or does not match its card."""


class Checkpoint(NamedTuple):
    model: LatentModel
    card: dict[str, Any]


def checkpoint_paths(path: str | Path) -> tuple[Path, Path]:
    """(weights, card) paths for 'dir/NAME', 'dir/NAME.json' or 'dir/NAME.safetensors'."""
    path = Path(path)
    if path.suffix.lower() in PICKLED_SUFFIXES:
        raise CheckpointError(
            f"{path} is a pickled file format; it is refused because unpickling can run arbitrary code. "
            "Checkpoints here are NAME.safetensors + NAME.json (train one with `python -m core train`)."
        )
    if path.suffix in (".json", ".safetensors"):
        path = path.with_suffix("")
    return path.with_name(path.name + ".safetensors"), path.with_name(path.name + ".json")


def _atomic_write(target: Path, write) -> None:
    """Write through a temp file in the same folder, then rename: readers never see half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a checkpoint is an ordinary readable file
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _sha256(path: Path | str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def software_versions() -> dict[str, str]:
    import numpy
    import sklearn
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "scikit-learn": sklearn.__version__,
    }


def save_checkpoint(
    model: LatentModel,
    path: str | Path,
    card: dict[str, Any] | None = None,
    precision: str = "float32",
) -> dict[str, Any]:
    """Save weights and card atomically; returns the card as written.

    ``card`` holds the caller's facts (dataset, train_config, history, metrics, command);
    kind, model_config, precision, versions, date and the weights' hash are added here.
    float16 storage halves the size; decoded images stay within ~1e-3 of float32.
    """
    import torch
    from safetensors.torch import save_file

    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} is not one of {PRECISIONS}")
    weights_path, card_path = checkpoint_paths(path)
    dtype = torch.float16 if precision == "float16" else torch.float32
    tensors = {
        k: (v.detach().to("cpu", dtype) if v.is_floating_point() else v.detach().cpu()).contiguous()
        for k, v in model.state_dict().items()
    }
    if not tensors:
        raise ValueError("the model has no tensors to save")
    full_card = dict(card or {})
    full_card.update(
        format_version=FORMAT_VERSION,
        name=weights_path.name[: -len(".safetensors")],
        kind=model.config.kind,
        model_config=model.config.to_dict(),
        precision=precision,
        versions=software_versions(),
        created=full_card.get("created") or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    )
    # A card that cannot be stored must fail before the weights are replaced (else the old
    # card would be left describing new weights).
    json.dumps(full_card, default=_json_default)
    # Weights first; the card (with the weights' hash) last, so a card always describes
    # weights that are complete on disk.
    _atomic_write(weights_path, lambda tmp: save_file(tensors, tmp, metadata={"format": "latent-explorer"}))
    full_card["weights_sha256"] = _sha256(weights_path)
    text = json.dumps(full_card, indent=1, sort_keys=False, default=_json_default)
    _atomic_write(card_path, lambda tmp: Path(tmp).write_text(text))
    return full_card


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in a checkpoint card")


def read_card(path: str | Path) -> dict[str, Any]:
    _, card_path = checkpoint_paths(path)
    if not card_path.exists():
        raise CheckpointError(f"checkpoint card {card_path} is missing (a checkpoint is NAME.safetensors + NAME.json)")
    try:
        card = json.loads(card_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"checkpoint card {card_path} is not valid JSON ({err}); it may be truncated") from err
    if not isinstance(card, dict) or "model_config" not in card:
        raise CheckpointError(f"checkpoint card {card_path} has no 'model_config'; it is not a checkpoint card")
    return card


def load_checkpoint(path: str | Path, verify_hash: bool = True) -> Checkpoint:
    """Rebuild the model from its card and load the weights (as float32, on the CPU)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from core.models import ModelConfig, build_model

    weights_path, card_path = checkpoint_paths(path)
    card = read_card(path)
    if not weights_path.exists():
        raise CheckpointError(f"checkpoint weights {weights_path} are missing (its card {card_path} exists)")
    if verify_hash and card.get("weights_sha256") and _sha256(weights_path) != card["weights_sha256"]:
        raise CheckpointError(
            f"{weights_path} does not match its card {card_path} (different SHA-256): "
            "the files come from different saves or the weights are damaged"
        )
    try:
        config = ModelConfig.from_dict(card["model_config"])
        model = build_model(config)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"checkpoint card {card_path} has an invalid model_config: {err}") from err
    try:
        tensors = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"checkpoint weights {weights_path} are truncated or corrupt: {err}") from err
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{weights_path} does not fit the {config.kind} described by {card_path}: "
            f"missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    for key, value in tensors.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise CheckpointError(
                f"{weights_path}: tensor {key!r} has shape {tuple(value.shape)}, "
                f"the card's model_config needs {tuple(expected[key].shape)}"
            )
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in tensors.items()})
    model.eval()
    return Checkpoint(model, card)


def list_checkpoints(folder: str | Path) -> list[dict[str, Any]]:
    """The cards of every checkpoint in ``folder``, sorted by name, each with its 'path'.

    A card that cannot be read is listed with an 'error' field instead of hiding it.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    cards = []
    for card_path in sorted(folder.glob("*.json")):
        stem = card_path.with_suffix("")
        try:
            card = read_card(stem)
        except CheckpointError as err:
            card = {"name": stem.name, "error": str(err)}
        card["path"] = str(stem)
        cards.append(card)
    return cards
