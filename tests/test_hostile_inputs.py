"""Issue #10: each hostile input the attackers used, as a named regression test.

Small files that claimed huge data, a PNG bomb, CLI arguments checked too late, checkpoint
pairs mixed up or lost, a pickle planted in a cache, machine paths in cards.
"""

from __future__ import annotations

import io
import json
import os
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch

import core.__main__ as cli
import core.checkpoints as checkpoints
from core.card import Card
from core.checkpoints import CheckpointError, load_checkpoint, read_card, save_checkpoint
from core.data import DatasetError, load_dataset, open_image
from core.data import download as download_module
from core.data import limits
from core.models import ModelConfig, build_model
from core.settings import SettingsError
from explorer.logic import uploads
from fixtures_data import write_olivetti_mat
from fixtures_hostile import huge_png, malicious_pickle, npy_claiming, zip_bomb_npz

REPO = Path(__file__).resolve().parents[1]
MB = 2**20


def peak_mb(call) -> float:
    """Peak Python-traced allocation while ``call()`` runs (numpy's buffers are traced too)."""
    tracemalloc.start()
    try:
        call()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak / MB


def refused(call, match: str) -> str:
    with pytest.raises(DatasetError, match=match) as info:
        call()
    return str(info.value)


# --------------------------------------------------------------------------- small files, big claims


def test_4kb_npy_claiming_a_billion_images_is_refused_before_reading(tmp_path):
    path = tmp_path / "claims.npy"
    path.write_bytes(npy_claiming((10**9, 28, 28)))
    assert path.stat().st_size < 4300
    peak = peak_mb(lambda: refused(lambda: load_dataset(path), r"claims\.npy: its header promises shape "
                                   r"\(1000000000, 28, 28\).*at most 512 MB is accepted.*LATENT_EXPLORER_MAX_DATA_BYTES"))
    assert peak < 5, f"{peak:.1f} MB allocated to refuse a 4 KB file"


def test_npy_whose_header_claims_more_than_the_file_holds_is_truncated(tmp_path):
    path = tmp_path / "short.npy"
    path.write_bytes(npy_claiming((1000, 28, 28)))  # 784 KB promised, 4 KB there
    refused(lambda: load_dataset(path), r"short\.npy: its header promises 784,000 bytes .* holds 4,096; it is truncated")


def test_2mb_npz_inflating_to_2gb_is_refused_before_inflating(tmp_path):
    path = zip_bomb_npz(tmp_path / "bomb.npz", inflated=2 * 10**9)
    assert path.stat().st_size < 2.5 * MB
    peak = peak_mb(lambda: refused(lambda: load_dataset(path), r"bomb\.npz: .*would inflate to 1,907 MB "
                                   r"\(ratio [\d,]+:1, at most 200:1 accepted\); this looks like a decompression bomb"))
    assert peak < 5, f"{peak:.1f} MB allocated to refuse the bomb"


def test_an_npz_bomb_under_the_ratio_guard_still_meets_the_size_cap(tmp_path, monkeypatch):
    monkeypatch.setenv(limits.MAX_DATA_BYTES_ENV, "8M")
    path = zip_bomb_npz(tmp_path / "medium.npz", inflated=12 * MB)  # 12 MB: under the ratio floor
    refused(lambda: load_dataset(path), r"medium\.npz: its arrays inflate to 12 MB; at most 8 MB")


def test_the_cap_is_configurable_and_checked(tmp_path, monkeypatch):
    np.save(tmp_path / "ok.npy", np.zeros((40, 28, 28), np.uint8))  # 125 KB as float32
    monkeypatch.setenv(limits.MAX_DATA_BYTES_ENV, "100K")
    refused(lambda: load_dataset(tmp_path / "ok.npy"), r"ok\.npy: .*at most 100 KB|at most 102,400 bytes")
    monkeypatch.setenv(limits.MAX_DATA_BYTES_ENV, "1M")
    assert len(load_dataset(tmp_path / "ok.npy").train_images) == 32
    monkeypatch.setenv(limits.MAX_DATA_BYTES_ENV, "lots")
    with pytest.raises(SettingsError, match=r"LATENT_EXPLORER_MAX_DATA_BYTES='lots' is not a size"):
        load_dataset(tmp_path / "ok.npy")


def test_gzipped_idx_claiming_huge_data_is_refused_before_inflating(tmp_path):
    import gzip

    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    header = bytes([0, 0, 8, 3]) + np.array([10**7, 28, 28], ">u4").tobytes()
    (raw / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(header + bytes(1 << 20)))
    (raw / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes([0, 0, 8, 1]) + np.array([3], ">u4").tobytes() + bytes(3)))
    refused(lambda: load_dataset("mnist", tmp_path, download=False),
            r"train-images-idx3-ubyte\.gz: its header promises shape \(10000000, 28, 28\)")


def test_400_megapixel_png_in_a_folder_is_a_dataset_error(tmp_path):
    folder = tmp_path / "pics" / "cls"
    folder.mkdir(parents=True)
    (folder / "bomb.png").write_bytes(huge_png(20_000, 20_000))
    message = refused(lambda: load_dataset(tmp_path / "pics"), r"bomb\.png: the image is too large to decode")
    assert "400000000 pixels" in message or "400,000,000" in message or "megapixels" in message


def test_png_between_the_limit_and_twice_it_is_refused_before_decoding():
    data = huge_png(8_000, 6_000)  # 48 MP: PIL only warns (its error starts at twice its limit)
    with pytest.raises(DatasetError, match=r"too large to decode \(Image size \(48000000 pixels\).*at most 40 megapixels"):
        open_image(data)
    with pytest.raises(DatasetError, match=r"3,000 x 3,000 pixels; at most 8 megapixels are accepted \(refused before"):
        open_image(huge_png(3_000, 3_000), max_pixels=8_000_000)  # under PIL's limit: our own check


def test_400_megapixel_png_uploaded_on_the_latent_map_is_a_clear_value_error():
    with pytest.raises(ValueError, match=r"This image: the image is too large to decode"):
        uploads.prepare_upload(huge_png(20_000, 20_000), (1, 28, 28))


def test_pil_pixel_limit_is_set_explicitly():
    from PIL import Image

    open_image(huge_png(10, 10))
    assert Image.MAX_IMAGE_PIXELS == limits.MAX_IMAGE_PIXELS


# --------------------------------------------------------------------------- the CLI checks first


@pytest.fixture
def no_data(monkeypatch):
    """Fails the test if the CLI loads any data."""
    def load(*args, **kwargs):
        raise AssertionError("data was loaded before the arguments were checked")

    monkeypatch.setattr("core.data.load_dataset", load)


def cli_error(argv, capsys) -> str:
    """Status 2 and a one-line error, as argparse gives (SystemExit from the parser itself,
    a return value from main's checks before loading data); never a traceback."""
    try:
        code = cli.main(argv)
    except SystemExit as exit_:
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--seed", "-5"], r"argument --seed: invalid value '-5': must be an integer in \[0, 4294967295\]"),
        (["--seed", str(2**32)], r"argument --seed: invalid value '4294967296'"),
        (["--iwae-k", "100000000"], r"argument --iwae-k: invalid value '100000000': must be an integer in \[0, 10000\]"),
        (["--device", "bogus"], r"argument --device: invalid value 'bogus': expected auto, cpu, cuda, cuda:N or mps"),
        (["--device", "cuda:99"], r"argument --device: device 'cuda:99': (CUDA is not available|this machine has)"),
        (["--device", "mps"], r"argument --device: device 'mps': Apple's MPS is not available"),
    ],
    ids=["seed-5", "seed-2**32", "iwae-k-1e8", "device-bogus", "device-cuda99", "device-mps"],
)
def test_bad_run_arguments_are_refused_before_loading_data(extra, message, tmp_path, capsys, no_data):
    if extra[-1] == "mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    err = cli_error(["train", "--dataset", "digits", *extra, "--out", str(tmp_path / "m")], capsys)
    assert __import__("re").search(message, err), err


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("/proc/x/y", r"argument --out: cannot write to /proc/x: it is on the special filesystem 'proc'"),
        ("/sys/kernel/m", r"argument --out: cannot write to .*: it is on the special filesystem 'sysfs'"),
        ("{tmp}", r"argument --out: .* is a directory; give a checkpoint path without extension"),
        ("{tmp}/file.txt/m", r"argument --out: .*file\.txt is a file, not a folder"),
        ("{tmp}/", r"is not a checkpoint path"),
        ("{tmp}/.hidden", r"must not be empty or start with '\.'"),
        ("{tmp}/m.pt", r"pickled file format"),
    ],
    ids=["proc", "sys", "directory", "under-a-file", "trailing-slash", "hidden", "pickle"],
)
def test_bad_out_is_refused_before_loading_data(out, message, tmp_path, capsys, no_data):
    (tmp_path / "file.txt").write_text("x")
    err = cli_error(["train", "--dataset", "digits", "--out", out.format(tmp=tmp_path)], capsys)
    assert __import__("re").search(message, err), err


def test_unwritable_out_folder_is_refused(tmp_path, capsys, no_data):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as root: permissions do not apply")
        err = cli_error(["train", "--out", str(locked / "m")], capsys)
        assert "cannot write to" in err and "permission denied" in err
    finally:
        locked.chmod(0o700)


def test_out_onto_an_existing_checkpoint_needs_force(tmp_path, capsys, monkeypatch):
    save_checkpoint(build_model(ModelConfig("ae", (1, 8, 8), 2, hidden=(8,))), tmp_path / "m")
    before = (tmp_path / "m.json").read_bytes()
    with monkeypatch.context() as m:
        m.setattr("core.data.load_dataset", lambda *a, **k: pytest.fail("data loaded"))
        err = cli_error(["train", "--dataset", "digits", "--out", str(tmp_path / "m")], capsys)
    assert "a checkpoint" in err and "already exists (m.safetensors, m.json); pass --force to replace it" in err
    assert (tmp_path / "m.json").read_bytes() == before
    fast = ["--dataset", "digits", "--no-download", "--model", "ae", "--hidden", "8", "--epochs", "1"]
    assert cli.main(["train", *fast, "--out", str(tmp_path / "m"), "--force"]) == 0
    assert read_card(tmp_path / "m")["model_config"]["hidden"] == [8]


def test_a_shipped_checkpoint_is_not_replaced_without_force(capsys, no_data):
    err = cli_error(["train", "--out", str(REPO / "checkpoints" / "digits-vae-2")], capsys)
    assert "already exists" in err and "--force" in err


def test_sweep_checks_every_output_first(tmp_path, capsys, no_data):
    save_checkpoint(build_model(ModelConfig("vae", (1, 8, 8), 2, hidden=(8,))), tmp_path / "s-beta4")
    err = cli_error(["sweep", "--betas", "1,4", "--out", str(tmp_path / "s")], capsys)
    assert "s-beta4 already exists" in err
    assert not (tmp_path / "s-beta1.json").exists()


def test_save_refuses_to_overwrite_when_asked(tmp_path):
    model = build_model(ModelConfig("ae", (1, 8, 8), 2, hidden=(8,)))
    save_checkpoint(model, tmp_path / "m")
    with pytest.raises(CheckpointError, match=r"m already exists; refusing to replace it"):
        save_checkpoint(model, tmp_path / "m", overwrite=False)


# --------------------------------------------------------------------------- checkpoint pairs


def small(latent_dim: int, likelihood: str = "bernoulli"):
    torch.manual_seed(latent_dim)
    return build_model(ModelConfig("vae", (1, 8, 8), latent_dim, hidden=(16,), likelihood=likelihood))


def test_concurrent_saves_from_two_threads_leave_a_consistent_pair(tmp_path):
    """Two models saved to one name over and over while a reader loads it: every load gives
    a pair that matches (its card's latent_dim is the model's), never an error."""
    target, errors, stop = tmp_path / "shared", [], threading.Event()

    def writer(latent_dim):
        try:
            for _ in range(15):
                save_checkpoint(small(latent_dim), target, {"train_config": {"seed": latent_dim}})
        except Exception as err:  # noqa: BLE001 - collected and shown by the assertion
            errors.append(err)

    def reader():
        while not stop.is_set():
            try:
                model, card = load_checkpoint(target)
                assert model.latent_dim == card["model_config"]["latent_dim"] == card["train_config"]["seed"]
            except Exception as err:  # noqa: BLE001
                errors.append(err)

    save_checkpoint(small(2), target, {"train_config": {"seed": 2}})
    threads = [threading.Thread(target=writer, args=(d,)) for d in (2, 3)]
    watcher = threading.Thread(target=reader)
    watcher.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    watcher.join()
    assert not errors, errors[:3]
    model, card = load_checkpoint(target)
    assert model.latent_dim == card["model_config"]["latent_dim"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shared.json", "shared.safetensors"]


def _save_many(target: str, latent_dim: int) -> None:
    for _ in range(6):
        save_checkpoint(small(latent_dim), target)


def test_concurrent_saves_from_two_processes_leave_a_consistent_pair(tmp_path):
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_save_many, args=(str(tmp_path / "shared"), d)) for d in (2, 3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    model, card = load_checkpoint(tmp_path / "shared")
    assert model.latent_dim == card["model_config"]["latent_dim"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shared.json", "shared.safetensors"]


def _fail_on_card_rename(monkeypatch):
    real = os.replace

    def replace(src, dst):
        if str(dst).endswith(".json"):
            raise OSError("disk full (simulated, between the two renames)")
        return real(src, dst)

    monkeypatch.setattr(checkpoints.os, "replace", replace)


def test_a_save_failing_between_the_renames_leaves_the_old_checkpoint_loadable(tmp_path, monkeypatch):
    save_checkpoint(small(2), tmp_path / "m")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with monkeypatch.context() as m:
        _fail_on_card_rename(m)
        with pytest.raises(OSError, match="between the two renames"):
            save_checkpoint(small(3), tmp_path / "m")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # undone, nothing left over
    assert load_checkpoint(tmp_path / "m").model.latent_dim == 2


def test_a_save_killed_between_the_renames_still_loads_the_old_pair(tmp_path, monkeypatch):
    """No chance to undo (the process died): the old card finds its weights in .NAME.prev."""
    save_checkpoint(small(2), tmp_path / "m")
    with monkeypatch.context() as m:
        _fail_on_card_rename(m)
        m.setattr(checkpoints, "_recover", lambda *a: None)  # as if killed: no clean-up runs
        with pytest.raises(OSError):
            save_checkpoint(small(3), tmp_path / "m")
    assert (tmp_path / ".m.prev.safetensors").exists()
    assert load_checkpoint(tmp_path / "m").model.latent_dim == 2  # the old card, its old weights
    save_checkpoint(small(4), tmp_path / "m")  # the next save recovers first
    assert load_checkpoint(tmp_path / "m").model.latent_dim == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.safetensors"]


def test_a_save_killed_with_the_old_weights_moved_aside_still_loads_the_old_pair(tmp_path, monkeypatch):
    """Killed after NAME.safetensors went to .NAME.prev and before the new weights took its place."""
    save_checkpoint(small(2), tmp_path / "m")
    real = os.replace

    def replace(src, dst):
        if Path(dst) == tmp_path / "m.safetensors":
            raise OSError("killed (simulated, with the old weights moved aside)")
        return real(src, dst)

    with monkeypatch.context() as m:
        m.setattr(checkpoints.os, "replace", replace)
        m.setattr(checkpoints, "_recover", lambda *a: None)  # as if killed: no clean-up runs
        with pytest.raises(OSError, match="moved aside"):
            save_checkpoint(small(3), tmp_path / "m")
    assert not (tmp_path / "m.safetensors").exists()
    assert load_checkpoint(tmp_path / "m").model.latent_dim == 2  # found in .m.prev.safetensors
    save_checkpoint(small(4), tmp_path / "m")  # the next save puts the old weights back first
    assert load_checkpoint(tmp_path / "m").model.latent_dim == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.safetensors"]


def test_a_load_is_not_fooled_by_saves_committed_between_its_card_and_its_weights(tmp_path, monkeypatch):
    """Each time the loader has read the card, another thread saves (given 0.5 s to commit): the
    load still returns a matching pair, the one on disk when it started."""
    save_checkpoint(small(2), tmp_path / "m")
    real_read_card, savers = checkpoints.read_card, []

    def read_card_then_let_a_save_run(path):
        card = real_read_card(path)
        savers.append(threading.Thread(target=save_checkpoint, args=(small(3 + len(savers) % 2), tmp_path / "m")))
        savers[-1].start()
        savers[-1].join(0.5)
        return card

    with monkeypatch.context() as m:
        m.setattr(checkpoints, "read_card", read_card_then_let_a_save_run)
        model, card = load_checkpoint(tmp_path / "m")
    for saver in savers:
        saver.join(30)
    assert model.latent_dim == card["model_config"]["latent_dim"] == 2
    assert load_checkpoint(tmp_path / "m").model.latent_dim == 3  # the save went through after the load


def test_a_save_waits_while_another_save_holds_the_folder(tmp_path):
    save_checkpoint(small(2), tmp_path / "m")
    done = threading.Event()
    with checkpoints._folder_lock(tmp_path):
        saver = threading.Thread(target=lambda: (save_checkpoint(small(3), tmp_path / "other"), done.set()))
        saver.start()
        assert not done.wait(0.5)  # blocked on the folder's lock
        assert not (tmp_path / "other.json").exists()
    saver.join(30)
    assert done.is_set() and load_checkpoint(tmp_path / "other").model.latent_dim == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.safetensors", "other.json", "other.safetensors"]


def test_the_hash_is_taken_from_the_file_that_is_renamed(tmp_path, monkeypatch):
    """The card's hash is computed before the rename: weights swapped in by another writer
    after the rename cannot be vouched for by this card."""
    seen = []
    real = checkpoints._sha256
    monkeypatch.setattr(checkpoints, "_sha256", lambda p: seen.append(Path(p).name) or real(p))
    save_checkpoint(small(2), tmp_path / "m")
    assert seen and all(name.endswith(".tmp") for name in seen), seen


@pytest.mark.parametrize(
    ("key", "field", "value", "message"),
    [
        ("model_config", "likelihood", "gaussian",
         r"likelihood: 'gaussian' in the card, 'bernoulli' with the weights.*the card was edited"),
        ("train_config", "beta", 4.0, r"train_config of card .*\(beta: 4\.0 in the card, 1\.0 with the weights"),
    ],
    ids=["likelihood-flipped", "beta-edited"],
)
def test_an_edited_card_is_refused(tmp_path, key, field, value, message):
    save_checkpoint(small(2), tmp_path / "m", {"train_config": {"beta": 1.0}})
    card = json.loads((tmp_path / "m.json").read_text())
    card[key][field] = value
    (tmp_path / "m.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(tmp_path / "m")


def test_a_format_2_card_with_version_1_weights_is_refused(tmp_path):
    """Weights without the stored configs (as version 1 wrote them) do not pass for format 2."""
    import hashlib

    from safetensors.torch import load_file, save_file

    save_checkpoint(small(2), tmp_path / "m")
    save_file(load_file(str(tmp_path / "m.safetensors")), str(tmp_path / "m.safetensors"),
              metadata={"format": "latent-explorer"})
    card = read_card(tmp_path / "m").to_dict()
    card["weights_sha256"] = hashlib.sha256((tmp_path / "m.safetensors").read_bytes()).hexdigest()
    (tmp_path / "m.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="stores no model_config although its card .* is format 2"):
        load_checkpoint(tmp_path / "m")


def test_shipped_version_1_checkpoints_still_load():
    card = read_card(REPO / "checkpoints" / "digits-vae-2")
    assert card.get("format_version", 1) in checkpoints.READABLE_VERSIONS
    load_checkpoint(REPO / "checkpoints" / "digits-vae-2")


# --------------------------------------------------------------------------- nothing is unpickled


def test_olivetti_never_loads_a_pickle_planted_in_scikit_learns_cache(tmp_path, monkeypatch):
    marker = tmp_path / "PWNED"
    for name in ("olivetti.pkz", "olivetti_py3.pkz"):
        (tmp_path / name).write_bytes(malicious_pickle(marker))
    import sklearn.datasets

    monkeypatch.setattr(sklearn.datasets, "fetch_olivetti_faces", lambda *a, **k: pytest.fail("sklearn's fetcher"))
    monkeypatch.setattr(download_module, "download_file", lambda *a, **k: (_ for _ in ()).throw(OSError("offline")))
    for download in (False, True):
        with pytest.raises(DatasetError, match=r"olivettifaces\.mat"):
            load_dataset("olivetti", tmp_path, download=download)
    write_olivetti_mat(tmp_path / "olivettifaces.mat", n_people=2)
    assert len(load_dataset("olivetti", tmp_path, download=False).train_images) == 16
    assert not marker.exists()


def test_the_planted_pickle_is_a_real_threat(tmp_path):
    """Control: scikit-learn's fetcher does unpickle that file (why we never call it)."""
    from sklearn.datasets import fetch_olivetti_faces

    marker = tmp_path / "PWNED"
    (tmp_path / "olivetti_py3.pkz").write_bytes(malicious_pickle(marker))  # sklearn's cache file
    with pytest.raises(Exception):  # noqa: B017 - the "faces" are a bool from Path.touch
        fetch_olivetti_faces(data_home=str(tmp_path), download_if_missing=False)
    assert marker.exists()


def test_mnist_download_never_opens_torchvisions_legacy_pickles(tmp_path, monkeypatch):
    marker = tmp_path / "PWNED"
    processed = tmp_path / "MNIST" / "processed"
    processed.mkdir(parents=True)
    for name in ("training.pt", "test.pt"):
        (processed / name).write_bytes(malicious_pickle(marker))
    monkeypatch.setattr(download_module, "reachable", lambda url, timeout=5.0: True)
    monkeypatch.setattr(download_module, "download_file", lambda *a, **k: (_ for _ in ()).throw(OSError("offline")))
    monkeypatch.setattr("torch.load", lambda *a, **k: pytest.fail("torch.load was called"))
    ds = load_dataset("mnist", tmp_path, download=True)
    assert "could not download train-images-idx3-ubyte.gz" in ds.notice
    assert not marker.exists()


# --------------------------------------------------------------------------- cards hold relative names


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def test_save_checkpoint_normalises_absolute_paths_in_card_fields(tmp_path):
    card = save_checkpoint(small(2), tmp_path / "ck" / "m", {
        "dataset": {"name": "custom:faces.npy", "path": str(tmp_path / "data" / "faces.npy"),
                    "source": f"60 images 1x8x8 from {tmp_path}/data/faces.npy, random split"},
        "command": f"python -m core train --dataset {tmp_path}/data/faces.npy --out {tmp_path}/ck/m",
        "note": "see https://example.org/a/b and <data dir>/frey",
    })
    stored = read_card(tmp_path / "ck" / "m").to_dict()
    assert stored == card
    assert stored["dataset"]["path"] == "../data/faces.npy"
    assert stored["dataset"]["source"] == "60 images 1x8x8 from faces.npy, random split"
    assert stored["command"] == "python -m core train --dataset faces.npy --out m"
    assert stored["note"] == "see https://example.org/a/b and <data dir>/frey"  # URLs and placeholders kept
    assert not [s for s in _strings(stored) if str(tmp_path) in s or s.startswith("/")]
    again = Card.from_dict(stored, path=str(tmp_path / "ck" / "m"))
    assert again.dataset_key == str(tmp_path / "data" / "faces.npy")  # found again from the card's folder


def test_cards_trained_by_the_cli_hold_no_machine_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "faces.npy", np.random.default_rng(0).integers(0, 256, (40, 8, 8), dtype=np.uint8))
    out = tmp_path / "models" / "m"
    assert cli.main(["train", "--dataset", str(tmp_path / "faces.npy"), "--model", "ae", "--hidden", "8",
                     "--epochs", "1", "--out", str(out)]) == 0
    card = read_card(out)
    assert not [s for s in _strings(card) if str(tmp_path) in s], (card["dataset"], card["command"])
    assert cli.main(["evaluate", str(out), "--json"]) == 0  # the relative path still finds the data


@pytest.mark.parametrize("name", ["frey", "olivetti"])
def test_registered_sources_name_the_data_dir_not_the_machine(tmp_path, name):
    from fixtures_data import write_frey_mat

    (write_frey_mat if name == "frey" else write_olivetti_mat)(
        tmp_path / name / ("frey_rawface.mat" if name == "frey" else "olivettifaces.mat"))
    source = load_dataset(name, tmp_path, download=False).source
    assert f"<data dir>/{name}/" in source and str(tmp_path) not in source


def test_open_image_reads_bytes_and_paths(tmp_path):
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((5, 7), 200, np.uint8)).save(buf, format="PNG")
    (tmp_path / "a.png").write_bytes(buf.getvalue())
    for source in (buf.getvalue(), tmp_path / "a.png"):
        assert open_image(source).size == (7, 5)
    with pytest.raises(DatasetError, match=r"the file is empty"):
        open_image(b"")


def test_a_mat_file_that_crashes_the_matlab_reader_is_a_dataset_error(tmp_path, monkeypatch):
    """scipy's C reader segfaults on some bytes (found by tests/test_fuzz.py): it runs in a child process."""
    import signal

    from core.data import download

    monkeypatch.setattr(download, "_read_mat", lambda *args: os.kill(os.getpid(), signal.SIGSEGV))
    mat = tmp_path / "frey_rawface.mat"
    mat.write_bytes(b"MATLAB 5.0 MAT-file" + bytes(200))
    with pytest.raises(DatasetError, match="crashed on"):
        download.loadmat(mat, "ff", "frey")
