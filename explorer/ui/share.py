"""Shareable links, the Streamlit side: a page reads its parameters from the URL when they are
new to the session, writes its state back after every run, and says which part of a link it
could not use; the sidebar shows the link to the current view.

A parameter is applied once per value: the value a page wrote itself is not read back on the
next rerun (so a widget the user moves is not reset to the link's value). A refused parameter
gets a note that stays on the page until that parameter's value changes. Parsing is in
explorer.logic.share (pure).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from explorer.logic import share as links
from explorer.logic.share import Parsed

if TYPE_CHECKING:  # analysis imports torch; the home page must not wait for it
    from explorer.logic.analysis import SweepGroup

_SEEN = "_share_seen"  # {param: the value last read from or written to the URL}
_NOTES = "_share_notes"  # {param: [note, the value written after it (_UNSET until then), the page]}
_UNSET = "\x00unset"
LINK_LABEL = "Link to this view"


def _seen() -> dict:
    return st.session_state.setdefault(_SEEN, {})


def _notes() -> dict:
    return st.session_state.setdefault(_NOTES, {})


def incoming(name: str) -> str | None:
    """The URL's ``name`` parameter when this session has not seen that value yet, else None."""
    value = st.query_params.get(name)
    if value is None or _seen().get(name) == value:
        return None
    _seen()[name] = value
    return value


def _page() -> str:
    ctx = get_script_run_ctx()
    return "" if ctx is None else str(ctx.page_script_hash)


def refuse(name: str, problem: str, fallback: str) -> None:
    """Note that the link's ``name`` was not used, and what is shown instead."""
    _notes()[name] = [f"Part of the link was not used: {problem}. Showing {fallback} instead.", _UNSET, _page()]


def show_note(name: str, container=None) -> None:
    """The note about the link's ``name``, if there is one (call it every run, where it should appear,
    after ``write``); it belongs to the page that read the link, and ends when the user leaves that page."""
    note = _notes().get(name)
    if note is None:
        return
    if note[2] != _page():
        del _notes()[name]
        return
    (container or st).warning(note[0], icon="⚠️")


def write(name: str, value: str | None) -> None:
    """Put the view's ``name`` into the URL (None: remove it); a note about it ends when it changes."""
    note = _notes().get(name)
    if note is not None:
        if note[1] == _UNSET:
            note[1] = value
        elif note[1] != value:
            del _notes()[name]
    if value is None:
        if name in st.query_params:
            del st.query_params[name]
    elif st.query_params.get(name) != value:
        st.query_params[name] = value
    _seen()[name] = value


def current_url() -> str:
    """The URL of the current view: the page's address (st.context.url) and its query string."""
    try:
        base = st.context.url
    except Exception:  # noqa: BLE001 - outside a browser session (a bare script run)
        base = None
    return links.view_url(base, {k: st.query_params.get(k) for k in st.query_params})


def link_box() -> None:
    """The current view's link in the sidebar: a popover holding a code box with a copy button.

    In a popover because Streamlit mounts a popover's content only when it is opened, and
    ``st.code`` pulls in its syntax highlighter (1.5 MB of JavaScript): on every page, a
    student's new browser compiled it before the first chart (Beta and tradeoff: 2.0 s to the
    first picture with the box open, 1.3 s in the popover; bench/bench_start.py)."""
    with st.sidebar.popover(LINK_LABEL, icon="🔗", width="stretch"):
        st.caption("Copy it to open this page with the same model and settings, e.g. on a student's machine. "
                   "Widgets not in the link start at their defaults.")
        st.code(current_url(), language=None, wrap_lines=True)


# ---- the pages' parameters --------------------------------------------------------------------

def linked_model(names: list[str]) -> Parsed:
    """``?model=`` when new: one of ``names``, or why not (noted)."""
    text = incoming("model")
    parsed = links.parse_choice("model", text, names)
    if parsed.problem:
        refuse("model", parsed.problem, "the model picked in the sidebar")
    return parsed


def linked_code(model_name: str, latent_dim: int) -> np.ndarray | None:
    """``?z=`` when new and valid for this model: it becomes the sliders' start ("link"); else a note."""
    text = incoming("z")
    parsed = links.parse_floats("z", text, length=latent_dim)
    if parsed.problem:
        refuse("z", parsed.problem, "the usual starting code")
    elif parsed.value is not None:
        st.session_state["sliders_link"] = (model_name, parsed.value)
        st.session_state["sliders_start"] = "link"
    stored = st.session_state.get("sliders_link")
    if stored is None or stored[0] != model_name or len(stored[1]) != latent_dim:
        if st.session_state.get("sliders_start") == "link":  # the link was for another model
            st.session_state["sliders_start"] = "zero"
        return None
    return np.asarray(stored[1], dtype=np.float64)


def write_code(z: np.ndarray) -> None:
    write("z", links.format_floats(z))


def linked_sweep(groups: dict[str, SweepGroup], default: str) -> tuple[str, str | None]:
    """``?model=`` naming a member of a β sweep: (that sweep, the model); else (``default``, None).

    The sweep is the picker's default: it applies when the picker is new (a link opens a new
    session) and leaves a choice made in this session alone."""
    text = incoming("model")
    members = {c.name: name for name, g in groups.items() for c in [*g.models, *([g.kl_only] if g.kl_only else [])]}
    parsed = links.parse_choice("model", text, members)
    if text is not None and parsed.value is None:
        problem = parsed.problem if len(text) > links.MAX_TEXT else f"`{links.shown(text)}` is not a VAE of a β sweep"
        refuse("model", problem, "the default sweep")
        return default, None
    if parsed.value is None:
        return default, None
    return members[parsed.value], parsed.value


def linked_beta(group: SweepGroup, model: str | None, default: float) -> float:
    """``?beta=`` when new and one of the sweep's betas, else the beta of ``model``, else ``default``:
    the β slider's default (see linked_sweep)."""
    text = incoming("beta")
    parsed = links.parse_number_in("beta", text, group.betas, what=f"β of the sweep {group.name}")
    if parsed.problem:
        refuse("beta", parsed.problem, "the default β")
    if parsed.value is not None:
        return parsed.value
    card = next((c for c in group.models if c.name == model), None)
    if card is not None and not parsed.problem:
        return group.betas[group.models.index(card)]
    return default


__all__ = ["LINK_LABEL", "incoming", "refuse", "show_note", "write", "current_url", "link_box", "linked_model",
           "linked_code", "write_code", "linked_sweep", "linked_beta"]
