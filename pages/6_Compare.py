"""Compare: PCA, linear AE, AE and VAE at the same latent dimension, on the same images."""

import numpy as np
import streamlit as st

from core.card import KIND_LABELS
from explorer.logic import analysis, charts, figures, images

from explorer.ui import compare_draws, denoise, explore, loaders, sidebar, tables

st.set_page_config(page_title="Compare · Latent explorer", page_icon="🆚", layout="wide")
st.title("Compare the four models")
st.markdown(
    "**PCA** projects onto the top principal axes, fitted in closed form; a **linear AE** learns the same "
    "subspace by gradient descent; an **AE** bends it with nonlinear layers; a **VAE** adds a posterior "
    "distribution and a KL term that packs the codes into N(0, I). Same data, same latent dimension, same test images."
)

cards = loaders.all_cards()
dataset = sidebar.pick_dataset(cards)
if dataset is None:  # no checkpoints at all: the sidebar says how to get some
    st.stop()
dims = analysis.latent_dims_with(cards, dataset, min_kinds=2)
if not dims:
    st.info(f"To compare, at least two kinds of model with the same latent dimension are needed for {dataset}. "
            "Train them on the Train page, or run `python -m core pretrain`.")
    st.stop()
dim = st.sidebar.selectbox("Latent dimension", dims, index=dims.index(2) if 2 in dims else 0, key="compare_dim",
                           format_func=lambda d: f"{d}-D")
chosen = analysis.canonical_models(cards, dataset, dim)
with st.sidebar.expander("Models compared", expanded=False):
    for kind in chosen:
        options = {c["name"]: c for c in analysis.models_of(cards, dataset, dim, kind)}
        if len(options) > 1:
            name = st.selectbox(KIND_LABELS[kind], list(options), key=f"compare_{kind}_{dataset}_{dim}",
                                index=list(options).index(chosen[kind]["name"]),
                                format_func=lambda n: options[n].display_name)
            chosen[kind] = options[name]
panels = [sidebar.selection_for(c) for c in chosen.values()]
sidebar.show_data_status(panels[0])
data = next((p.dataset for p in panels if p.dataset is not None), None)
st.caption("Models: " + "; ".join(f"**{p.name}** ({p.card.training_label})" for p in panels)
           + ". Losses in nats per image on the test split; MSE per pixel on intensities in [0, 1].")

st.subheader("Reconstructions")
if data is None:
    st.warning(f"Reconstructions and latent maps need the data, which is not on this machine: {panels[0].data_error}")
else:
    top = st.columns([5, 1])
    if top[1].button("Other images", key="compare_shuffle"):
        st.session_state["compare_seed"] = st.session_state.get("compare_seed", 0) + 1
    idx = analysis.subsample(len(data.test_images), 10, st.session_state.get("compare_seed", 0))
    x = np.asarray(data.test_images[idx])
    factor = images.display_scale(x.shape[2], target=64)
    top[0].markdown("**Test images**")
    st.image(explore.row_picture(x, factor))
    for p in panels:
        st.markdown(f"**{p.card.display_name}**")
        st.image(explore.reconstructions(p.path, tuple(int(i) for i in idx), factor) if p.dataset is not None
                 else explore.row_picture(loaders.decode(p.model, loaders.encode(p.model, x)[0]), factor))
    denoise.section(cards, panels, dataset, dim, x, len(data.test_images))  # noisy inputs, the denoising AE

st.subheader("Test metrics")
metrics = analysis.metrics_table([p.card for p in panels])
tables.show(metrics, tables.metric_columns(metrics), key="compare_table")
st.caption("Blank: not defined for that model (a deterministic encoder has no KL and no ELBO). MSE and the "
           "Bernoulli NLL of the reconstruction put all four kinds on one scale; a −ELBO is in its model's own "
           "likelihood, so each likelihood has its own column.")
compare_draws.show(dataset, [p.card for p in panels])

if data is not None:
    st.subheader("Latent maps")
    maps = []
    for p in panels:
        codes = explore.codes(p)
        if codes is None:
            continue
        d0, d1 = analysis.map_dims(p.card)
        pick = analysis.subsample(len(codes.means), 2000)
        maps.append(figures.MapPanel(
            codes.means[pick][:, [d0, d1]], None if codes.labels is None else codes.labels[pick], pick,
            (f"z{d0}", f"z{d1}"), (0.0, 0.0) if p.model.variational else None, p.card.kind_label))
    if maps:
        st.plotly_chart(figures.latent_map_grid(maps, explore.class_names(panels[0])), key="compare_maps",
                        config={"displayModeBar": False})
    st.caption("Each map has its own axes: PCA's codes spread as widely as the data's variance along each axis, "
               "an AE's wherever training put them; only the VAE's are held near N(0, I) (dashed circles).")

st.subheader("Samples: decode z ~ N(0, I)")
for col, p in zip(st.columns(len(panels)), panels):
    col.markdown(f"**{p.card.kind_label}**")
    col.image(images.upscale(explore.prior_picture(p, count=36, ncols=6, seed=0),
                             images.display_scale(p.model.image_shape[1], target=40)))
st.markdown(
    "Only the VAE was trained so that N(0, I) is where its codes live: the KL term pulls every posterior "
    "towards the prior, so a random draw lands among the codes the decoder learned. PCA's and the AEs' codes "
    "follow no prescribed distribution (PCA's spread as widely as the data varies along each axis, an AE's lie "
    "wherever training put them, with holes between classes), so draws from N(0, I) miss them: blurry "
    "averages, or shapes no image in the data has."
)

by_kind = {p.card["kind"]: p for p in panels}
if "linear-ae" in by_kind and "pca" in by_kind:
    st.subheader("Linear AE vs PCA: one subspace, two bases")
    angles = analysis.principal_angles_deg(by_kind["linear-ae"].model, by_kind["pca"].model)
    left, right = st.columns([2, 3])
    left.plotly_chart(charts.principal_angle_bars(angles), key="compare_angles", config={"displayModeBar": False})
    verdict = ("They span **the same subspace, up to a rotation/scale inside it** (Baldi & Hornik, 1989): the "
               "linear AE's basis is some mix of PCA's axes." if angles.max() < 5 else
               "At its optimum the linear AE spans PCA's subspace (Baldi & Hornik, 1989), up to a rotation/scale "
               "inside it; this one is not there yet: it needs more training.")
    left.markdown(f"Largest principal angle between the linear AE decoder's column space and PCA's top {dim} "
                  f"components: **{angles.max():.2f}°** (0° = the same direction, 90° = perpendicular). {verdict}")
    shape = by_kind["pca"].model.image_shape
    factor = images.display_scale(shape[1], target=56)
    right.markdown("**PCA components** (orthonormal, ordered by variance)")
    right.image(explore.row_picture(analysis.basis_images(by_kind["pca"].model.components.T, shape), factor))
    right.markdown("**Linear AE decoder columns** (neither orthogonal nor ordered)")
    right.image(explore.row_picture(analysis.basis_images(by_kind["linear-ae"].model.decoder.weight, shape), factor))
    right.caption("Each direction drawn as an image, scaled to its own min-max range.")
