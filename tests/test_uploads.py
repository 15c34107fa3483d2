"""Uploaded images (explorer.logic.uploads): good files become model images, bad files a clear ValueError."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from explorer.logic import uploads


def _png(arr: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(arr, mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


def _jpeg(arr: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(arr).save(buffer, format="JPEG")
    return buffer.getvalue()


def _dark_digit_on_paper(size: int = 200) -> np.ndarray:
    """A black vertical stroke on white paper, off centre."""
    arr = np.full((size, size), 255, dtype=np.uint8)
    arr[40:160, 30:50] = 0
    return arr


def test_dark_on_light_upload_is_inverted_cropped_and_centred_like_mnist():
    prepared = uploads.prepare_upload(_png(_dark_digit_on_paper()), (1, 28, 28), dark_background=True)
    image = prepared.image
    assert image.shape == (1, 28, 28) and image.dtype == np.float32
    assert prepared.inverted and prepared.original_size == (200, 200)
    assert image.min() >= 0 and image.max() <= 1
    assert image[0, 0].max() < 0.05 and image[0, :, 0].max() < 0.05  # dark border, like MNIST
    rows = np.flatnonzero(image[0].max(1) > 0.5)
    assert rows[-1] - rows[0] + 1 == pytest.approx(20, abs=1)  # fitted into the 20-pixel box
    mass = image[0]
    cy = (mass.sum(1) * np.arange(28)).sum() / mass.sum()
    cx = (mass.sum(0) * np.arange(28)).sum() / mass.sum()
    assert abs(cy - 13.5) <= 1 and abs(cx - 13.5) <= 1  # centred by mass


def test_light_on_dark_upload_is_not_inverted():
    arr = np.zeros((64, 64), dtype=np.uint8)
    arr[10:50, 28:36] = 255
    prepared = uploads.prepare_upload(_png(arr), (1, 8, 8), dark_background=True)
    assert not prepared.inverted
    assert prepared.image.shape == (1, 8, 8) and prepared.image.max() > 0.5


def test_faces_are_only_cropped_to_the_aspect_and_resized():
    arr = np.random.default_rng(0).integers(0, 256, size=(300, 400, 3), dtype=np.uint8)
    prepared = uploads.prepare_upload(_jpeg(arr), (1, 28, 20), dark_background=False)
    assert prepared.image.shape == (1, 28, 20) and not prepared.inverted


def test_rgb_models_get_rgb_and_transparency_becomes_white():
    rgba = np.zeros((10, 10, 4), dtype=np.uint8)
    rgba[..., 0] = 255
    rgba[5:, :, 3] = 255  # top half transparent
    image = uploads.prepare_upload(_png(rgba, "RGBA"), (3, 10, 10), dark_background=False).image
    assert image.shape == (3, 10, 10)
    np.testing.assert_allclose(image[:, 0, 0], [1, 1, 1], atol=0.02)  # white where transparent
    np.testing.assert_allclose(image[:, 9, 0], [1, 0, 0], atol=0.02)  # red where opaque


def test_image_from_upload_returns_the_array():
    arr = uploads.image_from_upload(_png(_dark_digit_on_paper()), (1, 28, 28))
    assert arr.shape == (1, 28, 28)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "empty"),
        (b"these are not the pixels you are looking for", "not an image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not an image|could not be opened|damaged"),
    ],
    ids=["empty", "text", "bad-png-header"],
)
def test_bad_uploads_raise_a_clear_value_error(data, match):
    with pytest.raises(ValueError, match=match):
        uploads.image_from_upload(data, (1, 28, 28))


def test_truncated_image_is_reported_as_damaged():
    data = _png(np.random.default_rng(0).integers(0, 256, size=(64, 64), dtype=np.uint8))
    with pytest.raises(ValueError, match="damaged or truncated|could not be opened"):
        uploads.image_from_upload(data[: len(data) // 2], (1, 28, 28))


def test_too_large_file_is_refused_before_decoding(monkeypatch):
    monkeypatch.setattr(uploads, "MAX_UPLOAD_BYTES", 100)
    with pytest.raises(ValueError, match="MB; images up to"):
        uploads.image_from_upload(_png(_dark_digit_on_paper()), (1, 28, 28))


def test_too_many_pixels_is_refused(monkeypatch):
    monkeypatch.setattr(uploads, "MAX_UPLOAD_PIXELS", 100)
    with pytest.raises(ValueError, match="megapixels"):
        uploads.image_from_upload(_png(np.zeros((20, 20), dtype=np.uint8)), (1, 28, 28))


def test_dark_background_detects_mnist_like_images():
    dark = np.zeros((4, 1, 28, 28), dtype=np.float32)
    dark[:, :, 10:18, 10:18] = 1
    assert uploads.dark_background(dark)
    assert not uploads.dark_background(1 - dark)


def test_a_drawn_and_an_uploaded_image_of_the_same_strokes_land_on_the_same_code():
    """One fitting function for drawings and uploads: the strokes on the pad's ink grid (light on
    black, as draw.js reads them) and the same strokes uploaded as a scan (dark on white paper)
    become the same model image, hence the same code."""
    import torch

    from core.models import ModelConfig, build_model
    from explorer.logic.drawing import fit_like_mnist

    picture = Image.new("L", (280, 280), 0)
    pen = ImageDraw.Draw(picture)
    pen.line([(150, 40), (110, 150), (120, 240)], fill=255, width=22)  # a slanted one with a foot
    pen.line([(90, 70), (175, 60)], fill=255, width=18)
    ink = np.asarray(picture, dtype=np.float32) / 255  # the pad's ink grid holds multiples of 1/255
    drawn = fit_like_mnist(ink, (28, 28))[None]
    prepared = uploads.prepare_upload(_png(255 - np.asarray(picture)), (1, 28, 28), dark_background=True)
    assert prepared.inverted
    np.testing.assert_allclose(prepared.image, drawn, atol=1e-6)
    torch.manual_seed(0)
    model = build_model(ModelConfig("vae", (1, 28, 28), 2, hidden=(64,))).eval()
    with torch.no_grad():
        codes = model.encode(torch.from_numpy(np.stack([drawn, prepared.image]))).mean.numpy()
    np.testing.assert_allclose(codes[0], codes[1], atol=1e-5)


def test_a_faint_upload_is_fitted_by_its_own_brightest_stroke():
    """A faint pencil scan (ink at most 0.3 after inverting) still gets its strokes boxed and fitted."""
    arr = np.full((100, 100), 255, dtype=np.uint8)
    arr[20:80, 45:55] = 180  # grey pencil on white: 0.29 after inverting
    image = uploads.prepare_upload(_png(arr), (1, 28, 28), dark_background=True).image[0]
    rows = np.flatnonzero(image.max(1) > 0.1)
    assert rows[-1] - rows[0] + 1 == pytest.approx(20, abs=1)
