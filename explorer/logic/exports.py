"""Files to download (pure): a picture as PNG, latent codes as CSV, a checkpoint as a zip."""

from __future__ import annotations

import base64
import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from explorer.logic import images

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_bytes(picture: np.ndarray) -> bytes:
    """A picture (H, W) or (H, W, 3), uint8 or float in [0, 1], as PNG bytes of the same size."""
    picture = np.asarray(picture)
    if picture.dtype != np.uint8:
        picture = images.to_uint8(picture)
    buf = io.BytesIO()
    Image.fromarray(picture).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def png_from_data_uri(uri: str) -> bytes:
    """The bytes of an image data URI, as PNG (a PNG passes through; another format is re-encoded)."""
    head, _, payload = uri.partition(",")
    if not head.startswith("data:image/") or ";base64" not in head:
        raise ValueError(f"not a base64 image data URI: {head[:40]!r}")
    raw = base64.b64decode(payload)
    if raw.startswith(PNG_SIGNATURE):
        return raw
    with Image.open(io.BytesIO(raw), formats=["PNG", "JPEG"]) as picture:
        return png_bytes(np.asarray(picture.convert("RGB" if picture.mode not in ("L", "RGB") else picture.mode)))


def codes_frame(index: np.ndarray, means: np.ndarray, logvars: np.ndarray | None = None,
                labels: np.ndarray | None = None) -> pd.DataFrame:
    """One row per image: its index in the test split, its label (blank when unknown),
    z0..z{D-1}; for a VAE also logvar0.. and sigma0.. of q(z|x) (sigma = exp(logvar / 2))."""
    index = np.asarray(index, dtype=np.int64)
    means = np.asarray(means, dtype=np.float64)
    d = means.shape[1]
    frame = pd.DataFrame({"index": index})
    if labels is None:
        frame["label"] = pd.array([pd.NA] * len(index), dtype="Int64")
    else:
        frame["label"] = np.asarray(labels, dtype=np.int64)
    columns = {f"z{i}": means[:, i] for i in range(d)}
    if logvars is not None:
        logvars = np.asarray(logvars, dtype=np.float64)
        columns |= {f"logvar{i}": logvars[:, i] for i in range(d)}
        columns |= {f"sigma{i}": np.exp(0.5 * logvars[:, i]) for i in range(d)}
    return pd.concat([frame, pd.DataFrame(columns)], axis=1)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, float_format="%.6g").encode("utf-8")


def checkpoint_files(stem: str | Path) -> list[Path]:
    """The two files of a checkpoint: NAME.safetensors (weights) and NAME.json (the card)."""
    stem = Path(stem)
    stem = stem.with_suffix("") if stem.suffix in (".json", ".safetensors") else stem
    files = [stem.parent / (stem.name + ".safetensors"), stem.parent / (stem.name + ".json")]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"checkpoint {stem.name} is missing {', '.join(missing)}")
    return files


def checkpoint_zip(stem: str | Path) -> bytes:
    """NAME.safetensors and NAME.json in one zip, at its top level."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in checkpoint_files(stem):
            archive.write(path, arcname=path.name)
    return buf.getvalue()


__all__ = ["PNG_SIGNATURE", "png_bytes", "png_from_data_uri", "codes_frame", "csv_bytes", "checkpoint_files", "checkpoint_zip"]
