"""Checkpoints: NAME.safetensors (tensors) + NAME.json (the card), no pickle, never mixed up.

The card carries everything needed to rebuild the model (its ModelConfig) and to judge
it (dataset, training config and history, test metrics, versions, the command that
rebuilds it). Loading never runs code from the file: safetensors holds raw tensors only,
and pickled formats (.pt, .pth, .pkl, .ckpt) are refused.

Format version 2 (version 1 cards, as first shipped, still load):

* The weights' safetensors metadata holds the card's ``model_config`` and ``train_config``
  (canonical JSON); the card holds the SHA-256 of the weights file, so an edited card
  (a flipped likelihood, say) no longer matches its weights and is refused on load.
* Paths in a card are relative: ``dataset.path`` is relative to the checkpoint's folder,
  and absolute paths in any other text (the dataset's source, the command) are cut down
  to their file name (see ``relative_paths``).

Saving writes the new weights to a temp file in the folder (fsync'ed), hashes *that file*, and
writes the card with that hash to another temp file; then, holding an exclusive ``fcntl.flock``
on the checkpoint's folder itself (nothing is left on disk; the lock goes with its holder, even a
killed one), it

    1. finishes or undoes a save of that name that was killed (``_recover``);
    2. renames NAME.safetensors to .NAME.prev.safetensors (the old card's weights stay on disk);
    3. renames the new weights to NAME.safetensors, then the new card to NAME.json: the commit point;
    4. removes .NAME.prev.safetensors.

``load_checkpoint`` reads a card and its weights under a shared lock on the folder, so it never
sees a save half done. Only a killed save leaves one: the old card, whose weights are then in
.NAME.prev.safetensors, where a reader looks when NAME.safetensors does not match. A save that
fails before its commit puts the old weights back at once.

A single file (the card in the safetensors metadata, one rename) would commit both at once, but
the card is edited after a save (scripts/seed_spread.py, scripts/record_quadrature.py) while the
weights, whose SHA-256 keys the stored codes and the draws measured, must stay byte for byte.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, NamedTuple

from core.atomicfile import temp_file_beside
from core.card import MAX_CARD_BYTES, Card, architecture_of, card_problem, relative_paths, within_card_size
from core.safefile import (
    MAX_SAFETENSORS_HEADER,
    UntrustedFileError,
    load_json,
    read_regular,
    read_safetensors,
    safetensors_metadata,
)
from core.sizes import FLOAT_BYTES, parameter_count

if TYPE_CHECKING:  # torch is imported by the functions that need it: reading cards must not wait for it
    from core.models import LatentModel

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
PICKLED_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin", ".joblib")
PRECISIONS = ("float32", "float16")
COVERED_CONFIGS = ("model_config", "train_config")  # stored with the weights, compared on load


class CheckpointError(ValueError):
    """A checkpoint is missing, refused, truncated or does not match its card."""


class Checkpoint(NamedTuple):
    model: LatentModel
    card: Card


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


def _previous_weights(weights_path: Path) -> Path:
    """.NAME.prev.safetensors: the old weights, kept while a save replaces them."""
    return weights_path.with_name(f".{weights_path.name[: -len('.safetensors')]}.prev.safetensors")


@contextlib.contextmanager
def _folder_lock(folder: Path, shared: bool = False) -> Iterator[None]:
    """Hold fcntl.flock on ``folder`` itself: exclusive for a save's renames, shared for reading a
    card and its weights (one lock per open, so threads exclude each other too)."""
    import fcntl

    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        if not shared:
            raise
        fd = None  # a folder a reader cannot open (or none): nothing there to commit or to read
    try:
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        if fd is not None:
            os.close(fd)  # releases the lock


def _sha256(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


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
    overwrite: bool = True,
) -> dict[str, Any]:
    """Save weights and card (the protocol in the module docstring); returns the card as written.

    ``card`` holds the caller's facts (dataset, train_config, history, metrics, command);
    kind, model_config, precision, versions, date and the weights' hash are added here, and
    paths are made relative (``relative_paths``). float16 storage (each value rounded to the
    nearest float16) halves the size. ``overwrite=False`` refuses (CheckpointError) when
    a checkpoint of that name exists, checked under the lock.
    """
    import torch
    from safetensors.torch import save_file

    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} is not one of {PRECISIONS}")
    weights_path, card_path = checkpoint_paths(path)
    name = weights_path.name[: -len(".safetensors")]
    if not name or name.startswith("."):
        raise CheckpointError(f"{path}: a checkpoint name must not be empty or start with '.'")
    dtype = torch.float16 if precision == "float16" else torch.float32
    tensors = {
        k: (v.detach().to("cpu", dtype) if v.is_floating_point() else v.detach().cpu()).contiguous()
        for k, v in model.state_dict().items()
    }
    if not tensors:
        raise ValueError("the model has no tensors to save")
    full_card = dict(card or {})
    for key in ("path", "origin", "weights_sha256", "error"):  # added when read, never stored
        full_card.pop(key, None)
    full_card.update(
        format_version=FORMAT_VERSION,
        name=name,
        kind=model.config.kind,
        model_config=model.config.to_dict(),
        precision=precision,
        versions=software_versions(),
        created=full_card.get("created") or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    )
    # A card that cannot be stored fails here, before anything is written.
    full_card = relative_paths(json.loads(json.dumps(full_card, default=_json_default)), weights_path.parent)
    full_card = within_card_size(full_card)
    metadata = {"format": "latent-explorer", "format_version": str(FORMAT_VERSION)}
    metadata.update({k: _canonical(full_card[k]) for k in COVERED_CONFIGS if k in full_card})
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    _commit(weights_path, card_path, full_card, lambda tmp: save_file(tensors, tmp, metadata=metadata), overwrite)
    return full_card


def _commit(weights_path: Path, card_path: Path, card: dict[str, Any], write_weights, overwrite: bool) -> None:
    """Steps 1-4 of the save; the renames under the folder's lock, the old pair put back if they fail."""
    temps = [temp_file_beside(weights_path, write_weights)]
    try:
        card["weights_sha256"] = _sha256(temps[0])  # the hash of the file that will be renamed
        text = json.dumps(card, indent=1, sort_keys=False)
        temps.append(temp_file_beside(card_path, lambda tmp: Path(tmp).write_text(text)))
        with _folder_lock(weights_path.parent):
            _recover(weights_path, card_path)
            if not overwrite and (weights_path.exists() or card_path.exists()):
                raise CheckpointError(f"{card_path.with_suffix('')} already exists; refusing to replace it")
            try:
                if weights_path.exists():
                    os.replace(weights_path, _previous_weights(weights_path))
                os.replace(temps[0], weights_path)
                os.replace(temps[1], card_path)  # the commit point
            except BaseException:
                _recover(weights_path, card_path)
                raise
            _previous_weights(weights_path).unlink(missing_ok=True)
    finally:
        for tmp in temps:  # renamed away, or this save's leftovers
            tmp.unlink(missing_ok=True)


def _recover(weights_path: Path, card_path: Path) -> None:
    """Finish or undo a save that stopped between its renames (the caller holds the lock): the old
    weights in .NAME.prev go back unless the card on disk names the weights at NAME.safetensors."""
    prev = _previous_weights(weights_path)
    if not prev.exists():
        return
    try:
        committed = weights_path.exists() and read_card(card_path).get("weights_sha256") == _sha256(weights_path)
    except CheckpointError:
        committed = False
    if committed:
        prev.unlink()
    else:
        os.replace(prev, weights_path)


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in a checkpoint card")


def read_card(path: str | Path) -> Card:
    """The card of checkpoint ``path``, read as untrusted input: a regular file (never a FIFO, a
    device or a symbolic link) under MAX_CARD_BYTES, JSON of bounded depth, fields of the right
    types and a model_config within the size caps (``core.card.card_problem``); else CheckpointError.
    The one place a NAME.json is parsed; the Card knows its ``path`` (dir/NAME)."""
    _, card_path = checkpoint_paths(path)
    try:
        card = load_json(read_regular(card_path, MAX_CARD_BYTES, f"checkpoint card {card_path}"),
                         f"checkpoint card {card_path}")
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint card {card_path} is missing (a checkpoint is NAME.safetensors + NAME.json)") from None
    except (UntrustedFileError, OSError) as err:
        raise CheckpointError(str(err)) from None
    if problem := card_problem(card):
        raise CheckpointError(f"checkpoint card {card_path} {problem}")
    return Card.from_dict(card, path=str(card_path.with_suffix("")))


def load_checkpoint(path: str | Path, verify_hash: bool = True) -> Checkpoint:
    """Rebuild the model from its card and load the weights (as float32, on the CPU).

    The weights are read once, hashed and parsed from the same bytes; a card whose hash,
    model_config or train_config does not match its weights is refused (CheckpointError).
    ``verify_hash=False`` skips those two checks (the tensors' names and shapes are still checked).
    """
    weights_path, card_path = checkpoint_paths(path)
    with _folder_lock(weights_path.parent, shared=True):  # no save commits between the two reads
        card = read_card(path)
        version = card.get("format_version", 1)
        if version not in READABLE_VERSIONS:
            raise CheckpointError(f"checkpoint card {card_path} has format_version {version!r}; this version "
                                  f"reads {', '.join(map(str, READABLE_VERSIONS))} (update latent explorer)")
        data = _matching_weights(weights_path, card_path, card, verify_hash)
    if data is None:
        raise CheckpointError(
            f"{weights_path} does not match its card {card_path} (different SHA-256): "
            "the files come from different saves or the weights are damaged"
        )
    return Checkpoint(_build(data, card, card_path, weights_path, verify_hash), card)


def weights_limit(card: Card) -> int:
    """The most bytes a checked card's weights may take: its model's values in float32, plus the header."""
    return FLOAT_BYTES * parameter_count(architecture_of(card["model_config"])) + 8 + MAX_SAFETENSORS_HEADER


def read_weights(weights_path: Path, card: Card) -> bytes:
    """The bytes of a checkpoint's weights file, read as untrusted input (``core.safefile.read_safetensors``):
    a regular file, exactly as long as its header announces, and no larger than the card's model needs."""
    try:
        return read_safetensors(weights_path, weights_limit(card), f"checkpoint weights {weights_path}")
    except UntrustedFileError as err:
        raise CheckpointError(str(err)) from None


def _matching_weights(weights_path: Path, card_path: Path, card: Card, verify_hash: bool) -> bytes | None:
    """The bytes of the weights the card names (NAME.safetensors, or .NAME.prev during a save);
    None when neither matches its hash."""
    prev = _previous_weights(weights_path)
    wanted = card.get("weights_sha256") if verify_hash else None
    for candidate in (weights_path, prev):
        try:
            data = read_weights(candidate, card)
        except FileNotFoundError:
            if candidate == weights_path and not prev.exists():
                raise CheckpointError(
                    f"checkpoint weights {weights_path} are missing (its card {card_path} exists)"
                ) from None
            continue
        except OSError as err:
            raise CheckpointError(f"cannot read checkpoint weights {candidate}: {err}") from err
        if not wanted or hashlib.sha256(data).hexdigest() == wanted:
            return data
    return None


def _check_covered(data: bytes, card: Card, card_path: Path, weights_path: Path) -> None:
    """The card's model_config and train_config must equal those stored with the weights
    (format 2; version 1 weights store none)."""
    try:
        meta = safetensors_metadata(data, f"checkpoint weights {weights_path}")
    except UntrustedFileError as err:
        raise CheckpointError(str(err)) from None
    for key in COVERED_CONFIGS:
        if key not in meta:
            if card.get("format_version", 1) >= 2 and key in card:
                raise CheckpointError(f"{weights_path} stores no {key} although its card {card_path} is "
                                      "format 2; the weights are not from this card's save: refused")
            continue
        try:
            stored = load_json(meta[key], f"{weights_path}: its stored {key}")
        except UntrustedFileError as err:
            raise CheckpointError(str(err)) from None
        if _canonical(card.get(key)) != _canonical(stored):
            raise CheckpointError(
                f"the {key} of card {card_path} differs from the one saved with its weights ({_diff(card.get(key), stored)}): "
                "the card was edited or belongs to other weights; refused"
            )


def _diff(card_value: Any, stored: Any) -> str:
    if isinstance(card_value, dict) and isinstance(stored, dict):
        keys = sorted(k for k in set(card_value) | set(stored) if card_value.get(k) != stored.get(k))
        return "; ".join(f"{k}: {card_value.get(k)!r} in the card, {stored.get(k)!r} with the weights" for k in keys[:4])
    return f"{card_value!r} in the card, {stored!r} with the weights"


def _build(data: bytes, card: Card, card_path: Path, weights_path: Path, verify: bool) -> LatentModel:
    from safetensors import SafetensorError
    from safetensors.torch import load as load_bytes

    from core.models import ModelConfig, build_model

    try:
        config = ModelConfig.from_dict(card["model_config"])
        model = build_model(config)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"checkpoint card {card_path} has an invalid model_config: {err}") from err
    if verify:
        _check_covered(data, card, card_path, weights_path)
    try:
        tensors = load_bytes(data)
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
    return model


def check_weights(path: str | Path, card: Card) -> None:
    """CheckpointError unless the weights of checkpoint ``path`` are what its (checked) card names:
    a regular file of the size its header announces, with the card's hash and configs. Reads the
    file once; builds nothing and imports no torch."""
    weights_path, card_path = checkpoint_paths(path)
    data = _matching_weights(weights_path, card_path, card, verify_hash=True)
    if data is None:
        raise CheckpointError(f"{weights_path.name} does not match its card (different SHA-256)")
    _check_covered(data, card, card_path, weights_path)


def list_checkpoints(folder: str | Path, check: bool = False) -> list[Card]:
    """The cards of every checkpoint in ``folder``, sorted by name, each with its ``path``.

    A card that cannot be read (missing, not a regular file, too large, too deep, of the wrong
    types) is listed as a Card of its name with ``error`` saying why, instead of hiding it or
    stopping the list; ``check`` also reads the weights (``check_weights``) and lists them with
    an ``error`` when they do not fit the card.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    cards = []
    for card_path in sorted(folder.glob("*.json")):
        stem = card_path.with_suffix("")
        try:
            with _folder_lock(folder, shared=True):  # a card and its weights from the same save
                card = read_card(stem)
                if check:
                    check_weights(stem, card)
        except CheckpointError as err:
            card = Card.from_dict({"name": stem.name, "error": str(err)}, path=str(stem))
        cards.append(card)
    return cards
