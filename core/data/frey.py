"""frey: Brendan Frey's 1,965 28x20 faces: frey_rawface.mat in the data root, else the copy shipped
in the repository's data/frey (checksummed), else downloaded when online."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.data.arrays import split_dataset, to_unit_float
from core.data.bundled import bundled_file, describe_location
from core.data.dataset import Dataset, DatasetError
from core.data.download import REDOWNLOAD, download_or_fail, first_existing, loadmat

FREY_URL = "https://cs.nyu.edu/~roweis/data/frey_rawface.mat"


def load(root: Path, download: bool, test_fraction: float, seed: int) -> Dataset:
    dest = root / "frey_rawface.mat"
    path = first_existing([dest, root / "frey" / "frey_rawface.mat"]) or bundled_file("frey/frey_rawface.mat")
    if path is None:
        if not download:
            raise DatasetError(
                f"frey: {dest} is missing (download=False). Download {FREY_URL} and put it at that path, "
                "or call with download=True while online."
            )
        download_or_fail(FREY_URL, dest, "frey", "Be online, or download the file yourself and put it at that path.")
        try:
            ff = loadmat(dest, "ff", "frey")
        except DatasetError:
            dest.unlink(missing_ok=True)  # not the file we asked for (an error page?): drop it
            raise
        path = dest
    else:
        ff = loadmat(path, "ff", "frey")
    if ff.ndim != 2 or ff.shape[0] != 28 * 20:
        raise DatasetError(
            f"frey: {path}: variable 'ff' must have shape (560, N) (one 28x20 face per column), "
            f"got {ff.shape}: {REDOWNLOAD}"
        )
    where = describe_location(path, root)
    images = to_unit_float(np.ascontiguousarray(ff.T).reshape(-1, 28, 20), f"frey: {where}")[:, None]
    return split_dataset("frey", images, None, None, f"Frey faces ({len(images):,} 28x20) from {where}",
                         test_fraction, seed)
