"""Where a checkpoint may be written: checked before any data is loaded or any training starts.

    output_problem(out, overwrite)   why ``out`` (a checkpoint path without extension) cannot
                                     be written, or None
    folder_problem(folder)           why files cannot be created in ``folder``, or None

Refused: an empty name or one starting with '.', a pickled suffix, an existing directory,
a place on a special filesystem (/proc, /sys, /dev, cgroups...), a parent that is a file
or not writable, and an existing checkpoint unless ``overwrite``.
"""

from __future__ import annotations

import os
from pathlib import Path

from core.checkpoints import CheckpointError, checkpoint_paths

SPECIAL_FILESYSTEMS = {
    "proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "debugfs", "tracefs", "securityfs",
    "configfs", "pstore", "bpf", "mqueue", "hugetlbfs", "autofs", "fusectl", "binfmt_misc", "efivarfs",
    "rpc_pipefs", "nsfs",
}
SPECIAL_PREFIXES = ("/proc", "/sys", "/dev")  # when the mount table cannot be read


def _mounts() -> list[tuple[str, str]]:
    """(mount point, filesystem type) of every mount, longest mount point first."""
    try:
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as f:
            rows = [line.split()[1:3] for line in f if len(line.split()) >= 3]
    except OSError:
        return []
    rows = [(point.replace("\\040", " "), fs) for point, fs in rows]
    return sorted(rows, key=lambda r: len(r[0]), reverse=True)


def special_filesystem(path: Path) -> str | None:
    """The type of the special filesystem ``path`` lies on (e.g. "proc"), or None."""
    text = str(path)
    for point, fs in _mounts():
        if text == point or text.startswith(point.rstrip("/") + "/"):
            return fs if fs in SPECIAL_FILESYSTEMS else None
    hit = next((p for p in SPECIAL_PREFIXES if text == p or text.startswith(p + "/")), None)
    return hit.strip("/") if hit else None


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path("/")


def folder_problem(folder: str | Path) -> str | None:
    """Why files cannot be created in ``folder`` (it or the folders to create), or None."""
    try:
        folder = Path(os.path.abspath(os.path.expanduser(str(folder))))
        existing = _nearest_existing(folder)
        real = Path(os.path.realpath(existing))
        fs = special_filesystem(real) or special_filesystem(folder)
        if fs:
            return f"cannot write to {folder}: it is on the special filesystem {fs!r} ({real}), not a place for files"
        if not existing.is_dir():
            return f"cannot write to {folder}: {existing} is a file, not a folder"
        if not os.access(existing, os.W_OK | os.X_OK):
            return f"cannot write to {folder}: permission denied on {existing}"
    except (OSError, ValueError) as err:  # a name too long, a NUL byte, an unencodable name
        return f"{folder!s}: not a usable path ({err})"
    return None


def output_problem(out: str | os.PathLike[str], overwrite: bool = False) -> str | None:
    """Why a checkpoint cannot be written at ``out`` (a path without extension), or None."""
    text = os.fspath(out)
    if not text.strip() or text.endswith(("/", os.sep)):
        return f"{text!r} is not a checkpoint path; give one without extension, e.g. checkpoints/NAME"
    if "\x00" in text:
        return "the path contains a NUL byte"
    try:
        weights, card = checkpoint_paths(text)
    except CheckpointError as err:
        return str(err)
    name = weights.name[: -len(".safetensors")]
    if not name or name.startswith("."):
        return f"{text!r}: a checkpoint name must not be empty or start with '.'"
    try:
        if Path(text).expanduser().is_dir():
            return f"{text} is a directory; give a checkpoint path without extension, e.g. {Path(text) / 'NAME'}"
        problem = folder_problem(weights.expanduser().parent)
        if problem:
            return problem
        existing = [p for p in (weights, card) if p.expanduser().exists() or p.expanduser().is_symlink()]
        if any(p.expanduser().is_dir() for p in existing):
            return f"{existing[0]} is a directory"
    except (OSError, ValueError) as err:
        return f"{text!s}: not a usable path ({err})"
    if existing and not overwrite:
        return (f"a checkpoint {card.with_suffix('')} already exists ({', '.join(p.name for p in existing)}); "
                "pass --force to replace it")
    return None


__all__ = ["SPECIAL_FILESYSTEMS", "folder_problem", "output_problem", "special_filesystem"]
