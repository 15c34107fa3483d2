"""Builders of hostile files, made cheaply (no gigabytes in memory or on disk).

    npy_claiming(shape)        a small .npy whose header claims ``shape`` (4 KB of data follow)
    zip_bomb_npz(path, size)   a real .npz whose one member inflates to ``size`` bytes of zeros
                               (~1 KB per MiB: 2 MB on disk for 2 GB)
    huge_png(width, height)    a real 1-bit grayscale PNG of that size (all black, ~50 KB for 400 MP)
    malicious_pickle(marker)   a pickle that creates ``marker`` when it is loaded
"""

from __future__ import annotations

import pathlib
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np


def npy_header(shape: tuple[int, ...], dtype: str = "|u1") -> bytes:
    """A version 1.0 .npy header (magic, length, dict, padding to 64 bytes)."""
    text = f"{{'descr': '{dtype}', 'fortran_order': False, 'shape': {tuple(shape)!r}, }}"
    pad = 64 - (10 + len(text) + 1) % 64
    text = text + " " * pad + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1")


def npy_claiming(shape: tuple[int, ...], data_bytes: int = 4096) -> bytes:
    return npy_header(shape) + bytes(data_bytes)


def _zeros_deflate(total: int, prefix: bytes) -> tuple[bytes, int]:
    """A raw deflate stream of ``prefix`` + zeros up to ``total`` bytes, and its CRC-32.

    A full flush ends a deflate segment on a byte boundary with no reference to earlier
    data, so one compressed MiB of zeros can be repeated: 2 GB costs 2,048 copies of ~1 KB.
    """
    mib = 1 << 20
    head = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = head.compress(prefix) + head.flush(zlib.Z_FULL_FLUSH)
    block = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros_segment = block.compress(bytes(mib)) + block.flush(zlib.Z_FULL_FLUSH)
    n_blocks, rest = divmod(total - len(prefix), mib)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15)
    last = tail.compress(bytes(rest)) + tail.flush(zlib.Z_FINISH)
    crc = zlib.crc32(prefix)
    zero_block = bytes(mib)
    for _ in range(n_blocks):
        crc = zlib.crc32(zero_block, crc)
    crc = zlib.crc32(bytes(rest), crc)
    return first + zeros_segment * n_blocks + last, crc


def zip_bomb_npz(path: str | Path, inflated: int = 2 * 10**9, member: str = "images.npy") -> Path:
    """A valid .npz (zip, deflate) whose member is a .npy of ``inflated`` bytes, nearly all zeros."""
    header = npy_header((inflated - 128,))
    header = npy_header((inflated - len(header),))
    data, crc = _zeros_deflate(inflated, header)
    name = member.encode()
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(data), inflated, len(name), 0) + name
    central = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(data), inflated,
                          len(name), 0, 0, 0, 0, 0, 0) + name
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(local) + len(data), 0)
    path = Path(path)
    path.write_bytes(local + data + central + end)
    return path


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def huge_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A valid 1-bit grayscale PNG, all black: 400 megapixels in ~50 KB by default."""
    row = bytes(1 + (width + 7) // 8)  # filter byte 0 + packed bits
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">2I5B", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


class _Touch:
    """Unpickling this creates a file: the stand-in for 'runs code'."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (pathlib.Path(self.marker),)


def malicious_pickle(marker: str | Path) -> bytes:
    return pickle.dumps(_Touch(Path(marker)))


def small_npy_bytes(images: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, images, allow_pickle=False)
    return buf.getvalue()
