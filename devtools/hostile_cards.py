"""Hostile checkpoints, one builder per attack on a folder of published cards (all cheap: no
file here is over a few MB, and none is read whole by the code under test). Used by
tests/test_untrusted_cards.py and bench/bench_hostile_cards.py.

    good_checkpoint(folder, name)     a real small AE checkpoint (the pattern every attack copies)
    ATTACKS                           name -> builder(folder, name), each writing checkpoint NAME
    ATTACK_CLASSES                    the attack names by class (not a regular file, too large, JSON, size)
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path

import torch

from core.checkpoints import save_checkpoint
from core.models import ModelConfig, build_model


def good_checkpoint(folder: Path, name: str = "good") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    save_checkpoint(build_model(ModelConfig("ae", (1, 8, 8), 2, hidden=(8,))), folder / name,
                    {"dataset": {"name": "digits"}, "metrics": {"mse": 0.1}})
    return folder / name


def _card(folder: Path) -> dict:
    return json.loads((folder / "good.json").read_text())


def _with_card(folder: Path, name: str, card: dict | str | bytes) -> None:
    """NAME.json with ``card`` and NAME.safetensors a copy of good's weights."""
    shutil.copy(folder / "good.safetensors", folder / f"{name}.safetensors")
    data = card if isinstance(card, (str, bytes)) else json.dumps(card)
    (folder / f"{name}.json").write_bytes(data if isinstance(data, bytes) else data.encode())


def _changed(folder: Path, checkpoint: str, **fields) -> None:
    card = _card(folder)
    card.update(fields)
    _with_card(folder, checkpoint, card)


def _changed_config(folder: Path, name: str, **fields) -> None:
    card = _card(folder)
    card["model_config"].update(fields)
    _with_card(folder, name, card)


def _weights(folder: Path, name: str, data: bytes) -> None:
    shutil.copy(folder / "good.json", folder / f"{name}.json")
    (folder / f"{name}.safetensors").write_bytes(data)


def safetensors_bytes(header: dict, data: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def _fifo_card(folder: Path, name: str) -> None:
    shutil.copy(folder / "good.safetensors", folder / f"{name}.safetensors")
    os.mkfifo(folder / f"{name}.json")


def _fifo_weights(folder: Path, name: str) -> None:
    shutil.copy(folder / "good.json", folder / f"{name}.json")
    os.mkfifo(folder / f"{name}.safetensors")


def _symlink(target: str, suffix: str):
    def build(folder: Path, name: str) -> None:
        other = ".safetensors" if suffix == ".json" else ".json"
        shutil.copy(folder / f"good{other}", folder / f"{name}{other}")
        os.symlink(target if target.startswith("/") else folder / target, folder / f"{name}{suffix}")
    return build


def _folder_card(folder: Path, name: str) -> None:
    shutil.copy(folder / "good.safetensors", folder / f"{name}.safetensors")
    (folder / f"{name}.json").mkdir()


def _padded_weights(folder: Path, name: str) -> None:
    _weights(folder, name, (folder / "good.safetensors").read_bytes() + bytes(3 * 10**6))


def _header_announcing_a_terabyte(folder: Path, name: str) -> None:
    _weights(folder, name, safetensors_bytes({"w": {"dtype": "F32", "shape": [250_000_000_000],
                                                    "data_offsets": [0, 10**12]}}, bytes(64)))


def _weights_larger_than_the_card_allows(folder: Path, name: str) -> None:
    """A real safetensors file, consistent with its header, 2 MB: far more than an 8x8 AE needs."""
    _weights(folder, name, safetensors_bytes({"w": {"dtype": "F32", "shape": [500_000],
                                                    "data_offsets": [0, 2_000_000]}}, bytes(2_000_000)))


def _huge_header_length(folder: Path, name: str) -> None:
    _weights(folder, name, struct.pack("<Q", 2**63) + b"{}")


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


ATTACKS = {
    # not a regular file
    "fifo-card": _fifo_card,
    "fifo-weights": _fifo_weights,
    "card-to-dev-zero": _symlink("/dev/zero", ".json"),
    "weights-to-dev-zero": _symlink("/dev/zero", ".safetensors"),
    "card-symlink": _symlink("good.json", ".json"),
    "card-is-a-folder": _folder_card,
    # too large
    "card-5mb": lambda f, n: _changed(f, n, description="x" * 5_000_000),
    "weights-padded": _padded_weights,
    "weights-header-says-1tb": _header_announcing_a_terabyte,
    "weights-over-the-card": _weights_larger_than_the_card_allows,
    "weights-header-length-2-63": _huge_header_length,
    # JSON depth and types
    "deep-100000": lambda f, n: _with_card(f, n, _deep(100_000)),
    "deep-in-a-field": lambda f, n: _changed(f, n, description=json.loads(_deep(100))),
    "metrics-list": lambda f, n: _changed(f, n, metrics=[1, 2, 3]),
    "metrics-of-objects": lambda f, n: _changed(f, n, metrics={"mse": {"a": 1}}),
    "history-object": lambda f, n: _changed(f, n, history={"epoch": 1}),
    "name-object": lambda f, n: _changed(f, n, name={"a": 1}),
    "kind-unknown": lambda f, n: _changed(f, n, kind="gan"),
    "model-config-text": lambda f, n: _changed(f, n, model_config="vae"),
    "hidden-text": lambda f, n: _changed_config(f, n, hidden=["a"]),
    "image-size-text": lambda f, n: _changed(f, n, dataset={"name": "digits", "image_size": "big"}),
    "not-utf8": lambda f, n: _with_card(f, n, b"\xff\xfe{}"),
    "card-a-list": lambda f, n: _with_card(f, n, "[1, 2]"),
    # sizes announced by a consistent card
    "hidden-40000": lambda f, n: _changed_config(f, n, hidden=[40_000, 40_000], image_shape=[1, 28, 28]),
    "image-2000x2000": lambda f, n: _changed_config(f, n, image_shape=[1, 2000, 2000]),
    "hidden-10-to-the-30": lambda f, n: _changed_config(f, n, hidden=[10**30]),
}

ATTACK_CLASSES = {
    "not a regular file": ["fifo-card", "fifo-weights", "card-to-dev-zero", "weights-to-dev-zero", "card-symlink",
                           "card-is-a-folder"],
    "too large": ["card-5mb", "weights-padded", "weights-header-says-1tb", "weights-over-the-card",
                  "weights-header-length-2-63"],
    "JSON depth and types": ["deep-100000", "deep-in-a-field", "metrics-list", "metrics-of-objects", "history-object",
                             "name-object", "kind-unknown", "model-config-text", "hidden-text", "image-size-text",
                             "not-utf8", "card-a-list"],
    "model size from the card": ["hidden-40000", "image-2000x2000", "hidden-10-to-the-30"],
}

# The attacks that spoil only the weights: the card itself reads fine.
WEIGHTS_ATTACKS = ("fifo-weights", "weights-to-dev-zero", "weights-padded", "weights-header-says-1tb",
                   "weights-over-the-card", "weights-header-length-2-63")


def hostile_folder(folder: Path, names=tuple(ATTACKS)) -> Path:
    """``folder`` with the good checkpoint and one checkpoint per attack, named after it."""
    good_checkpoint(folder)
    for name in names:
        ATTACKS[name](folder, name)
    return folder
