"""Finding, reading and fetching dataset files: MATLAB files, atomic downloads, torchvision's
MNIST-style downloads, and a fast offline check."""

from __future__ import annotations

import os
import socket
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

from core.data.dataset import DatasetError

DOWNLOAD_TIMEOUT_S = 10.0


REDOWNLOAD = "delete it and download it again"


def first_existing(candidates: list[Path]) -> Path | None:
    for p in candidates:
        if p.is_file():
            return p
    return None


def loadmat(path: Path, variable: str, what: str) -> np.ndarray:
    import scipy.io

    try:
        contents = scipy.io.loadmat(str(path), variable_names=[variable])
    except Exception as e:  # scipy raises many kinds (ValueError, MatReadError, zlib, ...)
        raise DatasetError(
            f"{what}: cannot read {path} as a MATLAB .mat file ({type(e).__name__}: {e}); "
            "the file is corrupt or truncated: delete it and download it again"
        ) from e
    if variable not in contents:
        try:
            found = sorted(name for name, _, _ in scipy.io.whosmat(str(path)))
        except Exception:
            found = []
        raise DatasetError(
            f"{what}: {path} has no variable {variable!r} (found: {found or 'none'}); "
            "it is not the expected file: delete it and download it again"
        )
    return np.asarray(contents[variable])


def download_file(url: str, dest: Path, timeout: float = DOWNLOAD_TIMEOUT_S) -> None:
    """Download url to dest atomically (temp file in the same folder, then os.replace)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=timeout) as response:
            while block := response.read(1 << 16):
                f.write(block)
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def reachable(url: str, timeout: float = 5.0) -> bool:
    """Whether a TCP connection to url's host opens within timeout (a fast offline check).

    Behind a configured proxy a direct connection says nothing, so answer True there.
    """
    if urllib.request.getproxies():
        return True
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def torchvision_download(class_name: str, root: Path) -> None:
    """Download MNIST / FashionMNIST into <root>/<class_name>/raw with torchvision.

    Fails fast offline: raises OSError when the first mirror cannot be reached, and lets
    torchvision's ImportError / OSError / RuntimeError through for the caller to catch.
    """
    import torchvision.datasets

    cls = getattr(torchvision.datasets, class_name)
    mirrors = list(getattr(cls, "mirrors", []))
    if mirrors and not reachable(mirrors[0]):
        raise OSError(f"cannot reach {urllib.parse.urlsplit(mirrors[0]).hostname} (offline?)")
    root.mkdir(parents=True, exist_ok=True)
    cls(root=str(root), train=True, download=True)


def try_download(class_name: str, root: Path) -> str | None:
    """Run the torchvision download; return None on success, else why it failed."""
    try:
        torchvision_download(class_name, root)
    except ImportError as e:
        return f"torchvision is not importable ({e})"
    except (OSError, RuntimeError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return f"the download failed: {first}"
    return None
