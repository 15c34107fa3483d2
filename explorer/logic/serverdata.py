"""Paths a visitor may name on the server: only inside a root the operator chose.

``confine(text, root)`` resolves what a visitor typed (relative to the root, or absolute)
with ``os.path.realpath``, so ``..`` and symbolic links are followed before the check, and
returns the real path only when it lies inside the root and can be read. Everything else
(missing, outside the root, a link out of it, unreadable, a folder holding a link out of
it or nested deeper than ``MAX_DEPTH``, a FIFO or device) gets the same answer, None, and
the page the same message (``not_available``), so the answers do not tell which paths exist
on the server. The loaders check again once each file is open (``core.data.limits.open_regular``):
a path swapped after this check cannot lead them out of the folder that was named.
"""

from __future__ import annotations

import os
from pathlib import Path

from core.data.limits import lies_inside

MAX_ENTRIES = 200_000  # a folder with more entries than this is not walked (nor trained on)
MAX_DEPTH = 32  # a folder nested deeper than this is not walked (the loaders read two levels)


def not_available(text: str) -> str:
    """The one message for any path that cannot be used (whatever the reason)."""
    shown = text if len(text) <= 80 else text[:77] + "..."
    return (f"No readable image folder or .npz / .npy file named {shown!r} in the server's data folder. "
            "Give a path inside it, e.g. digits-pngs or faces.npz.")


def inside(path: str | os.PathLike, root: str | os.PathLike) -> bool:
    """Whether the real path of ``path`` lies in (or is) the real path of ``root``."""
    return lies_inside(path, root)


def _links_out(folder: str, root: str) -> bool:
    """Whether any entry under ``folder`` is a link leading out of ``root``, or the folder is
    too big (``MAX_ENTRIES``) or too deep (``MAX_DEPTH``) to tell. Walked with an explicit
    stack: no recursion, whatever the depth."""
    count = 0
    stack = [(folder, 0)]
    while stack:
        top, depth = stack.pop()
        try:
            with os.scandir(top) as entries:
                for entry in entries:
                    count += 1
                    if count > MAX_ENTRIES:
                        return True
                    if entry.is_symlink():
                        if not inside(entry.path, root):
                            return True
                    elif entry.is_dir(follow_symlinks=False):
                        if depth + 1 >= MAX_DEPTH:
                            return True
                        stack.append((entry.path, depth + 1))
        except OSError:
            continue
    return False


def confine(text: str, root: str | os.PathLike | None) -> Path | None:
    """The real path ``text`` names inside ``root``, or None (see the module docstring)."""
    text = (text or "").strip()
    if root is None or not text or "\x00" in text:
        return None
    base = os.path.realpath(root)
    candidate = text if os.path.isabs(text) else os.path.join(base, text)
    real = os.path.realpath(candidate)
    if not inside(real, base) or not os.path.exists(real) or not os.access(real, os.R_OK):
        return None
    if os.path.isdir(real):
        if not os.access(real, os.X_OK) or _links_out(real, base):
            return None
    elif not os.path.isfile(real) or not real.lower().endswith((".npz", ".npy")):
        return None  # a FIFO or a device named x.npy is no data (and reading it would never end)
    return Path(real)


def shown_path(path: str | os.PathLike, root: str | os.PathLike) -> str:
    """``path`` as the visitor sees it: relative to the root (the server's layout stays private)."""
    real, base = os.path.realpath(path), os.path.realpath(root)
    return os.path.relpath(real, base) if inside(real, base) else Path(path).name


def scrub(message: str, root: str | os.PathLike) -> str:
    """An error message with the root's real path taken out."""
    base = os.path.realpath(root).rstrip(os.sep)
    return message.replace(base + os.sep, "").replace(base, ".")
