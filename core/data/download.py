"""Finding, reading and fetching dataset files: MATLAB files, atomic downloads, torchvision's
MNIST-style downloads, and a fast offline check."""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

from core.data.dataset import DatasetError
from core.data.limits import check_decoded, check_file_size
from core.settings import settings

DOWNLOAD_TIMEOUT_S = 10.0


REDOWNLOAD = "delete it and download it again"


def first_existing(candidates: list[Path]) -> Path | None:
    for p in candidates:
        if p.is_file():
            return p
    return None


MAT_READ_TIMEOUT_S = 120.0


def loadmat(path: Path, variable: str, what: str) -> np.ndarray:
    """One variable of a MATLAB file, its declared size checked (``whosmat``) before it is read.

    scipy.io.loadmat parses MATLAB's own format (nothing is unpickled) in C, and some damaged
    files crash it (a segmentation fault, found by tests/test_fuzz.py). So it runs in a forked
    child process: the array comes back through a .npy file (read without pickle), an error as
    its message, and a crash as a DatasetError instead of the end of the server.
    """
    check_file_size(path, f"{what}: {path}")
    import importlib
    import multiprocessing

    importlib.import_module("scipy.io")  # before forking: the child must not import under other threads' locks

    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with tempfile.TemporaryDirectory(prefix="mat-") as tmp:
        out, error = Path(tmp) / "variable.npy", Path(tmp) / "error.txt"
        child = context.Process(target=_read_mat_into, args=(path, variable, what, out, error), daemon=True)
        child.start()
        child.join(MAT_READ_TIMEOUT_S)
        if child.is_alive():
            child.kill()
            child.join()
            raise DatasetError(f"{what}: reading {path} took over {MAT_READ_TIMEOUT_S:.0f} s: {REDOWNLOAD}")
        if error.exists():
            raise DatasetError(error.read_text())
        if child.exitcode != 0 or not out.exists():
            raise DatasetError(f"{what}: the MATLAB reader crashed on {path} (exit code {child.exitcode}); "
                               f"the file is corrupt: {REDOWNLOAD}")
        try:
            return np.load(out, allow_pickle=False)
        except ValueError as e:
            raise DatasetError(f"{what}: {path}: variable {variable!r} is not a numeric array: {REDOWNLOAD}") from e


def _read_mat_into(path: Path, variable: str, what: str, out: Path, error: Path) -> None:
    """The child's side of loadmat: the array to ``out``, or a DatasetError's message to ``error``."""
    try:
        np.save(out, _read_mat(path, variable, what), allow_pickle=False)
    except DatasetError as e:
        error.write_text(str(e))


def _read_mat(path: Path, variable: str, what: str) -> np.ndarray:
    import scipy.io

    try:
        listed = scipy.io.whosmat(str(path))
        found = {name: shape for name, shape, _ in listed}
        if variable in found:
            check_decoded(f"{what}: {path} (variable {variable!r})", tuple(found[variable]), 8)
            contents = scipy.io.loadmat(str(path), variable_names=[variable])
        else:
            contents = {}
    except DatasetError:
        raise
    except (Exception, MemoryError) as e:  # scipy raises many kinds (ValueError, MatReadError, zlib, ...)
        raise DatasetError(
            f"{what}: cannot read {path} as a MATLAB .mat file ({type(e).__name__}: {e}); "
            "the file is corrupt or truncated: delete it and download it again"
        ) from e
    if variable not in contents:
        raise DatasetError(
            f"{what}: {path} has no variable {variable!r} (found: {sorted(found) or 'none'}); "
            "it is not the expected file: delete it and download it again"
        )
    value = contents[variable]
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "uifb":
        raise DatasetError(f"{what}: {path}: variable {variable!r} is not a numeric array: {REDOWNLOAD}")
    return value


def file_digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def download_or_fail(url: str, dest: Path, what: str, hint: str) -> None:
    """download_file, with any network failure turned into the loader's DatasetError."""
    try:
        download_file(url, dest)
    except (OSError, ValueError, http.client.HTTPException) as e:  # URLError, timeouts: OSError
        raise DatasetError(f"{what}: {dest} is missing and downloading it from {url} failed ({e}). {hint}") from e


def download_file(url: str, dest: Path, timeout: float = DOWNLOAD_TIMEOUT_S) -> None:
    """Download url to dest atomically (temp file in the same folder, then os.replace),
    at most ``settings().max_data_bytes`` of it."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        limit, written = settings().max_data_bytes, 0
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=timeout) as response:
            while block := response.read(1 << 16):
                written += len(block)
                if written > limit:
                    raise OSError(f"{url} sends more than {limit:,} bytes; download stopped")
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
    """Download the four IDX .gz files of MNIST / FashionMNIST into <root>/<class_name>/raw.

    Uses torchvision's list of mirrors and MD5 sums only: its dataset classes are never
    instantiated, because they load a legacy ``processed/*.pt`` cache with torch.load
    (unpickling) when one is there. Each file is checked against its MD5 sum.
    Fails fast offline: OSError when the first mirror cannot be reached.
    """
    import torchvision.datasets

    cls = getattr(torchvision.datasets, class_name)
    mirrors = list(getattr(cls, "mirrors", []))
    if mirrors and not reachable(mirrors[0]):
        raise OSError(f"cannot reach {urllib.parse.urlsplit(mirrors[0]).hostname} (offline?)")
    raw = root / class_name / "raw"
    for filename, md5 in cls.resources:
        dest = raw / filename
        if dest.is_file() and file_digest(dest, "md5") == md5:
            continue
        errors = []
        for mirror in mirrors:
            try:
                download_file(urllib.parse.urljoin(mirror, filename), dest)
            except (OSError, ValueError, http.client.HTTPException) as e:
                errors.append(f"{mirror}: {e}")
                continue
            if file_digest(dest, "md5") == md5:
                break
            dest.unlink(missing_ok=True)
            errors.append(f"{mirror}: {filename} has the wrong MD5 sum")
        else:
            raise OSError(f"could not download {filename} ({'; '.join(errors) or 'no mirrors'})")


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
