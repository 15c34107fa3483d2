"""Property-based tests (Hypothesis): hostile bytes and argument lists never escape as a
traceback.

Every loader, fed random bytes or a valid file with a mutated header or cut short, either
loads a Dataset or raises DatasetError: never another exception, never a MemoryError.
Every argv for ``python -m core`` either parses (and validates) into a namespace or ends
in argparse's clean exit (SystemExit 2 with a message; 0 for --help).
"""

from __future__ import annotations

import gzip
import io
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import core.__main__ as cli
from core.data import Dataset, DatasetError, load_dataset, open_image, read_idx
from core.data import limits
from fixtures_data import idx_bytes, write_frey_mat
from fixtures_hostile import huge_png, npy_claiming, small_npy_bytes

FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 150)), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(autouse=True)
def small_cap(monkeypatch):
    """A 64 MB cap: a mutated header that claims more is refused at once (and fast)."""
    monkeypatch.setenv(limits.MAX_DATA_BYTES_ENV, str(64 * 2**20))


def _valid_npy() -> bytes:
    return small_npy_bytes(np.random.default_rng(0).integers(0, 256, (6, 5, 4), dtype=np.uint8))


def _valid_npz() -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, images=np.arange(6 * 4 * 4, dtype=np.uint8).reshape(6, 4, 4), labels=np.arange(6) % 2)
    return buf.getvalue()


def _valid_png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(buf, format="PNG")
    return buf.getvalue()


def _valid_mat() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        write_frey_mat(Path(tmp) / "frey_rawface.mat", n=4)
        return (Path(tmp) / "frey_rawface.mat").read_bytes()


VALID = {"npy": _valid_npy(), "npz": _valid_npz(), "png": _valid_png(), "mat": _valid_mat(),
         "idx": idx_bytes(np.zeros((3, 4, 4), np.uint8))}


@st.composite
def hostile(draw, kind: str) -> bytes:
    """Random bytes, or the valid file of ``kind`` cut short or with bytes overwritten."""
    base = VALID[kind]
    how = draw(st.sampled_from(["random", "truncated", "mutated", "mutated-header"]))
    if how == "random":
        return draw(st.binary(max_size=512))
    if how == "truncated":
        return base[: draw(st.integers(0, len(base) - 1))]
    data = bytearray(base)
    span = min(len(data), 160) if how == "mutated-header" else len(data)
    for _ in range(draw(st.integers(1, 8))):
        data[draw(st.integers(0, span - 1))] = draw(st.integers(0, 255))
    return bytes(data)


def ends_well(load) -> None:
    """``load()`` gives a Dataset (or an image array) or raises DatasetError; anything else fails."""
    try:
        out = load()
    except DatasetError:
        return
    assert isinstance(out, (Dataset, np.ndarray)) or hasattr(out, "size"), type(out)


def _in_temp(name: str, data: bytes, load):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        ends_well(lambda: load(Path(tmp), path))


@FUZZ
@given(hostile("npy"))
@example(npy_claiming((10**9, 28, 28)))
def test_npy_loader_survives_any_bytes(data):
    _in_temp("x.npy", data, lambda root, path: load_dataset(path))


@FUZZ
@given(hostile("npz"))
def test_npz_loader_survives_any_bytes(data):
    _in_temp("x.npz", data, lambda root, path: load_dataset(path))


@FUZZ
@given(hostile("idx"), st.booleans())
@example(bytes([0, 0, 8, 3]) + np.array([2**31, 2**31, 2**31], ">u4").tobytes(), False)
def test_idx_reader_survives_any_bytes(data, gz):
    if gz:
        data = gzip.compress(data)
    _in_temp("x.idx.gz" if gz else "x.idx", data, lambda root, path: read_idx(path))


@FUZZ
@given(hostile("png"))
def test_image_opener_survives_any_bytes(data):
    ends_well(lambda: np.asarray(open_image(data)))


@settings(max_examples=100, deadline=None)
@given(hostile("png"))
def test_image_folder_survives_any_bytes(data):
    _in_temp("pics/a/x.png", data, lambda root, path: load_dataset(root / "pics", image_size=(4, 4)))


@FUZZ
@given(hostile("mat"))
def test_mat_loader_survives_any_bytes(data):
    _in_temp("frey_rawface.mat", data, lambda root, path: load_dataset("frey", root, download=False))


def test_a_huge_png_header_is_refused_by_the_fuzzed_path_too():
    with pytest.raises(DatasetError):
        open_image(huge_png(20_000, 20_000))


# --------------------------------------------------------------------------- the command line

FLAGS = ["train", "sweep", "evaluate", "list", "pretrain", "--seed", "--iwae-k", "--device", "--out", "--force",
         "--epochs", "--latent-dim", "--betas", "--image-size", "--hidden", "--lr", "--beta", "--model", "--dataset",
         "--likelihood", "--batch-size", "--warmup-epochs", "--gaussian-variance", "--input-noise", "--precision",
         "--only", "--list", "--json", "--no-download", "--rgb", "--kl-only", "-h"]
VALUES = ["-5", "0", "1", "100000000", "4294967296", "nan", "inf", "-0", "1e999", "bogus", "cuda", "cuda:0", "cuda:99",
          "mps", "cpu", "auto", "/proc/x/y", "/sys/m", "/", "", " ", ".", "..", "x/", "m.pt", "a\x00b", "\udcff",
          "0,1,4", ",,", "28x28", "3x", "400,200", "vae", "pca", "digits", "checkpoints/digits-vae-2", "1" * 5000]


@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 200)), deadline=None)
@given(st.lists(st.one_of(st.sampled_from(FLAGS), st.sampled_from(VALUES), st.text(max_size=12)), max_size=8))
@example(["train", "--seed", "-5", "--out", "x"])
@example(["train", "--iwae-k", "100000000", "--out", "x"])
@example(["train", "--out", "/proc/x/y"])
@example(["train", "--device", "bogus", "--out", "x"])
@example(["train", "--out", "checkpoints/digits-vae-2"])
def test_cli_parsing_ends_in_a_namespace_or_a_clean_exit(argv):
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # relative --out values land in a scratch folder (nothing is written anyway)
        try:
            parser, args = cli.parse_args(argv)
        except SystemExit as exit_:
            assert exit_.code in (0, 2), exit_.code
        else:
            assert args.command in ("train", "sweep", "evaluate", "list", "pretrain")
        finally:
            os.chdir(cwd)
