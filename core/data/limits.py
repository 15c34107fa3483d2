"""Size limits, checked before anything is read: hostile files end in DatasetError, never in
a MemoryError, a decompression bomb or a traceback.

Every loader asks here first, against ``settings().max_data_bytes`` (core/settings.py;
$LATENT_EXPLORER_MAX_DATA_BYTES, default 512 MiB):

    check_decoded(...)        elements x bytes of the float32 copy (and of the stored array) within the cap
    read_npy(path)            a .npy: header first (shape, dtype), then the data
    read_npz(path)            a .npz: each member's zip sizes and .npy header first, then the data
    open_image(bytes or path) a PIL image of an accepted format (UPLOAD_FORMATS by default,
                              FOLDER_FORMATS for image folders), its pixel count checked before decoding
    open_regular(path, ...)   a file opened for reading only when it is a regular file (never a FIFO
                              or a device) that really lies inside ``within`` once open
    read_limited(f, n, what)  at most n bytes from a (decompressing) stream

The decoded size counts what the loaders hold in memory: the images become float32, so a
uint8 file of B bytes costs 4 B. The compression ratio of a .npz member or a gzipped file
is refused above ``MAX_COMPRESSION_RATIO`` once it decodes to more than ``RATIO_FLOOR_BYTES``
(small files may compress well; big ones that compress 1000:1 are bombs, not images).
"""

from __future__ import annotations

import io
import os
import stat
import warnings
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np

from core.data.dataset import DatasetError
from core.settings import MAX_DATA_BYTES_ENV, settings

MAX_COMPRESSION_RATIO = 200  # real image data compresses 2-20:1; zeros 1000:1
RATIO_FLOOR_BYTES = 16 * 2**20  # below this a high ratio is harmless
MAX_IMAGE_PIXELS = 40_000_000  # width x height of one picture (PIL's own default is 89 M)
MAX_NPY_HEADER = 10_000  # bytes of a .npy header (numpy's own limit)
# What PIL may decode, by the format it reads from the file's bytes (never by the file's name).
# Anything else (PostScript / EPS and PDF, which PIL hands to Ghostscript; ICO, TGA, ...) is refused.
UPLOAD_FORMATS = ("PNG", "JPEG")
FOLDER_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "PPM")  # PPM: PIL's reader of .pgm / .ppm / .pbm



def _mb(n: int) -> str:
    return f"{n / 2**20:,.0f} MB" if n >= 2**20 else f"{n:,} bytes"


def check_decoded(what: str, shape: tuple[int, ...], itemsize: int) -> int:
    """Refuse data of ``shape`` whose stored or float32 copy exceeds the cap; returns the stored bytes."""
    elements = 1
    for dim in shape:
        elements *= int(dim)  # Python ints: no overflow
    stored = elements * int(itemsize)
    decoded = max(stored, elements * 4)
    cap = settings().max_data_bytes
    if decoded > cap:
        raise DatasetError(
            f"{what}: its header promises shape {tuple(shape)}, {_mb(decoded)} once decoded; at most "
            f"{_mb(cap)} is accepted (set {MAX_DATA_BYTES_ENV} to allow more). Refused before reading it."
        )
    return stored


def check_ratio(what: str, decoded: int, compressed: int) -> None:
    if decoded > RATIO_FLOOR_BYTES and decoded > MAX_COMPRESSION_RATIO * max(compressed, 1):
        raise DatasetError(
            f"{what}: {_mb(compressed)} that would inflate to {_mb(decoded)} (ratio {decoded / max(compressed, 1):,.0f}:1, "
            f"at most {MAX_COMPRESSION_RATIO}:1 accepted); this looks like a decompression bomb, refused"
        )


def check_file_size(path: Path, what: str) -> int:
    """The file's size; DatasetError when it alone is over the cap (or it cannot be read)."""
    try:
        size = Path(path).stat().st_size
    except OSError as e:
        raise DatasetError(f"{what}: cannot read it ({e})") from e
    cap = settings().max_data_bytes
    if size > cap:
        raise DatasetError(f"{what}: the file is {_mb(size)}; at most {_mb(cap)} is accepted "
                           f"(set {MAX_DATA_BYTES_ENV} to allow more)")
    return size


def lies_inside(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> bool:
    """Whether the real path of ``path`` lies in (or is) the real path of ``root``."""
    real, base = os.path.realpath(path), os.path.realpath(root)
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


def _opened_path(fd: int, path: str | os.PathLike[str]) -> str:
    """The real path of the file open at ``fd``: the kernel's answer where /proc has it, else
    ``path`` resolved now and checked to be the very file (device and inode) that is open."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        real = os.path.realpath(path)
        opened, now = os.fstat(fd), os.stat(real)
        return real if (opened.st_dev, opened.st_ino) == (now.st_dev, now.st_ino) else os.devnull


def open_regular(path: str | os.PathLike[str], what: str, within: str | os.PathLike[str] | None = None) -> IO[bytes]:
    """``path`` opened for binary reading, checked on the open handle (so a path swapped after
    an earlier check cannot slip through): a regular file (a FIFO would block the reader
    forever, a device like /dev/zero never ends) of at most the cap, that lies inside
    ``within`` when given. DatasetError otherwise."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)  # O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer
    except (OSError, ValueError) as e:  # ValueError: a NUL byte in the name
        raise DatasetError(f"{what}: cannot read it ({getattr(e, 'strerror', None) or e})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise DatasetError(f"{what}: not a regular file (a folder, FIFO, socket or device); skipped")
        if within is not None and not lies_inside(_opened_path(fd, path), within):
            raise DatasetError(f"{what}: leads out of the folder it was named in; refused")
        cap = settings().max_data_bytes
        if info.st_size > cap:
            raise DatasetError(f"{what}: the file is {_mb(info.st_size)}; at most {_mb(cap)} is accepted "
                               f"(set {MAX_DATA_BYTES_ENV} to allow more)")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_limited(f: IO[bytes], n: int, what: str) -> bytearray:
    """Exactly ``n`` bytes from ``f`` (DatasetError when it ends early), read in blocks into one
    buffer (no second copy to join the blocks)."""
    out = bytearray(n)
    view, done = memoryview(out), 0
    while done < n:
        block = f.read(min(n - done, 1 << 20))
        if not block:
            raise DatasetError(f"{what}: the file ends after {done:,} of {n:,} promised bytes; it is truncated")
        view[done:done + len(block)] = block
        done += len(block)
    return out


# --------------------------------------------------------------------------- .npy and .npz


def _npy_header(f: IO[bytes], what: str) -> tuple[tuple[int, ...], np.dtype, bool]:
    """(shape, dtype, fortran_order) from a .npy header; the data is not read."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(f, max_header_size=MAX_NPY_HEADER)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(f, max_header_size=MAX_NPY_HEADER)
        else:
            raise DatasetError(f"{what}: .npy format version {version} is not supported (save it with numpy.save)")
    except DatasetError:
        raise
    except Exception as e:  # numpy's header parser raises many kinds (ValueError, SyntaxError, TokenError...)
        raise DatasetError(f"{what}: not a valid .npy file ({type(e).__name__}: {e})") from e
    if dtype.hasobject:
        raise DatasetError(
            f"{what}: holds a Python object array, which would need unpickling; refused "
            "(allow_pickle=False). Save plain numeric arrays instead."
        )
    if any(int(d) < 0 for d in shape):
        raise DatasetError(f"{what}: invalid shape {shape} in its header")
    return tuple(int(d) for d in shape), dtype, bool(fortran)


def _npy_data(f: IO[bytes], shape: tuple[int, ...], dtype: np.dtype, fortran: bool, what: str) -> np.ndarray:
    stored = check_decoded(what, shape, dtype.itemsize)
    data = read_limited(f, stored, what)
    try:
        arr = np.frombuffer(data, dtype=dtype) if stored else np.empty(0, dtype=dtype)
        return arr.reshape(shape[::-1]).transpose() if fortran else arr.reshape(shape)
    except (ValueError, TypeError) as e:
        raise DatasetError(f"{what}: its data does not fit its header ({e})") from e


def read_npy(path: Path, within: str | os.PathLike[str] | None = None) -> np.ndarray:
    """A .npy file's array: header checked against the cap and the file size before any data is read."""
    what = str(path)
    try:
        with open_regular(path, what, within) as f:
            shape, dtype, fortran = _npy_header(f, what)
            left = os.fstat(f.fileno()).st_size - f.tell()
            stored = check_decoded(what, shape, dtype.itemsize)
            if left < stored:
                raise DatasetError(
                    f"{what}: its header promises {stored:,} bytes of data (shape {shape}) but the file holds "
                    f"{left:,}; it is truncated or its header is corrupt"
                )
            return _npy_data(f, shape, dtype, fortran, what)
    except OSError as e:
        raise DatasetError(f"{what}: cannot read it ({e})") from e


def read_npz(path: Path, within: str | os.PathLike[str] | None = None) -> dict[str, np.ndarray]:
    """The arrays of a .npz (a zip of .npy files), each checked before it is inflated.

    Sizes come from the zip directory (declared sizes; Python's zipfile stops reading a
    member at its declared size and checks its CRC) and from each member's .npy header.
    """
    what = str(path)
    try:
        with open_regular(path, what, within) as raw, zipfile.ZipFile(raw) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
            total, cap = sum(i.file_size for i in infos), settings().max_data_bytes
            check_ratio(what, total, sum(i.compress_size for i in infos))
            if total > cap:
                raise DatasetError(
                    f"{what}: its arrays inflate to {_mb(total)}; at most {_mb(cap)} is accepted "
                    f"(set {MAX_DATA_BYTES_ENV} to allow more). Refused before inflating it."
                )
            out: dict[str, np.ndarray] = {}
            for info in infos:
                key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                member = f"{path} (array {key!r})"
                check_ratio(member, info.file_size, info.compress_size)
                with zf.open(info) as f:
                    shape, dtype, fortran = _npy_header(f, member)
                    stored = check_decoded(member, shape, dtype.itemsize)
                    if stored > info.file_size:
                        raise DatasetError(
                            f"{member}: its header promises {stored:,} bytes (shape {shape}) but the member holds "
                            f"{info.file_size:,}; the file is truncated or corrupt"
                        )
                    out[key] = _npy_data(f, shape, dtype, fortran, member)
            return out
    except DatasetError:
        raise
    except Exception as e:  # zipfile raises many kinds (BadZipFile, zlib.error, RuntimeError when encrypted...)
        raise DatasetError(f"{what}: cannot read it as a .npz file ({type(e).__name__}: {e})") from e


# --------------------------------------------------------------------------- images


def open_image(source: bytes | str | os.PathLike[str], what: str | None = None,
               max_pixels: int = MAX_IMAGE_PIXELS, formats: tuple[str, ...] = UPLOAD_FORMATS,
               within: str | os.PathLike[str] | None = None) -> Any:
    """A decoded PIL image from bytes or a path; DatasetError for anything that is not a
    readable picture in one of ``formats`` of at most ``max_pixels`` (checked from the header,
    before decoding). A path is read through ``open_regular`` (regular files inside ``within``).

    The format is the one PIL recognises in the bytes (``Image.open``'s ``formats``: no other
    decoder is even tried), whatever the file's name says. PIL's own guard
    (``Image.MAX_IMAGE_PIXELS``) is set to ``MAX_IMAGE_PIXELS`` and its DecompressionBombWarning
    is raised as an error here, so no path decodes a bomb."""
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS  # PIL's own check: a warning above, an error at twice this
    is_bytes = isinstance(source, (bytes, bytearray, memoryview))
    what = what or ("the uploaded image" if is_bytes else str(source))
    if is_bytes and len(source) == 0:
        raise DatasetError(f"{what}: the file is empty")
    accepted = " or ".join(formats) if len(formats) <= 2 else ", ".join(formats)
    try:
        if is_bytes:
            stream: IO[bytes] = io.BytesIO(bytes(source))
        else:
            with open_regular(source, what, within) as f:
                stream = io.BytesIO(read_limited(f, os.fstat(f.fileno()).st_size, what))
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            picture = Image.open(stream, formats=list(formats))
            width, height = picture.size
            if width < 1 or height < 1:
                raise DatasetError(f"{what}: the image has no pixels ({width} x {height})")
            if width * height > max_pixels:
                raise DatasetError(
                    f"{what}: the image is {width:,} x {height:,} pixels; at most "
                    f"{max_pixels / 1e6:g} megapixels are accepted (refused before decoding)"
                )
            picture.load()
        return picture
    except DatasetError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DatasetError(
            f"{what}: the image is too large to decode ({e}); at most {max_pixels / 1e6:g} megapixels are accepted"
        ) from None
    except UnidentifiedImageError:
        raise DatasetError(f"{what}: cannot read it as an image: not an image in an accepted format ({accepted}; "
                           "the format is read from the file's content, not its name)") from None
    except (Exception, MemoryError) as e:  # PIL's decoders raise many kinds (OSError, SyntaxError, struct.error...)
        raise DatasetError(f"{what}: cannot read it as an image: it is damaged or truncated ({e})") from None


def load_image_file(source: bytes | str | os.PathLike[str], mode: str = "L", what: str | None = None,
                    max_pixels: int = MAX_IMAGE_PIXELS, formats: tuple[str, ...] = UPLOAD_FORMATS,
                    within: str | os.PathLike[str] | None = None) -> np.ndarray:
    """An image as a uint8 array in ``mode`` ("L": (H, W), "RGB": (H, W, 3)), checked by ``open_image``."""
    picture = open_image(source, what, max_pixels, formats, within)
    try:
        return np.asarray(picture.convert(mode), dtype=np.uint8)
    except (OSError, ValueError) as e:
        raise DatasetError(f"{what or source}: cannot convert the image to {mode} ({e})") from None
