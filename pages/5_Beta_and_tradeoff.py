"""Beta and the tradeoff: what the KL weight does to a VAE's latent map, samples and losses."""

import streamlit as st

from explorer.logic import analysis, charts, figures, images

from explorer.ui import explore, loaders, share, sidebar

st.set_page_config(page_title="Beta and the tradeoff · Latent explorer", page_icon="⚖️", layout="wide")
st.title("Beta and the tradeoff")
st.markdown(
    "A VAE minimises **reconstruction + β · KL** per image. β = 1 is the ELBO; a larger β "
    "(β-VAE, Higgins et al., 2017) charges more for every nat the code carries about its image, so the codes "
    "crowd into the prior N(0, I): a smoother map and better samples, but blurrier reconstructions. "
    "In rate-distortion terms (Alemi et al., 2018) the KL is the **rate** and the reconstruction the "
    "**distortion**; each β picks one point on the curve between them."
)

groups = analysis.sweep_groups(loaders.all_cards())
if not groups:
    st.info("No beta sweep found: this page needs VAEs trained with several values of β on the same data "
            "(`python -m core pretrain`, or `python -m core sweep --betas 0,1,4 ...`).")
    st.stop()


def group_label(name: str) -> str:
    g = groups[name]
    return f"{name} · {g.dataset}, {g.latent_dim}-D, {len(g.models)} values of β"


names = list(groups)
# a link's ?model= (a member of a sweep) and ?beta= choose the defaults
group_name, linked = share.linked_sweep(groups, "mnist-vae-2" if "mnist-vae-2" in names else names[0])
group_name = st.sidebar.selectbox("Beta sweep", names, key="beta_sweep", format_func=group_label,
                                  index=names.index(group_name))
group = groups[group_name]
betas = group.betas
value = share.linked_beta(group, linked, 1.0 if 1.0 in betas else betas[0])
beta = st.select_slider("β, the weight on the KL term", options=betas, value=value,
                        format_func=lambda b: f"{b:g}", key=f"beta_value_{group_name}")
card = group.at_beta(beta)
share.write("model", card.name)
share.write("beta", f"{beta:g}")
share.show_note("model")
share.show_note("beta")
selection = sidebar.selection_for(card)
sidebar.show_data_status(selection)
m = card.get("metrics") or {}
st.caption(f"{sidebar.units_caption(card)} Showing **{card['name']}**; all {len(betas)} models of the sweep "
           "share data, architecture and training, and differ only in β. Numbers are on the test split.")

cols = st.columns(4)
cols[0].metric("Reconstruction (distortion)", analysis.fmt(m.get("reconstruction"), ".1f", " nats"))
cols[1].metric("KL (rate)", analysis.fmt(m.get("kl"), ".2f", " nats"))
cols[2].metric("−ELBO (the β = 1 bound)", analysis.fmt(m.get("neg_elbo"), ".1f", " nats"))
cols[3].metric("Active units (KL > 0.01 nats)", f"{analysis.fmt(m.get('active_units'), 'd')} of {group.latent_dim}")

left, right = st.columns(2)
# The samples (an image) go out before the map (a chart) although they sit on the right: the browser
# paints nothing while it compiles Plotly's JavaScript, so the picture that needs none comes first.
with right:
    st.subheader("Samples from the prior, z ~ N(0, I)")
    scale = images.display_scale(selection.model.image_shape[1], target=56)
    st.image(images.upscale(explore.prior_picture(selection, count=64, ncols=8, seed=0), scale))
    st.caption("The same 64 draws of z for every β. Where the codes fill the prior (larger β), "
               "most draws land on something the decoder knows; with β near 0 many fall in holes.")
with left:
    st.subheader("Latent map of the test images")
    codes = explore.codes(selection)
    if codes is None:
        st.warning(f"The map needs the data, which is not on this machine: {selection.data_error}")
    else:
        dims = analysis.map_dims(card)
        idx = analysis.subsample(len(codes.means), 3000)
        st.plotly_chart(figures.latent_map(
            codes.means[idx][:, list(dims)], None if codes.labels is None else codes.labels[idx],
            explore.class_names(selection), index=idx, axis_titles=(f"z{dims[0]}", f"z{dims[1]}"),
            prior_center=(0.0, 0.0), height=440), key="beta_map", config={"displayModeBar": False})
        shown = "" if group.latent_dim == 2 else f" Of {group.latent_dim} dims, the two with the most KL are drawn."
        st.caption(f"Posterior means of {len(idx):,} test images; dashed: the prior's 1, 2, 3σ circles.{shown}")

st.subheader("The rate-distortion curve")
curve_name = analysis.curve_sweep(groups, group_name)
curve_group = groups[curve_name]
points = analysis.rate_distortion(curve_group.models)
kl_only_point = analysis.kl_only_point(curve_group)
chosen = points.betas.index(beta) if beta in points.betas else None
st.plotly_chart(charts.rate_distortion_chart(
    points.betas, points.rates, points.distortions, chosen=chosen, kl_only=kl_only_point,
    likelihood=curve_group.models[0].likelihood_label, rate_std=points.rate_std,
    distortion_std=points.distortion_std), key="beta_rd", config={"displayModeBar": False})
shown = "" if curve_name == group_name else (
    f" The curve is the {curve_group.latent_dim}-D sweep **{curve_name}**: in {group.latent_dim}-D the "
    "differences between neighbouring betas are smaller than the training noise.")
spread = " Bars: ± 1 standard deviation over the seeds each β was trained with." if points.has_spread else ""
st.caption(f"Each point is one model of the sweep, on the test split. {analysis.tradeoff_caption(points)}"
           f"{spread}{shown} The KL-only model (black) ignores the images: zero rate, the worst distortion.")

st.subheader("Which latent dimensions carry information")
deep = [n for n in names if groups[n].latent_dim > 2]
deep = sorted(deep or names, key=lambda n: (groups[n].dataset != group.dataset, -groups[n].latent_dim))
kl_group_name = st.selectbox("Sweep for this view", deep, key="beta_kl_sweep", format_func=group_label,
                             help="A latent space of more than 2 dims tells the story best: as β grows, "
                                  "dims switch off one by one (their KL drops to ~0).")
kl_group = groups[kl_group_name]
bars = {f"β={c.beta:g}": c["metrics"]["kl_per_dim"] for c in kl_group.models
        if (c.get("metrics") or {}).get("kl_per_dim")}
if bars:
    st.plotly_chart(charts.kl_per_dim_bars(bars, chosen=f"β={beta:g}"), key="beta_kl_bars",
                    config={"displayModeBar": False})
    st.caption("Mean KL(q(z_d|x) ‖ N(0, 1)) of each dim over the test set, sorted. Dims above the dotted "
               "line (0.01 nats) are active units; the rest are ignored by the decoder (posterior collapse).")

st.subheader(f"Training of {card['name']}")
if card.get("history"):
    st.plotly_chart(charts.history_chart(card["history"]), key="beta_history", config={"displayModeBar": False})
    st.caption("Per epoch: reconstruction and KL, nats per image, on the training batches and the test split.")
