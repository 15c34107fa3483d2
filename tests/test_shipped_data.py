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
