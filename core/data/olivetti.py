"""olivetti: 400 64x64 faces of 40 people, olivettifaces.mat in the data root (downloaded when online).

The file is the one scikit-learn's ``fetch_olivetti_faces`` downloads, fetched here directly
and checked by its SHA-256. scikit-learn's fetcher is never called: it keeps its copy as a
joblib pickle in the data folder and unpickles it on the next call, so a file planted there
would run code. Only the MATLAB file is read (scipy.io.loadmat, which does not unpickle).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.data.arrays import split_dataset, to_unit_float
from core.data.bundled import describe_location
from core.data.dataset import Dataset, DatasetError
from core.data.download import REDOWNLOAD, download_or_fail, file_digest, first_existing, loadmat

OLIVETTI_URL = "https://ndownloader.figshare.com/files/5976027"  # olivettifaces.mat (as scikit-learn)
OLIVETTI_SHA256 = "b612fb967f2dc77c9c62d3e1266e0c73d5fca46a4b8906c18e454d41af987794"


def _download(dest: Path) -> None:
    download_or_fail(OLIVETTI_URL, dest, "olivetti", "Be online, or download that file yourself and put it at "
                     "that path as olivettifaces.mat.")
    if file_digest(dest, "sha256") != OLIVETTI_SHA256:
        dest.unlink(missing_ok=True)
        raise DatasetError(f"olivetti: the file downloaded from {OLIVETTI_URL} is not olivettifaces.mat "
                           "(wrong SHA-256); it was removed")


def load(root: Path, download: bool, test_fraction: float, seed: int) -> Dataset:
    dest = root / "olivettifaces.mat"
    path = first_existing([dest, root / "olivetti" / "olivettifaces.mat"])
    if path is None:
        if not download:
            raise DatasetError(
                f"olivetti: {dest} is missing (download=False). Be online with download=True, or download "
                f"{OLIVETTI_URL} and put it at that path as olivettifaces.mat (variable 'faces', 4096x400)."
            )
        _download(dest)
        path = dest
    faces = loadmat(path, "faces", "olivetti")
    if faces.ndim != 2 or faces.shape[0] != 64 * 64:
        raise DatasetError(
            f"olivetti: {path}: variable 'faces' must have shape (4096, N) (one 64x64 face per "
            f"column), got {faces.shape}: {REDOWNLOAD}"
        )
    faces = np.ascontiguousarray(faces.T).reshape(-1, 64, 64).transpose(0, 2, 1)  # upright
    if np.issubdtype(faces.dtype, np.floating) and np.isfinite(faces).all() and faces.max() > 1.0:
        faces = faces / 255.0  # a 0..255 copy stored as float
    images = to_unit_float(np.ascontiguousarray(faces), f"olivetti: {path}")[:, None]
    labels = np.arange(len(images), dtype=np.int64) // 10  # 10 images per person, in order
    n_people = int(labels.max()) + 1
    return split_dataset("olivetti", images, labels, [f"person {i}" for i in range(n_people)],
                         f"Olivetti faces ({len(images):,} 64x64, {n_people} people) from {describe_location(path, root)}",
                         test_fraction, seed)
