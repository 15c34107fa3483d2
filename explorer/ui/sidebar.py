"""Sidebar pickers shared by every page: dataset, then model, remembered across pages."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from core.card import Card
from core.checkpoints import CheckpointError
from core.data import Dataset
from core.sizes import is_allocation_failure, out_of_memory_message
from explorer.ui import loaders, share

if TYPE_CHECKING:  # torch: imported when a model is loaded, not to draw the pickers
    from core.models import LatentModel

@dataclass
class Selection:
    card: Card
    model: LatentModel
    dataset: Dataset | None  # None when the data is not on this machine
    data_error: str | None  # why the data is missing, and how to get it

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def path(self) -> str:
        return self.card.path


def _remembered_select(label: str, options: list[str], memory_key: str, widget_key: str,
                       format_func=str, container=None, default: str | None = None) -> str:
    """A selectbox whose choice survives page switches (widget state does not)."""
    container = container or st.sidebar
    remembered = st.session_state.get(memory_key, default)
    if remembered not in options:  # e.g. a model of another dataset: this page's own default
        remembered = default
    index = options.index(remembered) if remembered in options else 0

    def remember() -> None:
        st.session_state[memory_key] = st.session_state[widget_key]

    choice = container.selectbox(label, options, index=index, key=widget_key, format_func=format_func,
                                 on_change=remember)
    st.session_state[memory_key] = choice
    return choice


def pick_dataset(cards: list[Card] | None = None, key: str = "dataset", from_link: bool = True) -> str | None:
    """The dataset picker. ``from_link``: a new ``?model=`` in the URL picks that model's dataset
    (pages without a model picker; pick_model reads the link itself)."""
    cards = loaders.all_cards() if cards is None else cards
    names = list(dict.fromkeys(c.dataset_name for c in cards))
    if not names:
        st.sidebar.error("No checkpoints found. Run `python -m core pretrain` or train one on the Train page.")
        return None
    if from_link:
        _follow_link(cards, key)
    choice = _remembered_select("Dataset", names, "picked_dataset", f"{key}_picker", default="mnist")
    if from_link:  # keep ?model= while it names a model of this dataset
        linked = next((c for c in cards if c.name == st.query_params.get("model")), None)
        share.write("model", linked.name if linked is not None and linked.dataset_name == choice else None)
        share.show_note("model")
    return choice


def show_skipped_cards() -> None:
    """Name each checkpoint that the listings skip because it cannot be read (the router calls it
    once per page, before the page: a page that stops early still shows it)."""
    skipped = loaders.skipped_cards()
    if skipped:
        lines = [f"- {_plain(name)}: {_plain(why)}" for name, why in skipped[:5]]
        more = f"\n- and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        st.sidebar.warning(f"{len(skipped)} checkpoint{'s' * (len(skipped) > 1)} not listed:\n" + "\n".join(lines) + more,
                           icon=":material/warning:")


def _plain(text: str) -> str:
    """``text`` shown as typed in Markdown (a file name may hold *, _, [ or a backslash)."""
    return re.sub(r"([\\`*_{}\[\]()#+\-!|<>~$])", r"\\\1", text[:300])


def _follow_link(cards: list[Card], dataset_key: str, model_key: str | None = None) -> Card | None:
    """A new ``?model=NAME``: remember its dataset (and the model) as if picked in the sidebar."""
    linked = share.linked_model([c.name for c in cards])
    if linked.value is None:
        return None
    card = next(c for c in cards if c.name == linked.value)
    st.session_state["picked_dataset"] = card.dataset_name
    st.session_state.pop(f"{dataset_key}_picker", None)
    if model_key is not None:
        st.session_state[f"picked_{model_key}"] = card.name
        st.session_state.pop(f"{model_key}_picker", None)
    return card


def pick_model(**picker) -> Selection | None:
    """pick_card's pickers (same keyword arguments), then the model and its data loaded.

    Shows the data's notice (e.g. the offline MNIST subset) in the sidebar.
    """
    card = pick_card(**picker)
    if card is None:
        return None
    selection = selection_for(card)
    show_data_status(selection)
    return selection


def pick_card(
    label: str = "Model",
    key: str = "model",
    kinds: tuple[str, ...] | None = None,
    dataset: str | None = None,
    max_latent_dim: int | None = None,
    default: str | Callable[[list[Card]], Card | None] | None = None,
    container=None,
) -> Card | None:
    """Dataset picker (once per page) and a model picker filtered to it; returns the card
    without loading the model or its data (the home page stops here, pick_model goes on).

    ``default``: the model shown until the user picks one: a name, or a function choosing among
    the dataset's cards (so every dataset opens on its own best model for the page). The main
    picker (``key="model"``) follows a new ``?model=NAME`` in the URL and writes its choice back.
    """
    cards = loaders.all_cards()
    linked = _follow_link(cards, "dataset", key) if key == "model" else None
    if dataset is None:
        dataset = pick_dataset(cards, from_link=False)
        if dataset is None:
            return None
    cards = [c for c in cards if c.dataset_name == dataset and (kinds is None or c.kind in kinds)
             and (max_latent_dim is None or c.latent_dim <= max_latent_dim)]
    if not cards:
        (container or st.sidebar).warning(f"No {'/'.join(kinds or ('',))} model for {dataset} yet.")
        return None
    by_name = {c.name: c for c in cards}
    if linked is not None and linked.name not in by_name:
        share.refuse("model", f"{linked.name} is not shown on this page", "another model")
    if callable(default):
        preferred = default(cards)
        default = preferred.name if preferred is not None else None
    name = _remembered_select(label, list(by_name), f"picked_{key}", f"{key}_picker",
                              format_func=lambda n: by_name[n].display_name, container=container, default=default)
    if key == "model":
        share.write("model", name)
        share.show_note("model")
    return by_name[name]


def selection_for(card: Card) -> Selection:
    """The loaded model and data of a checkpoint card (the data may be missing: then why). A model
    that cannot be loaded (its weights damaged since it was listed, or the memory ran out) stops
    the page with one line saying so."""
    try:
        checkpoint = loaders.load_model(card.path)
    except (CheckpointError, MemoryError, RuntimeError) as err:
        if not isinstance(err, CheckpointError) and not is_allocation_failure(err):
            raise
        message = (f"{card.name} cannot be loaded: " + str(err).replace(str(Path(card.path).parent) + os.sep, "")
                   if isinstance(err, CheckpointError) else out_of_memory_message(f"Loading {card.name}"))
    else:
        data = loaders.data_for(card)
        return Selection(checkpoint.card.updated(origin=card.origin), checkpoint.model,
                         None if isinstance(data, str) else data, data if isinstance(data, str) else None)
    st.error(_plain(message))  # the exception and what it held are gone here
    st.stop()


def _without_parentheses(text: str) -> str:
    out, depth = [], 0
    for ch in text:
        depth += ch == "("
        if depth == 0:
            out.append(ch)
        depth -= ch == ")" and depth > 0
    text = " ".join("".join(out).split())
    for mark in ":.,;":
        text = text.replace(" " + mark, mark)
    return text


def short_notice(text: str) -> str:
    """The first sentence of a data notice, without its parenthesised details."""
    plain = _without_parentheses(text)
    end = plain.find(". ")
    return plain if end < 0 else plain[: end + 1]


def show_data_status(selection: Selection) -> None:
    """The offline-subset notice, or why the data is missing; once per page. When the images here
    are not those the model's card was trained and tested on, say so plainly.

    The sidebar shows the notice's first sentence; the whole text opens below it.
    """
    if selection.dataset is not None and selection.path:
        for note in loaders.data_notes(selection.path):
            st.sidebar.warning(note, icon="⚠️")
    if selection.dataset is not None and selection.dataset.notice:
        notice = selection.dataset.notice
        # Material icons, not emoji: Streamlit checks an emoji icon with a large regex, compiled on
        # first use in a process (70 ms on an idle machine, 2 s in a loaded cold start: profile-after.md).
        st.sidebar.info(short_notice(notice), icon=":material/info:")
    elif selection.data_error:
        notice = selection.data_error
        st.sidebar.warning(f"Data not available on this machine: {short_notice(notice)}", icon=":material/warning:")
    else:
        return
    if short_notice(notice) != notice:
        with st.sidebar.expander("Details and how to get the full data"):
            st.caption(notice.replace("_", r"\_").replace("*", r"\*"))


def units_caption(card: Card) -> str:
    """The units a number on the page is in, said once per page."""
    if card.likelihood == "bernoulli":
        lik = "Bernoulli likelihood"
    else:
        lik = f"Gaussian likelihood with fixed variance c = {card.model_config['gaussian_variance']:g}"
    beta = f", trained with beta = {card.beta:g}" if card.beta is not None else ""
    return f"Losses in nats per image; {lik}{beta}."
