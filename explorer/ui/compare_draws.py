"""The Compare page's measured comparison: each model's samples from the prior and interpolation
paths judged over many draws (explorer/logic/draws.py), and what they say about AE against VAE."""

from __future__ import annotations

import streamlit as st

from core.card import Card
from explorer.logic import draws
from explorer.ui import loaders


def show(dataset: str, cards: list[Card]) -> None:
    """A subsection with one line per measured model and the AE-versus-VAE comparison at every dimension."""
    found = loaders.many_draws()
    lines = [line for line in (draws.model_line(found, c) for c in cards) if line is not None]
    comparison = draws.prior_comparison(found, dataset)
    if not lines and comparison is None:
        return
    st.subheader("Samples and paths, judged over many draws")
    if lines:
        s = found["settings"]
        st.markdown(f"Each model over {s['seeds']} × {s['samples']:,} prior samples and {s['pairs']} random test "
                    "pairs (linear paths). Samples: mean ± std over the batches; paths: mean [bootstrap 95% interval]:\n\n" + "\n".join(f"- {line}" for line in lines))
    if comparison is not None:
        st.caption(comparison)
