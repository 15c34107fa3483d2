"""What an anonymous visitor can still send, class by class, below the pages (core and logic).

    labels as sizes        label values renumbered to classes 0..K-1, at most MAX_CLASSES
    image formats          only the listed formats are decoded, read from the bytes, not the name
    visitors' text         upload names, class names: safe file names, plain Markdown, plain Plotly labels
    component values       a browser's value of the wrong type is dropped, not a traceback
    deep folders           walked without recursion, refused past MAX_DEPTH
    FIFOs, devices, swaps  read only as regular files inside the folder named, checked once open
    concurrent uploads     parsed one at a time; the memory of a parse is a fraction of the old

The pages' side of the same attacks: tests/test_app_visitor_inputs.py.
"""

from __future__ import annotations

import io
import os
import re
import sys
import threading
import tomllib
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core import streaming
from core.data import FOLDER_FORMATS, MAX_CLASSES, UPLOAD_FORMATS, Dataset, DatasetError, load_dataset, open_image
from core.data import own
from core.data.limits import open_regular, read_npy
from explorer.logic import charts, drawing, figures, plaintext, serverdata, training, uploads

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(120)  # a FIFO read by mistake would block: fail instead of hanging


def npz(path: Path, labels, n_images: int | None = None, **extra) -> Path:
    labels = np.asarray(labels)
    n = n_images or len(labels)
    images = np.random.default_rng(0).integers(0, 256, (n, 6, 6), dtype=np.uint8)
    np.savez(path, images=images, labels=labels, **extra)
    return path


def all_labels(ds: Dataset) -> np.ndarray:
    return np.concatenate([ds.train_labels, ds.test_labels])


def png_bytes(size=(8, 8), fmt="PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, size, dtype=np.uint8)).save(buffer, format=fmt)
    return buffer.getvalue()


EPS = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n"
       b"newpath 0 0 moveto 8 8 lineto stroke showpage\n%%EOF\n")
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


# --------------------------------------------------------------------------- labels become sizes


@pytest.mark.parametrize("values", [[2**62, 3], [10**6, 0], [1, 7], [-5, 40_000_000_000]])
def test_label_values_become_classes_0_to_k_named_by_their_values(tmp_path, values):
    labels = np.repeat(values, 6)
    ds = load_dataset(npz(tmp_path / "d.npz", labels))
    assert sorted(set(all_labels(ds).tolist())) == [0, 1]  # never the values themselves
    assert ds.class_names == [str(v) for v in sorted(values)]
    # each image keeps its class: the images of value v are the ones named str(v)
    assert np.bincount(all_labels(ds)).tolist() == [6, 6]


def test_file_class_names_follow_the_original_label_values(tmp_path):
    names = np.array(list("abcdefgh"))
    ds = load_dataset(npz(tmp_path / "d.npz", np.repeat([1, 7], 4), class_names=names))
    assert ds.class_names == ["b", "h"] and sorted(set(all_labels(ds).tolist())) == [0, 1]
    with pytest.raises(DatasetError, match="label 9 has no class name"):
        load_dataset(npz(tmp_path / "e.npz", np.repeat([1, 9], 4), class_names=names))


@pytest.mark.parametrize("kind", ["ints", "strings", "floats"])
def test_more_classes_than_the_cap_are_refused_with_the_number(tmp_path, kind):
    values = np.arange(MAX_CLASSES + 1)
    labels = {"ints": values * 1000, "strings": np.array([f"c{v}" for v in values]),
              "floats": values.astype(np.float64)}[kind]
    with pytest.raises(DatasetError, match=rf"{MAX_CLASSES + 1:,} different values; at most {MAX_CLASSES} classes"):
        load_dataset(npz(tmp_path / "d.npz", np.repeat(labels, 2)))
    ds = load_dataset(npz(tmp_path / "ok.npz", np.repeat(labels[:MAX_CLASSES], 2)))  # the cap itself is fine
    assert len(ds.class_names) == MAX_CLASSES


def test_a_folder_with_more_class_folders_than_the_cap_is_refused_before_decoding(tmp_path, monkeypatch):
    for k in range(MAX_CLASSES + 1):
        (tmp_path / "many" / f"c{k:03d}").mkdir(parents=True)
        (tmp_path / "many" / f"c{k:03d}" / "0.png").write_bytes(png_bytes())
    monkeypatch.setattr(own, "load_image_file", lambda *a, **k: pytest.fail("decoded before the class count"))
    with pytest.raises(DatasetError, match=f"{MAX_CLASSES + 1} class folders hold images; at most {MAX_CLASSES}"):
        load_dataset(tmp_path / "many")


def test_a_dataset_refuses_labels_that_are_not_class_indices():
    images = np.zeros((4, 1, 2, 2), np.float32)
    with pytest.raises(DatasetError, match=r"train_labels must be class indices 0\.\.1, found 0\.\.7"):
        Dataset("x", images, np.array([0, 7, 1, 0]), images, np.array([0, 1, 0, 1]), ["a", "b"], "test")
    with pytest.raises(DatasetError, match=f"class indices 0..{MAX_CLASSES - 1}"):
        Dataset("x", images, np.array([0, 2**62, 0, 0]), images, np.zeros(4, np.int64), None, "test")


def test_classes_in_a_split_lists_only_classes_with_images():
    images = np.zeros((4, 1, 2, 2), np.float32)
    ds = Dataset("x", images, np.array([0, 1, 2, 2]), images, np.array([2, 2, 0, 0]), ["a", "b", "c"], "t")
    assert ds.classes_in("train") == [0, 1, 2] and ds.classes_in("test") == [0, 2]


# --------------------------------------------------------------------------- image formats


def _never_ghostscript(monkeypatch):
    from PIL import EpsImagePlugin, PdfImagePlugin  # noqa: F401 - PDF: PIL writes it only; imported to be sure

    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", lambda self: pytest.fail("PIL tried the EPS decoder"))
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", lambda *a, **k: pytest.fail("Ghostscript was run"))


@pytest.mark.parametrize("content", [EPS, PDF], ids=["eps", "pdf"])
def test_postscript_and_pdf_named_png_are_never_decoded(monkeypatch, content):
    _never_ghostscript(monkeypatch)
    with pytest.raises(ValueError, match=r"not an image in an accepted format \(PNG or JPEG"):
        uploads.prepare_upload(content, (1, 28, 28))


@pytest.mark.parametrize("fmt", ["TIFF", "BMP", "ICO", "GIF", "WEBP", "PPM"])
def test_uploads_accept_only_png_and_jpeg_whatever_the_name(fmt):
    data = png_bytes(fmt=fmt)
    assert Image.open(io.BytesIO(data)).format == fmt  # a real image PIL would decode
    with pytest.raises(ValueError, match="not an image in an accepted format"):
        uploads.prepare_upload(data, (1, 28, 28))


@pytest.mark.parametrize("fmt", UPLOAD_FORMATS)
def test_png_and_jpeg_uploads_are_read_by_their_bytes_not_their_name(fmt):
    assert uploads.prepare_upload(png_bytes((40, 40), fmt), (1, 28, 28)).image.shape == (1, 28, 28)


def test_folders_decode_the_stated_formats_and_refuse_the_rest(tmp_path, monkeypatch):
    _never_ghostscript(monkeypatch)
    for k, fmt in enumerate(FOLDER_FORMATS):
        (tmp_path / "ok" / "a").mkdir(parents=True, exist_ok=True)
        (tmp_path / "ok" / "a" / f"{k}.png").write_bytes(png_bytes(fmt=fmt))  # every one named .png
    (tmp_path / "ok" / "b").mkdir()
    (tmp_path / "ok" / "b" / "0.png").write_bytes(png_bytes())
    ds = load_dataset(tmp_path / "ok", image_size=(8, 8))
    assert len(ds.train_images) + len(ds.test_images) == len(FOLDER_FORMATS) + 1
    for name, content in [("ico", png_bytes(fmt="ICO")), ("eps", EPS), ("pdf", PDF)]:
        bad = tmp_path / name / "a"
        bad.mkdir(parents=True)
        (bad / "0.png").write_bytes(png_bytes())
        (bad / "1.png").write_bytes(content)
        with pytest.raises(DatasetError, match=r"1\.png: cannot read it as an image: not an image in an accepted"):
            load_dataset(tmp_path / name)
        with pytest.raises(DatasetError, match=r"1\.png: cannot read it as an image: not one of PNG"):
            streaming.decode_image_file(bad / "1.png", (8, 8))


# --------------------------------------------------------------------------- visitors' text


@pytest.mark.parametrize(("name", "shown"), [
    ("x" * 300 + ".npz", "x" * 60 + ".npz"),
    ("dig\x00its.npz", "dig_its.npz"),
    ("[click](http://evil.example)![i](http://evil.example/x.png).npz", "x.png_.npz"),
    ("**bold** [a](b).npz", "_bold_ _a_b_.npz"),
    ("../../etc/passwd.npz", "passwd.npz"),
    ("\u202egnp.npz", "_gnp.npz"),
    ("", "upload"),
])
def test_upload_names_become_short_safe_file_names(tmp_path, name, shown):
    assert plaintext.file_name(name) == shown
    data = npz(tmp_path / "d.npz", np.repeat([0, 1], 4)).read_bytes()
    ds = training.load_upload(data, name)  # a NUL byte or 300 characters: no OSError, no ValueError
    assert ds.name == f"custom:{shown}" and shown in ds.source and "\x00" not in ds.source


def test_an_error_about_an_upload_names_the_safe_name():
    with pytest.raises(DatasetError) as err:
        training.load_upload(b"not a zip", "[x](http://e)\x00.npz")
    assert str(err.value).startswith("e_.npz: cannot read it as a .npz file")
    assert "\x00" not in str(err.value) and "upload.npz" not in str(err.value)


@pytest.mark.parametrize("text", ["[x](http://evil.example)", "![i](http://e/x.png)", "**bold** $x^2$",
                                  "http://evil.example www.evil.example", "<img src=x onerror=alert(1)>",
                                  ":red[alarm] :smile: `code` ~~gone~~ # title", "a\\[b]"])
def test_markdown_text_escapes_every_markdown_opener_and_nothing_is_lost(text):
    shown = plaintext.markdown_text(text)
    assert not re.search(r"(?<!\\)[\[\]()!*_$`<>~#:.]", re.sub(r"\\.", "", shown))  # each opener escaped
    assert re.sub(r"\\(.)", r"\1", shown) == text  # CommonMark drops the backslashes: the text is shown as is


HOSTILE = '<a href="http://evil.example">click</a><img src=x>%{x}'


def test_class_names_are_plain_text_in_every_latent_map_label():
    xy, labels = np.zeros((4, 2)), np.array([0, 0, 1, 1])
    fig = figures.latent_map(xy, labels, [HOSTILE, "<b>two</b>"], highlight=figures.MapMarker(0, 0, HOSTILE),
                             markers=[figures.MapMarker(1, 1, HOSTILE)], title=HOSTILE)
    grid = figures.latent_map_grid([figures.MapPanel(xy, labels, np.arange(4), ("z0", "z1"), None, HOSTILE)],
                                   [HOSTILE, "x"])
    texts = [str(t.get(k)) for f in (fig, grid) for t in f.to_dict()["data"] for k in ("name", "hovertemplate", "text")]
    texts += [str(a["text"]) for a in grid.to_dict()["layout"]["annotations"]]
    texts.append(fig.to_dict()["layout"]["title"]["text"])
    assert any("&lt;a href" in t for t in texts)  # the names are there, escaped
    assert not any("<a" in t or "<img" in t or "<b>two" in t or "%{x}" in t.replace("%{x:", "") for t in texts)


def test_model_names_are_plain_text_in_the_charts():
    fig = charts.path_measures_chart({HOSTILE: ([1.1, 1.3], [0.5, 1.0], (1.2, 0.5))})
    kl = charts.kl_per_dim_heatmap({HOSTILE: np.array([1.0, 0.001])}, chosen=HOSTILE)
    texts = [str(t.get(k)) for f in (fig, kl) for t in f.to_dict()["data"] for k in ("name", "hovertemplate")]
    texts += [str(label) for label in kl.to_dict()["data"][0]["y"]]  # the heatmap's rows are named by model
    assert not any("<a" in t or "<img" in t for t in texts) and any("&lt;a" in t for t in texts)


# --------------------------------------------------------------------------- component values


@pytest.mark.parametrize("raw", [
    {"z": ["a", "b"], "drawing_seq": "x", "need": 5, "seq": "1", "drawing": {"0": 1}},
    {"z": [1.0, float("nan")], "drawing_seq": -3, "need": [[1], {"a": 1}, "ok"], "seq": True, "drawing_mean": "nope"},
    {"z": [True, False], "base": 7, "drawing": [None] * 4, "drawing_logvar": [[0.0]]},
    {"z": list(range(drawing.MAX_VALUE_NUMBERS + 1))},
    ["not", "a", "dict"], "text", 42, None,
])
def test_a_component_value_of_the_wrong_type_is_dropped(raw):
    clean = drawing.component_value(raw)
    if not isinstance(raw, dict):
        assert clean is None
        return
    assert "z" not in clean and "drawing" not in clean and "drawing_mean" not in clean
    assert all(isinstance(h, str) for h in clean["need"]) and isinstance(clean["drawing_seq"], int)
    assert clean["seq"] is None or type(clean["seq"]) is int
    assert clean["drawing_seq"] >= 0 and isinstance(clean.get("base", ""), str)


def test_the_canvas_reads_a_hostile_value_as_no_value(monkeypatch):
    from explorer.ui import latent_canvas, latent_decoder

    from explorer.ui import browser_component

    hostile = {"z": [0.5, 0.5], "drawing": [0.0] * 4, "drawing_seq": "12abc", "need": 3, "base": None,
               "drawing_mean": ["x"]}

    class FakeStreamlit:
        session_state = {"k": {"value": hostile}}

    monkeypatch.setattr(browser_component, "st", FakeStreamlit)
    result = latent_canvas.read_value("k", (1, 2, 2))  # int("12abc") would raise ValueError
    assert result.drawing is not None and result.drawing_seq == 0 and result.drawing_mean is None
    previous = browser_component.previous_value("k")
    assert previous["need"] == [] and latent_decoder._code_on_screen("m", previous, np.zeros(2))[1] == [0.0, 0.0]


def test_uncaught_errors_show_visitors_no_details():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"


# --------------------------------------------------------------------------- deep folders


def _deep(root: Path, depth: int) -> Path:
    """``root``/data nested ``depth`` folders deep (made with relative paths: no PATH_MAX)."""
    here = os.getcwd()
    (root / "data").mkdir(parents=True)
    os.chdir(root / "data")
    try:
        for _ in range(depth):
            os.mkdir("a")
            os.chdir("a")
    finally:
        os.chdir(here)
    return root / "data"


def _remove_deep(folder: Path) -> None:
    """Delete a chain made by ``_deep`` without recursion (shutil.rmtree and pytest's clean-up recurse)."""
    here = os.getcwd()
    os.chdir(folder)
    depth = 0
    try:
        while os.path.isdir("a"):
            os.chdir("a")
            depth += 1
        for _ in range(depth):
            os.chdir("..")
            os.rmdir("a")
    finally:
        os.chdir(here)


@pytest.fixture
def deep_root(tmp_path):
    yield tmp_path
    if (tmp_path / "data").exists():
        _remove_deep(tmp_path / "data")


@pytest.mark.parametrize("depth", [serverdata.MAX_DEPTH, 1100, 3000])
def test_a_folder_nested_too_deep_is_refused_without_recursion(deep_root, depth):
    tmp_path = deep_root
    _deep(tmp_path, depth)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)  # a recursive walk would recurse once per level
    try:
        assert serverdata.confine("data", tmp_path) is None
    finally:
        sys.setrecursionlimit(limit)
    assert "No readable image folder" in serverdata.not_available("data")


def test_a_folder_of_ordinary_depth_is_still_confined(deep_root):
    tmp_path = deep_root
    data = _deep(tmp_path, serverdata.MAX_DEPTH - 2)
    assert serverdata.confine("data", tmp_path) == data.resolve()


# --------------------------------------------------------------------------- FIFOs, devices, swaps


def test_a_fifo_named_npy_is_refused_at_once(tmp_path):
    os.mkfifo(tmp_path / "x.npy")
    os.mkfifo(tmp_path / "y.npz")
    assert serverdata.confine("x.npy", tmp_path) is None and serverdata.confine("y.npz", tmp_path) is None
    for name in ("x.npy", "y.npz"):  # open() on a FIFO waits for a writer forever
        with pytest.raises(DatasetError, match="not a regular file"):
            load_dataset(tmp_path / name)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_a_link_to_a_device_is_never_read(tmp_path, device):
    if not os.path.exists(device):
        pytest.skip(f"no {device}")
    (tmp_path / "w.npy").symlink_to(device)
    with pytest.raises(DatasetError, match="not a regular file"):
        read_npy(tmp_path / "w.npy")
    with pytest.raises(DatasetError, match="not a regular file"):
        open_image(str(tmp_path / "w.npy"))


def test_fifos_in_a_class_folder_are_skipped_and_counted(tmp_path):
    for cls in ("a", "b"):
        (tmp_path / "f" / cls).mkdir(parents=True)
        for k in range(3):
            (tmp_path / "f" / cls / f"{k}.png").write_bytes(png_bytes())
    os.mkfifo(tmp_path / "f" / "a" / "pipe.png")
    ds = load_dataset(tmp_path / "f", image_size=(8, 8))
    assert len(ds.train_images) + len(ds.test_images) == 6 and "1 entries skipped (not regular files)" in ds.source


def _swap_after_scan(monkeypatch, module, folder: Path, outside: Path) -> None:
    """Replace ``folder`` by a link to ``outside`` right after the loader has listed it."""
    scan = own.scan_image_folder

    def scan_then_swap(root):
        listed = scan(root)
        folder.rename(folder.with_name(folder.name + ".orig"))
        folder.symlink_to(outside, target_is_directory=True)
        return listed

    monkeypatch.setattr(module, "scan_image_folder", scan_then_swap)


def _folder_and_secret(tmp_path: Path) -> tuple[Path, Path]:
    root, secret = tmp_path / "root" / "shapes", tmp_path / "secret"
    for folder in (root / "a", root / "b", secret):
        folder.mkdir(parents=True)
        for k in range(3):
            (folder / f"{k}.png").write_bytes(png_bytes())
    return root, secret


def test_a_class_folder_swapped_for_a_link_after_the_check_is_not_read(tmp_path, monkeypatch):
    root, secret = _folder_and_secret(tmp_path)
    _swap_after_scan(monkeypatch, own, root / "b", secret)
    with pytest.raises(DatasetError, match=r"b/0\.png: leads out of the folder it was named in"):
        load_dataset(root, image_size=(8, 8))


def test_a_streamed_folder_swapped_after_the_scan_is_not_read(tmp_path, monkeypatch):
    root, secret = _folder_and_secret(tmp_path)
    _swap_after_scan(monkeypatch, streaming, root / "a", secret)
    with pytest.raises(DatasetError, match="leads out of the folder it was named in"):
        streaming.load_streamed(root, (8, 8), max_eval_images=10)


def test_a_file_swapped_for_a_link_out_is_not_read(tmp_path):
    root, secret = _folder_and_secret(tmp_path)
    (root / "a" / "0.png").unlink()
    (root / "a" / "0.png").symlink_to(secret / "0.png")
    with pytest.raises(DatasetError, match="leads out of the folder"):
        open_regular(root / "a" / "0.png", "0.png", within=root)
    with open_regular(root / "a" / "1.png", "1.png", within=root) as f:  # a file inside is read
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- concurrent uploads


def _upload_bytes(n_images: int) -> bytes:
    buffer = io.BytesIO()
    rng = np.random.default_rng(0)
    np.savez(buffer, images=rng.integers(0, 256, (n_images, 28, 28), dtype=np.uint8), labels=np.arange(n_images) % 10)
    return buffer.getvalue()


@pytest.mark.parametrize("visitors", [1, 3, 5])
def test_uploads_at_once_add_their_results_not_their_parsing_peaks(visitors):
    """tracemalloc counts numpy's buffers: the peak while ``visitors`` threads parse one .npz
    each, minus the datasets they keep (4 bytes per stored byte: float32), is the parsing's
    own memory. Measured here: 1.3 file sizes whatever the number of visitors."""
    data = _upload_bytes(6000)  # 4.5 MB
    held: list[Dataset] = []
    tracemalloc.start()
    try:
        threads = [threading.Thread(target=lambda: held.append(training.load_upload(data, "d.npz")))
                   for _ in range(visitors)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    kept = sum(d.train_images.nbytes + d.test_images.nbytes for d in held)
    assert len(held) == visitors
    assert (peak - kept) / len(data) < 2.0, (peak, kept, len(data))


def test_neighbour_counts_use_label_values_as_names_not_sizes():
    """A stored codes file is read beside its checkpoint: its labels may hold any value."""
    from explorer.logic import spaces

    rng = np.random.default_rng(0)
    means = np.concatenate([rng.normal(0, 0.1, (30, 2)), rng.normal(5, 0.1, (30, 2))])
    small, huge = np.repeat([0, 1], 30), np.repeat([7, 2**62], 30)  # old code: np.bincount(2**62) -> MemoryError
    assert spaces.label_counts(huge[25:40]) == [(7, 5), (2**62, 10)][::-1]
    assert spaces.label_counts(small[25:40]) == [(1, 10), (0, 5)]
    a, b = spaces.neighbour_agreement(means, small, k=5), spaces.neighbour_agreement(means, huge, k=5)
    assert a.share == b.share == 1.0 and a.mixed == b.mixed == []
