"""What a visitor sees on the pages when sending the audit's hostile inputs: a clear message,
never a traceback, a server path or live Markdown (the logic below: test_visitor_inputs.py)."""

from __future__ import annotations

import io
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit import config
from streamlit.testing.v1 import AppTest

from core.data import MAX_CLASSES
from explorer.logic import plaintext
from explorer.ui import loaders, train_form

ROOT = Path(__file__).resolve().parents[1]
TRAIN = str(ROOT / "pages" / "7_Train.py")
MAP = str(ROOT / "pages" / "1_Latent_map.py")
INTERPOLATION = str(ROOT / "pages" / "4_Interpolation.py")
TIMEOUT = 180
pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def server(fresh_server):
    return fresh_server


@pytest.fixture(autouse=True)
def visitor_config():
    """Streamlit's error display as .streamlit/config.toml sets it for the server."""
    value = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["client"]["showErrorDetails"]
    before = config.get_option("client.showErrorDetails")
    config.set_option("client.showErrorDetails", value)
    yield value
    config.set_option("client.showErrorDetails", before)


def assert_ok(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]


def shown(at: AppTest) -> list[str]:
    """Every alert's Markdown source on the page."""
    return [e.value for group in (at.error, at.success, at.info, at.warning) for e in group]


def plain(markdown: str) -> str:
    """What Markdown shows for text escaped by plaintext.markdown_text (the backslashes go)."""
    return re.sub(r"\\(.)", r"\1", markdown)


def no_live_markdown(texts: list[str]) -> bool:
    """No unescaped link, image or emphasis opener in ``texts``."""
    return not any(re.search(r"(?<!\\)(\]\(|!\[|\*\*)", t) for t in texts)


def npz_bytes(labels, size: int = 8) -> bytes:
    labels = np.asarray(labels)
    buffer = io.BytesIO()
    rng = np.random.default_rng(0)
    np.savez(buffer, images=rng.integers(0, 256, (len(labels), size, size), dtype=np.uint8), labels=labels)
    return buffer.getvalue()


def upload_on_train(name: str, data: bytes) -> AppTest:
    at = AppTest.from_file(TRAIN, default_timeout=TIMEOUT).run()
    assert_ok(at)
    at.radio(key="train_source").set_value(train_form.SOURCES[1]).run()
    at.file_uploader(key="train_upload").set_value((name, data, "application/octet-stream")).run()
    assert_ok(at)
    return at


# --------------------------------------------------------------------------- the Train page's uploads


def test_a_nul_byte_in_an_upload_name_shows_no_traceback_nor_path(server):
    """Streamlit refuses such a name itself, before the page runs (its widget state check):
    the visitor gets the redacted message of ``client.showErrorDetails``, no stack, no path;
    below Streamlit, load_upload reads such a name safely too (test_visitor_inputs.py)."""
    at = AppTest.from_file(TRAIN, default_timeout=TIMEOUT).run()
    at.radio(key="train_source").set_value(train_form.SOURCES[1]).run()
    at.file_uploader(key="train_upload").set_value(("dig\x00its.npz", npz_bytes([0, 1] * 10), "x")).run()
    for error in at.exception:
        assert "redacted" in error.message and not error.stack_trace and str(ROOT) not in error.message


@pytest.mark.parametrize("name", ["x" * 300 + ".npz", "dig\u202eits.npz",
                                  "[click](http://evil.example)![i](http://evil.example/i.png)**b**.npz"])
def test_hostile_upload_names_are_read_and_shown_as_plain_text(server, name):
    at = upload_on_train(name, npz_bytes(np.repeat([2**62, 5], 20)))
    (success,) = at.success
    assert "2 classes" in success.value  # labels 2^62 and 5: two classes
    assert plaintext.markdown_text(plaintext.file_name(name)) in success.value
    assert no_live_markdown(shown(at)) and "\x00" not in success.value and "x" * 61 not in success.value


def test_an_upload_with_too_many_classes_gets_a_message(server):
    at = upload_on_train("many.npz", npz_bytes(np.repeat(np.arange(MAX_CLASSES + 1) * 7, 2)))
    assert not at.success
    assert any(f"at most {MAX_CLASSES} classes are accepted" in plain(e.value) for e in at.error), shown(at)
    assert at.button(key="train_start").disabled


def test_a_broken_upload_named_with_markdown_gets_a_plain_message(server):
    at = upload_on_train("[x](http://evil.example).npz", b"PK\x03\x04 not really a zip")
    (error,) = at.error
    assert plain(error.value).startswith("evil.example_.npz: cannot read it as a .npz file")
    assert no_live_markdown(shown(at)) and "/tmp" not in error.value and "upload" not in error.value


def test_the_upload_is_kept_in_the_session_and_replaced_not_piled_up(server):
    at = upload_on_train("a.npz", npz_bytes(np.repeat([0, 1], 20)))
    first = at.session_state["_uploaded_dataset"]
    at.file_uploader(key="train_upload").set_value(("b.npz", npz_bytes(np.repeat([0, 1, 2], 20)), "x")).run()
    assert_ok(at)
    kept = at.session_state["_uploaded_dataset"]
    assert kept[0] != first[0] and kept[1].class_names == ["0", "1", "2"]  # one upload held per session
    at.file_uploader(key="train_upload").set_value(None).run()  # the visitor removes the file
    assert_ok(at)
    assert "_uploaded_dataset" not in at.session_state and any("Upload a" in i.value for i in at.info)


# --------------------------------------------------------------------------- the Latent map's image upload


def _need_map_model():
    names = {c["name"] for c in loaders.all_cards.__wrapped__()} if hasattr(loaders.all_cards, "__wrapped__") else set()
    if "mnist-vae-2" not in names and not (loaders.shipped_dir() / "mnist-vae-2.json").exists():
        pytest.skip("the shipped checkpoint mnist-vae-2 is not here")


def _image(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(buffer, format=fmt)
    return buffer.getvalue()


EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nnewpath 0 0 moveto 8 8 lineto stroke showpage\n%%EOF\n"


@pytest.mark.parametrize("content", [EPS, _image("TIFF"), _image("BMP"), _image("ICO")], ids=["eps", "tiff", "bmp", "ico"])
def test_latent_map_refuses_images_that_are_not_png_or_jpeg_whatever_their_name(content):
    _need_map_model()
    at = AppTest.from_file(MAP, default_timeout=TIMEOUT)
    at.session_state["picked_dataset"] = "mnist"
    at.session_state["picked_model"] = "mnist-vae-2"
    at.run()
    assert_ok(at)
    at.file_uploader(key="map_upload").set_value(("[d](http://evil.example)digit.png", content, "image/png")).run()
    assert_ok(at)
    (error,) = at.error
    assert "not an image in an accepted format" in plain(error.value) and no_live_markdown(shown(at)), error.value


# --------------------------------------------------------------------------- Interpolation's class pickers


@pytest.fixture
def custom_model(server) -> tuple[str, str]:
    """A 2-D VAE (random weights) published with its data: labels 2**62 and 7 only."""
    import torch

    from core.checkpoints import save_checkpoint
    from core.models import ModelConfig, build_model

    published = server / "published"
    (published / "data").mkdir(parents=True)
    (published / "data" / "odd.npz").write_bytes(npz_bytes(np.repeat([2**62, 7], 30)))
    torch.manual_seed(0)
    model = build_model(ModelConfig("vae", (1, 8, 8), 2, hidden=(16,)))
    save_checkpoint(model, published / "odd-vae-2", {"dataset": {"name": "custom:odd.npz", "path": "data/odd.npz"},
                                                     "train_config": {"beta": 1.0}})
    return "custom:odd.npz", "odd-vae-2"


def test_interpolation_offers_only_the_classes_that_have_test_images(custom_model):
    dataset, model = custom_model
    at = AppTest.from_file(INTERPOLATION, default_timeout=TIMEOUT)
    at.session_state["picked_dataset"] = dataset
    at.session_state["interp_models_custom:odd.npz_2"] = [model]
    at.run()
    assert_ok(at)
    at.radio(key="interp_mode").set_value("By class").run()
    assert_ok(at)
    picker = at.selectbox(key=f"interp_a_{dataset}")
    assert picker.options == ["7", str(2**62)]  # two classes, named by their values; no range(2**62 + 1)
    at.selectbox(key=f"interp_b_{dataset}").set_value(0).run()
    assert_ok(at)
    assert len(at.image) >= 2


# --------------------------------------------------------------------------- errors nobody planned


def test_an_unexpected_error_shows_visitors_no_details_and_is_logged(visitor_config, caplog):
    def page():
        raise ValueError("/srv/private/grades.npz could not be parsed")

    with caplog.at_level("ERROR", logger="streamlit"):
        at = AppTest.from_function(page).run()
    logged = [r for r in caplog.records if r.exc_info and "/srv/private" in str(r.exc_info[1])]
    assert logged, "the server's log keeps the full error"
    (error,) = at.exception
    assert visitor_config == "none"
    assert "/srv/private" not in error.message and not error.stack_trace and "ValueError" not in error.message
    assert "redacted" in error.message
