"""Files that appear whole or not at all: written to a temp file beside the target, fsync'ed,
then renamed over it (``os.replace`` is atomic on one file system). A reader never sees half a
file, and a crash leaves the old file or none, plus at most a ``.NAME.*.tmp`` to ignore."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def temp_file_beside(target: Path, write: Callable[[str], object]) -> Path:
    """Write through a new temp file next to ``target`` (``write(path)``), fsync'ed; returns its
    path, which is the caller's to rename or delete."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; these are ordinary readable files
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def write_atomically(target: Path, write: Callable[[str], object]) -> Path:
    """``write(path)`` into a temp file, then rename it over ``target``; returns ``target``."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_file_beside(target, write)
    try:
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
