"""Codes beside checkpoints (core/codes.py) and the numpy decoder (core/npdecode.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core.checkpoints import load_checkpoint, save_checkpoint
from core.codes import (
    MAX_CODES, codes_path, encode_test_set, load_codes, load_codes_for, save_codes,
)
from core.data import Dataset
from core.models import ModelConfig, build_model
from core.npdecode import load_numpy_decoder, prior_codes
from explorer.logic import images

SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints"


def tiny_dataset(n_test: int = 50, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    return Dataset("tiny", rng.random((20, 1, 6, 6), dtype=np.float32), rng.integers(0, 3, 20),
                   rng.random((n_test, 1, 6, 6), dtype=np.float32), rng.integers(0, 3, n_test), ["a", "b", "c"], "test")


def saved_model(tmp_path: Path, kind: str = "vae", seed: int = 0) -> tuple[Path, object, dict]:
    torch.manual_seed(seed)
    model = build_model(ModelConfig(kind, (1, 6, 6), 2, hidden=(8,)))
    path = tmp_path / f"m-{kind}"
    card = save_checkpoint(model, path, {"dataset": {"name": "tiny"}})
    return path, load_checkpoint(path).model, card


@pytest.mark.parametrize("kind", ["vae", "ae", "pca", "linear-ae"])
def test_saved_codes_are_the_encoded_test_set_in_float16(tmp_path, kind):
    path, model, card = saved_model(tmp_path, kind)
    data = tiny_dataset()
    target = save_codes(model, data, path, card)
    assert target == codes_path(path) == tmp_path / f"m-{kind}.codes.safetensors"
    stored = load_codes_for(path, data)
    assert stored is not None
    means, logvars = encode_test_set(model, data.test_images)
    np.testing.assert_allclose(stored.means, means, rtol=2e-3, atol=2e-3)
    assert (stored.logvars is None) == (kind != "vae")
    if logvars is not None:
        np.testing.assert_allclose(stored.logvars, logvars, rtol=2e-3, atol=2e-3)
    assert stored.labels.dtype == np.int64 and np.array_equal(stored.labels, data.test_labels)
    assert not stored.means.flags.writeable
    assert stored.metadata["weights_sha256"] == card["weights_sha256"] and stored.metadata["n"] == "50"


def test_codes_are_limited_to_the_first_test_images(tmp_path):
    path, model, card = saved_model(tmp_path)
    data = tiny_dataset(n_test=30)
    save_codes(model, data, path, card, limit=10)
    stored = load_codes(codes_path(path))
    assert len(stored.means) == 10 and stored.metadata["n_test"] == "30"
    assert load_codes_for(path, data) is not None  # a prefix of the same test images
    assert MAX_CODES == 10_000


def test_stale_codes_are_ignored(tmp_path):
    path, model, card = saved_model(tmp_path)
    data = tiny_dataset()
    save_codes(model, data, path, card)
    assert load_codes_for(path, tiny_dataset(seed=1)) is None  # other test images on this machine
    assert load_codes_for(path, tiny_dataset(n_test=60)) is None
    save_checkpoint(build_model(ModelConfig("vae", (1, 6, 6), 2, hidden=(8,))), path, {"dataset": {"name": "tiny"}})
    assert load_codes_for(path, data) is None  # the checkpoint was rebuilt: other weights
    assert load_codes_for(tmp_path / "missing") is None


def test_damaged_codes_count_as_none(tmp_path):
    path, model, card = saved_model(tmp_path)
    save_codes(model, tiny_dataset(), path, card)
    codes_path(path).write_bytes(codes_path(path).read_bytes()[:40])
    assert load_codes_for(path) is None


@pytest.mark.parametrize("kind", ["vae", "ae", "pca", "linear-ae"])
def test_numpy_decoder_matches_torch(tmp_path, kind):
    path, model, _ = saved_model(tmp_path, kind)
    decoder = load_numpy_decoder(path)
    z = prior_codes(7, 2, seed=3)
    with torch.no_grad():
        expected = model.decode(torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(decoder.decode(z), expected, atol=1e-5)


def test_numpy_decoder_refuses_conv_and_damaged_weights(tmp_path):
    model = build_model(ModelConfig("vae", (1, 28, 28), 2, hidden=(16,), architecture="conv"))
    save_checkpoint(model, tmp_path / "conv", {})
    assert load_numpy_decoder(tmp_path / "conv") is None
    path, _, _ = saved_model(tmp_path)
    weights = path.with_name(path.name + ".safetensors")
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    assert load_numpy_decoder(path) is None  # the card's SHA-256 no longer matches


def test_shipped_codes_are_fresh_and_small():
    cards = sorted(SHIPPED.glob("*.json"))
    if not cards:
        pytest.skip("no shipped checkpoints")
    total = 0
    for card_path in cards:
        codes = codes_path(card_path.with_suffix(""))
        if not codes.exists():
            continue
        stored = load_codes(codes)
        assert stored.metadata["weights_sha256"] == json.loads(card_path.read_text())["weights_sha256"], \
            f"{codes.name} is stale: run `python -m scripts.build_codes`"
        total += codes.stat().st_size
    assert total < 8 * 2**20  # 10,000 float16 codes per model; the 16-D sweep's are 0.65 MB each


def test_tile_matches_make_grid():
    make_grid = pytest.importorskip("torchvision.utils").make_grid
    rng = np.random.default_rng(0)
    for n, c, ncols, padding in [(48, 1, 8, 1), (9, 1, 3, 0), (5, 3, 2, 2), (1, 1, 4, 1), (3, 3, 8, 1)]:
        x = rng.random((n, c, 5, 4), dtype=np.float32)
        grid = make_grid(torch.from_numpy(x), nrow=ncols, padding=padding, pad_value=1.0).permute(1, 2, 0).numpy()
        expected = grid[..., 0] if c == 1 else grid
        assert np.array_equal(images.tile(x, ncols, padding), expected)
        assert np.array_equal(images.tile(torch.from_numpy(x), ncols, padding), expected)
