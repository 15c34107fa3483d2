"""The evaluation data shipped in the repository's data/ folder (see data/README.md).

The shipped checkpoints were measured on these files; the loaders fall back to them when the
data directory has nothing better, so a machine with no internet shows and measures the
shipped models on their own test images. Each file is checked against its SHA-256 before it
is used: an edited or truncated copy is refused, never silently read.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from core.data.dataset import DatasetError

BUNDLED_DIR = Path(__file__).resolve().parents[2] / "data"
BUNDLED_SHA256 = {
    "mnist/t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "mnist/t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    "frey/frey_rawface.mat": "265a83a23adb081755cd3de375509828e690324d1d60f076b8ecebc840d59c64",
}


def bundled_file(relative: str) -> Path | None:
    """The shipped copy of ``relative`` (e.g. "frey/frey_rawface.mat"), checked; None when absent."""
    if relative not in BUNDLED_SHA256:
        raise KeyError(f"{relative!r} is not one of the bundled files {sorted(BUNDLED_SHA256)}")
    path = BUNDLED_DIR / relative
    if not path.is_file():
        return None
    _verify(path, BUNDLED_SHA256[relative])
    return path


@lru_cache(maxsize=None)
def _verify(path: Path, expected: str) -> None:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != expected:
        raise DatasetError(
            f"the bundled file data/{path.parent.name}/{path.name} has SHA-256 {digest[:12]}..., not the "
            f"shipped {expected[:12]}...: it was changed or truncated. Restore it (git checkout data/) "
            "or put the original file in the data directory."
        )


def describe_location(path: Path, root: Path) -> str:
    """Where a file was read, without machine paths: "<data dir>/mnist", "data/mnist" (shipped) or its name."""
    path = Path(path)
    for base, label in ((BUNDLED_DIR, "data"), (Path(root), "<data dir>")):
        try:
            relative = path.resolve().relative_to(base.resolve())
        except (ValueError, OSError):
            continue
        return f"{label}/{relative.as_posix()}" if str(relative) != "." else label
    return path.name
