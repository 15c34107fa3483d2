"""What the two browser components (latent_decoder, latent_canvas) share on the Python side of
Streamlit's Custom Components v2 (``st.components.v2.component``): declaring one from its files,
reading the value the browser last sent, and sending each binary payload (weights, points) once
per session.

The component runs in the page itself (no iframe): its scripts are one ES module, loaded once per
page, so what the browser has received stays there until the page reloads, which starts a new
session. A payload therefore goes once per session; a browser that lacks one anyway (its small
cache dropped it) names it in its value's ``need`` and gets it on that rerun.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import streamlit as st

from explorer.logic.drawing import component_value

COMPONENTS_DIR = Path(__file__).resolve().parents[1] / "components"
_SENT = "_browser_component_sent"  # session state: {component name: set of payload tokens sent}


def declare(name: str, folder: str, scripts: Sequence[str]):
    """The v2 component ``name``: folder/index.html; the theme's variables (latent_decoder/theme.css)
    and folder/style.css; the scripts (paths under explorer/components/, the last one exporting
    the component's default function) as one module."""
    base = COMPONENTS_DIR / folder
    css = (COMPONENTS_DIR / "latent_decoder" / "theme.css").read_text() + (base / "style.css").read_text()
    js = "\n".join((COMPONENTS_DIR / script).read_text() for script in scripts)
    return st.components.v2.component(name, html=(base / "index.html").read_text(), css=css, js=js)


def previous_value(key: str) -> dict | None:
    """The value the browser last sent for ``key`` (read before the component is drawn), with only
    well-typed fields (drawing.component_value), or None."""
    try:
        state = st.session_state.get(key)
    except Exception:  # no session (bare mode) or a key Streamlit cannot map yet
        return None
    return component_value(state.get("value") if isinstance(state, dict) else None)


def tokens_to_send(component: str, key: str, previous: dict | None, tokens: Sequence[str]) -> set[str]:
    """The payload tokens this session's browser lacks: never sent to this component, or named in
    the ``need`` of a value not answered yet (the value stays in the session until the browser
    sends the next one). They count as sent from here on."""
    try:
        memo = st.session_state.setdefault(_SENT, {}).setdefault(component, {"sent": set(), "answered": {}})
    except Exception:  # no session (bare mode): send everything
        return set(tokens)
    need: set[str] = set()
    if previous and previous.get("need") and memo["answered"].get(key) != previous.get("seq"):
        need = set(previous["need"])
        memo["answered"][key] = previous.get("seq")
    lacking = {t for t in tokens if t not in memo["sent"] or t in need}
    memo["sent"].update(tokens)
    return lacking


def _ignore() -> None:
    """The value's change callback: the wrappers read the value themselves, before the next render."""


def mount(component, key: str, data: dict, height: int | None) -> None:
    """Draw ``component`` with ``data``; its value (state "value") reruns the script when the browser sends it."""
    component(key=key, data=data, default={"value": None}, on_value_change=_ignore,
              height=height if height is not None else "content")


def arrow(data: bytes | np.ndarray, dtype: str):
    """A binary payload as an Arrow table of one column (the browser reads it as a typed array)."""
    import pyarrow as pa

    values = np.frombuffer(data, dtype=dtype) if isinstance(data, bytes) else np.ascontiguousarray(data, dtype=dtype)
    return pa.table({"v": values})


__all__ = ["COMPONENTS_DIR", "declare", "previous_value", "tokens_to_send", "mount", "arrow", "payload_token",
           "checked_image_shape"]


def payload_token(*parts: bytes) -> str:
    """A short hash naming a payload (weights, points, a code) by its bytes; the parts' lengths go
    in too, so two splits of the same bytes name different payloads."""
    h = hashlib.sha1()
    for p in parts:
        h.update(len(p).to_bytes(8, "little"))
        h.update(p)
    return h.hexdigest()[:16]


def checked_image_shape(image_shape: Sequence[int]) -> tuple[int, int, int]:
    """``image_shape`` as (C, H, W) integers, or ValueError: the components draw grey or RGB images."""
    try:
        shape = tuple(int(s) for s in image_shape)
    except (TypeError, ValueError):
        raise ValueError(f"image_shape={image_shape!r} must be (C, H, W) integers") from None
    if len(shape) != 3 or min(shape) < 1 or shape[0] not in (1, 3):
        raise ValueError(f"image_shape={shape} must be (C, H, W) with C = 1 or 3 (grey or RGB) and positive sizes")
    return shape  # type: ignore[return-value]
