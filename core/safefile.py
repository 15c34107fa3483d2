"""Reading files that someone else may have placed: checkpoint cards and weights in a folder
the operator publishes, a student's uploads. Nothing here trusts the file:

    read_regular(path, max_bytes, what)      the bytes of a regular file of at most max_bytes
    read_safetensors(path, max_bytes, what)  a .safetensors file, read only as far as its header announces
    safetensors_metadata(data, what)         the text metadata in those bytes' header
    load_json(data, what)                    JSON of bounded nesting (never a RecursionError)

A FIFO would block the reader for ever and ``/dev/zero`` never ends, so a file is opened
without following a final symbolic link and without blocking (``O_NOFOLLOW | O_NONBLOCK``),
then checked on the open descriptor (``fstat``: a regular file, small enough) before a
byte is read. Every refusal is an ``UntrustedFileError`` whose message names the file.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

MAX_JSON_DEPTH = 64  # nesting of arrays and objects; a checkpoint card needs 4
MAX_SAFETENSORS_HEADER = 1 << 20  # bytes of a .safetensors JSON header (a few hundred per tensor)
_BLOCK = 1 << 20


class UntrustedFileError(ValueError):
    """A file that is not a regular file, is too large, or is not what it claims to be."""


def _size_text(n: int) -> str:
    return f"{n / 1e6:,.1f} MB" if n >= 100_000 else f"{n:,} bytes"


def open_regular(path: str | Path, what: str) -> int:
    """A read-only descriptor of ``path``, a regular file reached without a final symbolic link.

    Refuses FIFOs, devices, sockets, folders and symbolic links without blocking on any of them."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as err:
        if os.path.islink(path):
            raise UntrustedFileError(f"{what} is a symbolic link; only regular files are read (copy the file in)") from None
        raise UntrustedFileError(f"{what}: cannot open it ({err.strerror})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = ("a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode)
                else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")
        raise UntrustedFileError(f"{what} is {kind}; only regular files are read")
    return fd


def _read_exactly(fd: int, n: int, what: str) -> bytes:
    parts, left = [], n
    while left > 0:
        block = os.read(fd, min(left, _BLOCK))
        if not block:
            raise UntrustedFileError(f"{what} ends after {n - left:,} of {n:,} bytes; it is truncated")
        parts.append(block)
        left -= len(block)
    return b"".join(parts)


def read_regular(path: str | Path, max_bytes: int, what: str | None = None) -> bytes:
    """The whole of a regular file of at most ``max_bytes`` (FileNotFoundError when it is missing)."""
    what = what or str(path)
    fd = open_regular(path, what)
    try:
        size = os.fstat(fd).st_size
        if size > max_bytes:
            raise UntrustedFileError(f"{what} is {_size_text(size)}; at most {_size_text(max_bytes)} is read")
        data = _read_exactly(fd, size, what)
        if os.read(fd, 1):  # it grew while being read
            raise UntrustedFileError(f"{what} grew while it was read; at most {_size_text(max_bytes)} is read")
        return data
    finally:
        os.close(fd)


def read_safetensors(path: str | Path, max_bytes: int, what: str | None = None) -> bytes:
    """A .safetensors file's bytes, refused unless its size is what its header announces
    (8 bytes of header length, the JSON header, then the tensors' data) and at most ``max_bytes``."""
    what = what or str(path)
    fd = open_regular(path, what)
    try:
        size = os.fstat(fd).st_size
        if size < 8:
            raise UntrustedFileError(f"{what} holds {size} bytes: it is truncated or corrupt")
        prefix = _read_exactly(fd, 8, what)
        n = int.from_bytes(prefix, "little")
        if n > min(MAX_SAFETENSORS_HEADER, size - 8):
            raise UntrustedFileError(f"{what}: its header length {n:,} does not fit in {size:,} bytes: it is truncated or corrupt")
        header = _read_exactly(fd, n, what)
        announced = 8 + n + _data_length(load_json(header, what), what)
        if announced != size:
            raise UntrustedFileError(f"{what} holds {size:,} bytes but its header announces {announced:,}: it is truncated "
                                     "or corrupt (or has data past its end); refused")
        if size > max_bytes:
            raise UntrustedFileError(f"{what} is {_size_text(size)}; its card allows at most {_size_text(max_bytes)}")
        return prefix + header + _read_exactly(fd, size - 8 - n, what)
    finally:
        os.close(fd)


def safetensors_metadata(data: bytes, what: str) -> dict[str, str]:
    """The ``__metadata__`` of a .safetensors file's bytes (as read by ``read_safetensors``)."""
    n = int.from_bytes(data[:8], "little")
    if len(data) < 8 or n > len(data) - 8:
        raise UntrustedFileError(f"{what}: its header is longer than the file: it is truncated or corrupt")
    header = load_json(data[8:8 + n], what)
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta or {}, dict) or not all(isinstance(v, str) for v in (meta or {}).values()):
        raise UntrustedFileError(f"{what}: its __metadata__ is not a mapping of text: it is truncated or corrupt")
    return meta or {}


def _data_length(header: Any, what: str) -> int:
    """The end of the last tensor's data, from a safetensors header ({name: {dtype, shape, data_offsets}})."""
    if not isinstance(header, dict):
        raise UntrustedFileError(f"{what}: its header is not a JSON object; it is not a safetensors file")
    end = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int and o >= 0 for o in offsets)):
            raise UntrustedFileError(f"{what}: tensor {name[:40]!r} has no valid data_offsets in its header")
        end = max(end, offsets[1])
    return end


_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_INNERMOST_PAIR = re.compile(r"\[\]|\{\}")


def json_too_deep(text: str, max_depth: int) -> bool:
    """Whether JSON ``text`` may nest arrays and objects deeper than ``max_depth`` (brackets in
    strings not counted), so that parsing it could recurse that deep. Innermost pairs are
    removed max_depth times at C speed, so a 100,000-deep file costs no recursion and no Python loop
    over its characters."""
    skeleton = _NOT_BRACKET.sub("", _STRING.sub("", text))
    too_many_opens = re.compile(r"[\[{]{%d}" % (max_depth + 1))
    for removed in range(max_depth):
        if not skeleton:
            return False
        if too_many_opens.search(skeleton):  # that many opened in a row: deep however it goes on
            return True
        shorter = _INNERMOST_PAIR.sub("", skeleton)
        if shorter == skeleton:  # brackets that do not pair up (a truncated file): nesting is at most
            return removed + len(skeleton) > max_depth  # the layers removed plus what is left
        skeleton = shorter
    return bool(skeleton)


def load_json(data: bytes | str, what: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parsed JSON, refused (UntrustedFileError) when it is not UTF-8 JSON or nests deeper than ``max_depth``."""
    try:
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
    except UnicodeDecodeError as err:
        raise UntrustedFileError(f"{what} is not UTF-8 text ({err.reason} at byte {err.start})") from None
    if json_too_deep(text, max_depth):
        raise UntrustedFileError(f"{what} nests arrays or objects more than {max_depth} levels deep; refused")
    try:
        return json.loads(text)
    except ValueError as err:
        raise UntrustedFileError(f"{what} is not valid JSON ({err}); it may be truncated") from None


__all__ = ["MAX_JSON_DEPTH", "UntrustedFileError", "json_too_deep", "load_json", "open_regular", "read_regular",
           "read_safetensors", "safetensors_metadata"]
