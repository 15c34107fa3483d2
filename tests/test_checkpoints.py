"""Tests of core.checkpoints: save -> load is exact for every model kind, pickles are refused,
damaged or mismatched files give clear errors, writes are atomic, list_checkpoints."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest
import safetensors.torch
import torch

from core.checkpoints import (
    CheckpointError,
    checkpoint_paths,
    list_checkpoints,
    load_checkpoint,
    read_card,
    save_checkpoint,
)
from core.data import load_dataset
from core.models import MODEL_KINDS, ModelConfig, build_model

SHAPE = (1, 8, 8)


@pytest.fixture(scope="module")
def digits_x() -> torch.Tensor:
    return torch.from_numpy(load_dataset("digits").train_images[:200])


def make_model(kind: str, latent_dim: int = 3, seed: int = 0, x: torch.Tensor | None = None, **config):
    torch.manual_seed(seed)
    model = build_model(ModelConfig(kind, SHAPE, latent_dim, **config))
    if kind == "pca":
        model.fit_closed_form(x if x is not None else torch.rand(100, *SHAPE))
    else:
        with torch.no_grad():  # move every weight off its initial value, biases included
            for p in model.parameters():
                p.add_(0.05 * torch.randn_like(p))
    return model.eval()


def files_in(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def data_bytes(path) -> int:
    """Bytes of a safetensors file's tensors (its size less the JSON header)."""
    raw = path.read_bytes()
    return len(raw) - 8 - int.from_bytes(raw[:8], "little")


# --------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_save_load_is_exact_in_float32(tmp_path, digits_x, kind):
    model = make_model(kind, x=digits_x)
    card = save_checkpoint(model, tmp_path / "m", {"dataset": {"name": "digits"}})
    loaded, loaded_card = load_checkpoint(tmp_path / "m")
    assert type(loaded) is type(model)
    assert loaded.config == model.config
    assert not loaded.training
    # Every weight, bit for bit.
    ours, theirs = model.state_dict(), loaded.state_dict()
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert theirs[key].dtype == torch.float32
        assert torch.equal(ours[key], theirs[key]), key
    # And the outputs.
    x = digits_x[:50]
    with torch.no_grad():
        a, b = model.encode(x), loaded.encode(x)
        assert torch.equal(a.mean, b.mean)
        assert (a.logvar is None) == (b.logvar is None) == (kind != "vae")
        if a.logvar is not None:
            assert torch.equal(a.logvar, b.logvar)
        z = torch.randn(20, 3, generator=torch.Generator().manual_seed(0))
        assert torch.equal(model.decode(z), loaded.decode(z))
    # The card as returned is the card as written (JSON turns tuples into lists).
    assert loaded_card.to_dict() == json.loads(json.dumps(card)) == json.loads((tmp_path / "m.json").read_text())


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_float16_storage_decodes_within_1e_3(tmp_path, digits_x, kind):
    model = make_model(kind, x=digits_x)
    save_checkpoint(model, tmp_path / "half", precision="float16")
    save_checkpoint(model, tmp_path / "full")
    assert data_bytes(tmp_path / "half.safetensors") == data_bytes(tmp_path / "full.safetensors") // 2
    loaded, card = load_checkpoint(tmp_path / "half")
    assert card["precision"] == "float16"
    assert all(v.dtype == torch.float32 for v in loaded.state_dict().values())
    for key, value in model.state_dict().items():  # each weight is its float16 rounding
        assert torch.equal(loaded.state_dict()[key], value.half().float()), key
    with torch.no_grad():
        # The codes a user meets: prior samples (the sliders' range) and codes of real images.
        z = torch.cat([torch.randn(200, 3, generator=torch.Generator().manual_seed(1)), model.encode(digits_x).mean])
        err = (model.decode(z) - loaded.decode(z)).abs().max().item()
        err_recon = (model.reconstruct(digits_x) - loaded.reconstruct(digits_x)).abs().max().item()
    assert err < 1e-3 and err_recon < 1e-3, (err, err_recon)


def test_card_fields(tmp_path):
    model = make_model("vae")
    card = save_checkpoint(model, tmp_path / "sub" / "name.json", {"command": "python -m core train"})
    weights, card_path = checkpoint_paths(tmp_path / "sub" / "name")
    assert files_in(tmp_path / "sub") == ["name.json", "name.safetensors"]
    assert card["name"] == "name" and card["kind"] == "vae"
    assert card["model_config"] == json.loads(json.dumps(model.config.to_dict()))  # as stored
    assert card["precision"] == "float32" and card["format_version"] == 2
    assert card["command"] == "python -m core train"
    assert {"python", "torch", "numpy", "scikit-learn"} <= set(card["versions"])
    assert card["weights_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert read_card(card_path).to_dict() == json.loads(json.dumps(card))


@pytest.mark.parametrize("name", ["m", "m.json", "m.safetensors"])
def test_paths_accept_the_name_or_either_file(tmp_path, name):
    weights, card = checkpoint_paths(tmp_path / name)
    assert (weights.name, card.name) == ("m.safetensors", "m.json")


def test_bad_precision_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"precision='bfloat16' is not one of \('float32', 'float16'\)"):
        save_checkpoint(make_model("ae"), tmp_path / "m", precision="bfloat16")
    assert files_in(tmp_path) == []


# --------------------------------------------------------------------------- refusals and damage


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".pkl", ".ckpt"])
def test_pickled_formats_are_refused(tmp_path, suffix):
    path = tmp_path / f"model{suffix}"
    path.write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(CheckpointError, match=r"pickled file format.*unpickling can run arbitrary code"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match=r"pickle"):
        save_checkpoint(make_model("ae"), tmp_path / f"new{suffix}")
    assert files_in(tmp_path) == [path.name]


@pytest.fixture
def saved(tmp_path):
    save_checkpoint(make_model("vae", latent_dim=2), tmp_path / "a")
    return tmp_path


def test_truncated_weights_are_reported_as_truncated_or_corrupt(saved):
    weights = saved / "a.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    # The file is shorter than its header announces: refused before the hash or safetensors read it.
    for verify in (True, False):
        with pytest.raises(CheckpointError, match=r"a\.safetensors holds [\d,]+ bytes but its header announces "
                                                  r"[\d,]+: it is truncated or corrupt"):
            load_checkpoint(saved / "a", verify_hash=verify)
    weights.write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"truncated or corrupt"):
        load_checkpoint(saved / "a", verify_hash=False)


def test_weights_from_another_save_do_not_match_the_card(saved):
    save_checkpoint(make_model("vae", latent_dim=2, seed=1), saved / "b")
    shutil.copy(saved / "b.safetensors", saved / "a.safetensors")
    with pytest.raises(CheckpointError, match=r"a\.safetensors does not match its card .*a\.json \(different SHA-256\)"):
        load_checkpoint(saved / "a")


def test_missing_card_or_weights(saved):
    (saved / "a.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"checkpoint weights .*a\.safetensors are missing \(its card .*a\.json exists\)"):
        load_checkpoint(saved / "a")
    (saved / "a.json").unlink()
    with pytest.raises(CheckpointError, match=r"checkpoint card .*a\.json is missing"):
        load_checkpoint(saved / "a")


def test_invalid_json_card(saved):
    card = saved / "a.json"
    card.write_text(card.read_text()[:40])  # a card cut short
    with pytest.raises(CheckpointError, match=r"a\.json is not valid JSON .*it may be truncated"):
        load_checkpoint(saved / "a")
    card.write_text("[1, 2, 3]")
    with pytest.raises(CheckpointError, match=r"has no 'model_config'; it is not a checkpoint card"):
        load_checkpoint(saved / "a")


def test_invalid_model_config_in_the_card(saved):
    card = json.loads((saved / "a.json").read_text())
    card["model_config"]["latent_dim"] = 0
    (saved / "a.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match=r"invalid model_config: latent_dim=0 must be an integer >= 1"):
        load_checkpoint(saved / "a")


def test_weights_of_another_shape_name_the_tensor(tmp_path):
    save_checkpoint(make_model("vae", latent_dim=2), tmp_path / "two")
    save_checkpoint(make_model("vae", latent_dim=3), tmp_path / "three")
    shutil.copy(tmp_path / "three.safetensors", tmp_path / "two.safetensors")
    # The encoder's last layer (2 * D outputs) and the decoder's first layer (D inputs) differ.
    different = {"encoder.1.4.weight", "encoder.1.4.bias", "decoder.0.weight"}
    two = make_model("vae", latent_dim=2).state_dict()
    three = make_model("vae", latent_dim=3).state_dict()
    assert different == {k for k in two if two[k].shape != three[k].shape}
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path / "two", verify_hash=False)
    message = str(info.value)
    named = [k for k in different if f"tensor {k!r} has shape" in message]
    assert len(named) == 1, message
    assert "the card's model_config needs" in message


def test_weights_of_another_kind_list_missing_tensors(tmp_path):
    save_checkpoint(make_model("ae", latent_dim=2), tmp_path / "ae")
    save_checkpoint(make_model("linear-ae", latent_dim=2), tmp_path / "lin")
    shutil.copy(tmp_path / "lin.safetensors", tmp_path / "ae.safetensors")
    with pytest.raises(CheckpointError, match=r"does not fit the ae described by .*missing \['decoder\.0\.bias'"):
        load_checkpoint(tmp_path / "ae", verify_hash=False)


# --------------------------------------------------------------------------- atomic writes


def test_a_save_leaves_no_temporary_files(tmp_path):
    for _ in range(2):  # a first save and an overwrite
        save_checkpoint(make_model("ae"), tmp_path / "m")
        assert files_in(tmp_path) == ["m.json", "m.safetensors"]


def test_a_failure_while_writing_weights_keeps_the_old_checkpoint(saved, monkeypatch):
    before = {name: (saved / name).read_bytes() for name in files_in(saved)}

    def broken_save_file(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"half a file")  # the write starts...
        raise OSError("disk full")  # ...and fails

    monkeypatch.setattr(safetensors.torch, "save_file", broken_save_file)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(make_model("vae", latent_dim=2, seed=7), saved / "a")
    assert files_in(saved) == sorted(before)  # no temp file left behind
    assert {name: (saved / name).read_bytes() for name in before} == before
    load_checkpoint(saved / "a")  # still a valid checkpoint


def test_a_card_that_cannot_be_stored_keeps_the_old_checkpoint(saved):
    before = {name: (saved / name).read_bytes() for name in files_in(saved)}
    with pytest.raises(TypeError, match="cannot store object in a checkpoint card"):
        save_checkpoint(make_model("vae", latent_dim=2, seed=7), saved / "a", {"oops": object()})
    assert {name: (saved / name).read_bytes() for name in files_in(saved)} == before
    load_checkpoint(saved / "a")


def test_numpy_values_and_paths_in_the_card_are_stored(tmp_path):
    import numpy as np

    card = save_checkpoint(make_model("ae"), tmp_path / "m", {"curve": np.arange(3), "where": tmp_path / "data" / "x.npz"})
    stored = read_card(tmp_path / "m")
    assert stored["curve"] == [0, 1, 2] and stored["where"] == "data/x.npz"  # relative to the folder
    assert card["weights_sha256"] == stored["weights_sha256"]


# --------------------------------------------------------------------------- listing


def test_list_checkpoints_sorted_with_an_error_entry_for_a_broken_one(tmp_path):
    save_checkpoint(make_model("vae"), tmp_path / "zeta", {"train_config": {"beta": 4.0}})
    save_checkpoint(make_model("pca"), tmp_path / "alpha")
    (tmp_path / "middle.json").write_text("{not json")
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    cards = list_checkpoints(tmp_path)
    assert [c["name"] for c in cards] == ["alpha", "middle", "zeta"]
    assert [c["path"] for c in cards] == [str(tmp_path / n) for n in ("alpha", "middle", "zeta")]
    assert cards[0].error is None and cards[2].error is None
    assert cards[0].kind == "pca" and cards[2].beta == 4.0
    assert "not valid JSON" in cards[1].error
    assert list_checkpoints(tmp_path / "nowhere") == []
