"""Turning a user's uploaded picture into an image a model can encode (no Streamlit here).

MNIST and scikit-learn's digits are light strokes on a black background, centred in the
frame; a photo or a scan of a digit written on paper is the opposite. So, for models of
such data, a dark-on-light upload is inverted and the digit is fitted into the frame by
drawing.fit_like_mnist, the function that fits a drawing too (as MNIST itself was made:
20x20 pixels of 28x28, centred by the centre of mass). For other data (faces) the picture is
only cropped to the model's aspect ratio and resized.

Every bad upload raises ValueError with a sentence the page can show as it is.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from core.data import UPLOAD_FORMATS, open_image
from explorer.logic.drawing import fit_like_mnist

MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # 10 MB
MAX_UPLOAD_PIXELS = 40_000_000  # width * height; larger files are refused before decoding
ACCEPTED_TYPES = ("png", "jpg", "jpeg")  # the names the file picker offers; the bytes must be UPLOAD_FORMATS
FIT_MAX_SIDE = 1024  # a larger digit picture is first shrunk by whole-pixel box averaging (the fit averages areas too)


class PreparedImage(NamedTuple):
    image: np.ndarray  # (C, H, W) float32 in [0, 1], the model's image shape
    inverted: bool  # colours were inverted to match the model's dark background
    original_size: tuple[int, int]  # (width, height) of the uploaded picture


def dark_background(images: np.ndarray) -> bool:
    """Whether images (N, C, H, W) in [0, 1] are light-on-dark (their border is dark)."""
    return _border_mean(np.asarray(images, dtype=np.float32).mean(1)) < 0.25


def _border_mean(gray: np.ndarray) -> float:
    """Mean of the outermost pixels of images (..., H, W)."""
    top, bottom = gray[..., 0, :], gray[..., -1, :]
    left, right = gray[..., 1:-1, 0], gray[..., 1:-1, -1]
    return float(np.concatenate([a.reshape(-1) for a in (top, bottom, left, right)]).mean())


def _open(data: bytes):
    if data is None or len(data) == 0:
        raise ValueError("The file is empty: choose a PNG or JPEG image.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValueError(
            f"The file is {len(data) / 2**20:.1f} MB; images up to {MAX_UPLOAD_BYTES // 2**20} MB are accepted."
        )
    return open_image(data, "This image", max_pixels=MAX_UPLOAD_PIXELS, formats=UPLOAD_FORMATS)  # DatasetError


def _as_array(picture, channels: int, max_side: int | None = None) -> np.ndarray:
    """A PIL image -> (H, W) or (H, W, 3) float32 in [0, 1]; transparency becomes white. A picture
    larger than ``max_side`` is shrunk by a whole factor, each pixel the mean of a square."""
    from PIL import Image

    if picture.mode in ("RGBA", "LA", "PA") or (picture.mode == "P" and "transparency" in picture.info):
        rgba = picture.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        canvas.alpha_composite(rgba)
        picture = canvas
    picture = picture.convert("L" if channels == 1 else "RGB")
    if max_side is not None and max(picture.size) > max_side:
        picture = picture.reduce(-(-max(picture.size) // max_side))
    return np.asarray(picture, dtype=np.float32) / 255.0


def _resize(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize (H, W[, 3]) float in [0, 1] to (height, width), antialiased."""
    from PIL import Image

    height, width = size
    if arr.shape[:2] == (height, width):
        return arr
    picture = Image.fromarray((np.clip(arr, 0, 1) * 255 + 0.5).astype(np.uint8))
    return np.asarray(picture.resize((width, height), Image.Resampling.LANCZOS), dtype=np.float32) / 255.0


def _crop_to_aspect(arr: np.ndarray, height: int, width: int) -> np.ndarray:
    h, w = arr.shape[:2]
    target = width / height
    if w / h > target:  # too wide: crop the sides
        new_w = max(1, round(h * target))
        x0 = (w - new_w) // 2
        return arr[:, x0:x0 + new_w]
    new_h = max(1, round(w / target))
    y0 = (h - new_h) // 2
    return arr[y0:y0 + new_h]


def prepare_upload(data: bytes, image_shape: tuple[int, int, int], dark_background: bool = True,
                   invert: bool | None = None) -> PreparedImage:
    """Decode an uploaded PNG/JPEG and make it look like the model's images.

    Args:
        data: the file's bytes.
        image_shape: (C, H, W) of the model; C = 1 gives grayscale, C = 3 RGB.
        dark_background: the model's images are light on dark (MNIST, digits): invert a
            dark-on-light upload and fit it like MNIST; False: only crop and resize.
        invert: force inverting (True) or not (False); None decides from the border.

    Raises:
        ValueError: empty, too large, not an image, or a damaged file.
    """
    channels, height, width = (int(s) for s in image_shape)
    if channels not in (1, 3):
        raise ValueError(f"image_shape={tuple(image_shape)}: uploads can feed models of 1 or 3 channels")
    picture = _open(data)
    original_size = picture.size
    arr = _as_array(picture, channels, FIT_MAX_SIDE if dark_background else None)
    gray = arr if arr.ndim == 2 else arr.mean(2)
    if invert is None:
        invert = dark_background and _border_mean(gray) > 0.5
    if invert:
        arr = 1.0 - arr
    if dark_background:
        out = fit_like_mnist(np.clip(arr, 0.0, 1.0), (height, width))
    else:
        out = _resize(_crop_to_aspect(arr, height, width), (height, width))
    out = out[None] if out.ndim == 2 else out.transpose(2, 0, 1)
    return PreparedImage(np.ascontiguousarray(out, dtype=np.float32), bool(invert), original_size)


def image_from_upload(data: bytes, image_shape: tuple[int, int, int], dark_background: bool = True) -> np.ndarray:
    """An uploaded file's bytes -> (C, H, W) float32 in [0, 1]; ValueError for a bad file."""
    return prepare_upload(data, image_shape, dark_background).image


__all__ = ["MAX_UPLOAD_BYTES", "MAX_UPLOAD_PIXELS", "ACCEPTED_TYPES", "PreparedImage", "dark_background",
           "prepare_upload", "image_from_upload"]
