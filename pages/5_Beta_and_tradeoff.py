"""Beta and the tradeoff: what the KL weight does to a VAE's latent map, samples and losses."""

import numpy as np
import streamlit as st

from explorer.logic import analysis, charts, draws, figures, images

from explorer.ui import explore, loaders, share, sidebar

st.set_page_config(page_title="Beta and the tradeoff · Latent explorer", page_icon="⚖️", layout="wide")
st.title("Beta and the tradeoff")
st.markdown(
    "A VAE minimises **reconstruction + β · KL** per image. β = 1 is the ELBO; a larger β "
    "(β-VAE, Higgins et al., 2017) charges more for every nat the code carries about its image, so the codes "
    "crowd into the prior N(0, I) and reconstructions blur; the samples' caption measures where along "
    "the sweep draws from N(0, I) decode to recognisable images. "
    "In rate-distortion terms (Alemi et al., 2018) the KL is the **rate** and the reconstruction the "
    "**distortion**; each β picks one point on the curve between them."
)

cards = loaders.all_cards()
groups = analysis.sweep_groups(cards)
if not groups:
    st.info("No beta sweep found: this page needs VAEs trained with several values of β on the same data "
            "(`python -m core pretrain`, or `python -m core sweep --betas 0,1,4 ...`).")
    st.stop()


def group_label(name: str) -> str:
    g = groups[name]
    return f"{name} · {g.latent_dim}-D, {len(g.models)} values of β"


# a link's ?model= (a member of a sweep) picks its dataset and sweep; ?beta= the β
linked_group, linked = share.linked_sweep(groups, "")
if linked is not None:
    st.session_state["picked_dataset"] = groups[linked_group].dataset
    st.session_state.pop("dataset_picker", None)
wanted = st.session_state.get("picked_dataset")
dataset = sidebar.pick_dataset([c for g in groups.values() for c in g.models], from_link=False)
if wanted and wanted != dataset:
    st.info(f"{wanted} has no β sweep here, so this page shows {dataset}. The datasets with one are in the "
            "sidebar's picker; `python -m core sweep` trains a sweep for other data.")
names = [n for n in groups if groups[n].dataset == dataset]
default = linked_group if linked_group in names else analysis.default_sweep(groups, dataset)
group_name = st.sidebar.selectbox("β sweep", names, index=names.index(default), key=f"beta_sweep_{dataset}",
                                  format_func=group_label)
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
points = analysis.rate_distortion(group.models)
i = points.betas.index(beta)
st.caption(f"{sidebar.units_caption(card)} Everything below is the sweep **{group_name}** ({group.dataset}, "
           f"{group.latent_dim}-D), showing **{card['name']}**: its {len(betas)} models share data, architecture "
           "and training, and differ only in β. Numbers are on the test split; ± is one standard deviation over "
           "retrained seeds, where measured.")


def spread(value: float, std: float, spec: str) -> str:
    return f"{value:{spec}}" + (f" ± {std:{spec}}" if np.isfinite(std) else "")


m = card.metrics
cols = st.columns(4)
cols[0].metric("Reconstruction (distortion), nats", spread(points.distortions[i], points.distortion_std[i], ".1f"))
cols[1].metric("KL (rate), nats", spread(points.rates[i], points.rate_std[i], ".2f"))
cols[2].metric("−ELBO (the β = 1 bound), nats", analysis.fmt(m.get("neg_elbo"), ".1f"))
cols[3].metric("Active units (KL > 0.01 nats)", f"{analysis.fmt(m.get('active_units'), 'd')} of {group.latent_dim}")
if i in points.falls():
    st.info(points.fall_note(i))
left, right = st.columns(2)
# The samples (an image) go out before the map (a chart) although they sit on the right: the browser
# paints nothing while it compiles Plotly's JavaScript, so the picture that needs none comes first.
with right:
    st.subheader("Samples from the prior, z ~ N(0, I)")
    scale = images.display_scale(selection.model.image_shape[1], target=56)
    st.image(images.upscale(explore.prior_picture(selection, count=64, ncols=8, seed=0), scale))
    st.caption("The same 64 draws of z for every β. "
               + (draws.sweep_prior_caption(loaders.many_draws(), group.dataset, group.models)
                  or "This sweep has not been measured over many draws (`python -m scripts.measure_draws`)."))
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
joined, refused = analysis.your_models(cards, group)
st.plotly_chart(charts.rate_distortion_chart(
    points.betas, points.rates, points.distortions, chosen=i, likelihood=card.likelihood_label,
    rate_std=points.rate_std, distortion_std=points.distortion_std,
    extra=[(c.name, c.metrics["kl"], c.metrics["reconstruction"]) for c in joined]),
    key="beta_rd", config={"displayModeBar": False})
kl_only = analysis.kl_only_point(group)
kl_only = "" if kl_only is None else (
    f" Not drawn: the KL-only model ({group.kl_only.name}), rate {kl_only[0]:.2f} nats and distortion "
    f"{kl_only[1]:.0f} nats: without a reconstruction term it ignores the images.")
bars = " Bars: ± 1 standard deviation over the seeds each β was trained with." if points.has_spread else ""
st.caption(f"Each point is one model of the sweep, on the test split. {analysis.tradeoff_caption(points)}{bars}"
           f"{kl_only}")
if joined:
    st.caption("Your models (diamonds), trained on the Train page: " + ", ".join(
        f"**{c.name}** (β = {c.beta:g})" for c in joined) + ". Their training settings may differ from the sweep's.")
else:
    st.caption(f"A VAE you train on the Train page on {group.dataset} at {group.latent_dim}-D, with the sweep's "
               f"{card.likelihood_label} likelihood, joins this curve as *your models*.")
for reason in refused:
    st.caption(f"Not on this curve: {reason}")

st.subheader("Which latent dimensions carry information")
kl = {f"β={c.beta:g}": c.metrics["kl_per_dim"] for c in group.models if c.metrics.get("kl_per_dim")}
if kl:
    st.plotly_chart(charts.kl_per_dim_heatmap(kl, chosen=f"β={beta:g}"), key="beta_kl_map",
                    config={"displayModeBar": False})
    st.caption("Mean KL(q(z_d|x) ‖ N(0, 1)) of each dim over the test set, each row sorted. Dims above 0.01 "
               "nats are active units; the blank ones are ignored by the decoder (their posterior collapsed).")

st.subheader(f"Training of {card['name']}")
if card.get("history"):
    st.plotly_chart(charts.history_chart(card["history"]), key="beta_history", config={"displayModeBar": False})
    st.caption("Per epoch: reconstruction and KL, nats per image, on the training batches and the test split.")
