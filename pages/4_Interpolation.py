"""Interpolation: walk the latent space from one image to another, model by model."""

import numpy as np
import streamlit as st

from explorer.logic import analysis, draws, images
from explorer.logic.plaintext import markdown_text as md
from explorer.ui import explore, interpolation, loaders, sidebar

st.set_page_config(page_title="Interpolation · Latent explorer", page_icon="🔀", layout="wide")
st.title("Interpolation")
st.markdown(
    "Encode two images, walk a path between their codes and decode every step. Two things can go wrong: the "
    "picture **jumps** where the path crosses a gap between classes, or every step is small because the path "
    "is a **blur** between the two ends. So each path gets two measures: the largest step over the mean step "
    "(1 means even steps) and the share of its intermediate images that are recognised as real data."
)

cards = loaders.all_cards()
dataset = sidebar.pick_dataset(cards)
dims = sorted({c.latent_dim for c in cards if c.dataset_name == dataset})
if not dims:
    st.info("No model to show yet: train one on the Train page, or run `python -m core pretrain`.")
    st.stop()
dim = st.sidebar.selectbox("Latent dimension", dims, index=dims.index(2) if 2 in dims else 0, key="interp_dim",
                           format_func=lambda d: f"{d}-D")
candidates = {c["name"]: c for c in cards if c.dataset_name == dataset and c.latent_dim == dim}
default = [c["name"] for k, c in analysis.canonical_models(cards, dataset, dim).items() if k != "linear-ae"]
chosen = st.sidebar.multiselect("Models (one row each)", list(candidates), default=default,
                                key=f"interp_models_{dataset}_{dim}",
                                format_func=lambda n: candidates[n].display_name)
if not chosen:
    st.info("Pick at least one model in the sidebar.")
    st.stop()
panels = [sidebar.selection_for(candidates[n]) for n in chosen]
holder = next((p for p in panels if p.dataset is not None), None)  # a panel whose data is on this machine
data = None if holder is None else holder.dataset
sidebar.show_data_status(panels[0])
st.caption("Models: " + "; ".join(f"{p.name} ({p.card.training_label})" for p in panels) + ".")

c1, c2, c3 = st.columns([3, 2, 2])
steps = c2.slider("Steps (images per path)", 3, 24, 10, key="interp_steps")
method = c3.radio("Path", list(analysis.METHODS), horizontal=True, key="interp_method",
                  help="Linear: the straight line between the codes. Spherical (White 2016): the direction turns "
                       "along the great circle while the length moves linearly from one code's to the other's, so "
                       "the path avoids the prior's empty centre and never gets longer than the longer code.")
seed = st.session_state.setdefault("interp_seed", 0)
x0 = x1 = i = j = None
if data is None:
    st.warning(f"The data is not on this machine ({panels[0].data_error}), so the paths run between two codes "
               "drawn from N(0, I) instead of two encoded images.")
    if c1.button("New pair of random codes", key="interp_new_codes"):
        st.session_state.interp_seed += 1
        st.rerun()
else:
    n = len(data.test_images)
    modes = ["By class", "By index", "Random"] if data.test_labels is not None else ["By index", "Random"]
    mode = c1.radio("Pick the two test images", modes, horizontal=True, key="interp_mode")
    if mode == "By class":  # only the classes that have test images
        present, name = data.classes_in("test"), lambda c: explore.label_name(holder, c)
        a, b, again = c1.columns([2, 2, 2], vertical_alignment="bottom")
        ca = a.selectbox("From a", present, index=min(3, len(present) - 1), format_func=name,
                         key=f"interp_a_{dataset}")
        cb = b.selectbox("to a", present, index=min(8, len(present) - 1), format_func=name,
                         key=f"interp_b_{dataset}")
        if again.button("Another pair", key="interp_again"):
            st.session_state.interp_seed += 1
            st.rerun()
        i, j = analysis.pair_by_class(data.test_labels, ca, cb, seed)
    elif mode == "By index":
        a, b = c1.columns(2)
        i = int(a.number_input("First image", 0, n - 1, 0, key="interp_i"))
        j = int(b.number_input("Second image", 0, n - 1, min(1, n - 1), key="interp_j"))
    else:
        if c1.button("New random pair", key="interp_random"):
            st.session_state.interp_seed += 1
            st.rerun()
        i, j = analysis.random_pair(n, seed)
    x0, x1 = np.array(data.test_images[i]), np.array(data.test_images[j])
    scale = images.display_scale(x0.shape[1], target=72)
    ends = st.columns([1, 1, 6])
    ends[0].image(explore.picture(x0, scale), caption=f"start · {md(explore.image_caption(panels[0], i))}")
    ends[1].image(explore.picture(x1, scale), caption=f"end · {md(explore.image_caption(panels[0], j))}")

measured, rows = {}, {}
found = loaders.many_draws()
placeable = i is not None and steps == (found or {}).get("settings", {}).get("steps")
for panel in panels:
    path = explore.interpolation(panel.path, (i, j) if i is not None and panel.dataset is not None else None, seed, steps, method)
    entry = draws.entry_for(found, panel.card)
    here = interpolation.show_path(panel, path, entry, method, placeable)
    if entry is not None:
        label = panel.name  # short: the chart's labels must fit at phone width
        measured[label] = entry
        per_pair = entry["interpolation"][method]["per_pair"]
        rows[label] = (per_pair["unevenness"], per_pair["recognised"], here if placeable else None)

interpolation.measures_section(rows, measured, found, dataset, method, steps)
