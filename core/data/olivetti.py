"""olivetti: 400 64x64 faces of 40 people, olivettifaces.mat in the data root or scikit-learn's fetcher."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.data.arrays import split_dataset, to_unit_float
from core.data.dataset import Dataset, DatasetError
from core.data.download import REDOWNLOAD, first_existing, loadmat


def load(root: Path, download: bool, test_fraction: float, seed: int) -> Dataset:
    path = first_existing([root / "olivettifaces.mat", root / "olivetti" / "olivettifaces.mat"])
    if path is not None:
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
        where = f"from {path}"
    else:
        import inspect

        from sklearn.datasets import fetch_olivetti_faces

        # one retry, not scikit-learn's default three, so that offline fails within a second
        retries = {"n_retries": 1, "delay": 0.5}
        if "n_retries" not in inspect.signature(fetch_olivetti_faces).parameters:  # before 1.5
            retries = {}
        try:
            bunch = fetch_olivetti_faces(data_home=str(root), download_if_missing=download, **retries)
        except (OSError, ValueError, RuntimeError) as e:
            raise DatasetError(
                f"olivetti: neither {root / 'olivettifaces.mat'} nor scikit-learn's copy in {root} is "
                f"there, and scikit-learn's fetcher could not get it ({e}). Be online with download=True, "
                f"or put olivettifaces.mat (variable 'faces', 4096x400) at {root / 'olivettifaces.mat'}."
            ) from e
        images = to_unit_float(np.asarray(bunch.images, dtype=np.float32), "olivetti (scikit-learn)")[:, None]
        labels = np.asarray(bunch.target, dtype=np.int64)
        where = f"via scikit-learn's fetch_olivetti_faces in {root}"
    n_people = int(labels.max()) + 1
    return split_dataset("olivetti", images, labels, [f"person {i}" for i in range(n_people)],
                         f"Olivetti faces ({len(images):,} 64x64, {n_people} people) {where}", test_fraction, seed)
