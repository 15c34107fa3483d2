"""Latent explorer, home page (the default page of streamlit_app.py's menu): what the app shows,
samples from a VAE's prior, where to go, and the loaded models with their metrics.

A link to a page whose file is missing is left out instead of breaking the page.
"""

from pathlib import Path

import streamlit as st

from explorer.logic import draws, figures, images

from explorer.ui import home, loaders, sidebar, tables  # no torch here: the first picture decodes in numpy

ROOT = Path(__file__).resolve().parent.parent

st.set_page_config(page_title="Latent explorer", page_icon="🌀", layout="wide")
available = [p for p in home.PAGES if (ROOT / p.path).exists()]

st.title("Latent explorer")
st.markdown(
    "How autoencoders organise what they learn: **PCA**, a **linear autoencoder**, a deep **autoencoder** "
    "and a **variational autoencoder**, trained on the same images, with their latent spaces laid open."
)
left, right = st.columns([3, 2], gap="large")
with left:
    st.markdown(home.INTRO)
with right:
    card = sidebar.pick_card(label="VAE for the samples", key="home_vae", kinds=("vae",), default="mnist-vae-2")
    if card is not None:
        seed = st.session_state.get("home_seed", 0)
        st.markdown("**Samples from the prior**")
        factor = images.display_scale(card.image_shape[2], target=48)
        st.image(images.upscale(home.prior_picture(card.path, count=48, ncols=8, seed=seed), factor),
                 width="stretch")
        st.caption(f"48 codes z ~ N(0, I), decoded by {card.name}. No image was encoded to get "
                   "them: a VAE's decoder turns any code its prior would draw into an image. "
                   + (draws.prior_sentence(loaders.many_draws(), card) or ""))
        measured = draws.prior_comparison(loaders.many_draws(), card.dataset_name)
        if measured is not None:
            st.caption(measured)
        st.button("New samples", key="home_new_samples",
                  on_click=lambda: st.session_state.update(home_seed=seed + 1))
        teaser_slot = st.container()  # filled last, see the end of the page

st.subheader("Where to go")
for start in range(0, len(available), 3):
    for column, page in zip(st.columns(3), available[start:start + 3]):
        with column:
            st.page_link(page.path, label=page.label, icon=page.icon)
            st.caption(page.blurb)

st.subheader("Loaded models")
cards = loaders.all_cards()
if not cards:
    st.info("No checkpoints yet: run `python -m core pretrain` to build the shipped ones, "
            "or train one on the Train page.")
else:
    tables.show(home.models_table(cards), home.TABLE_COLUMNS, width="stretch")
    st.caption(home.UNITS)

# The teaser map goes out last although it sits under the samples: the browser compiles Plotly's
# JavaScript (several MB) for it, which holds up painting anything else for most of a second,
# so the samples above must reach the screen first (bench/bench_start.py's cold start). It also
# has Plotly ready in the browser before the student opens the Latent map.
if card is not None:
    teaser = home.stored_map(card.path)
    if teaser is not None:  # where the encoder puts test images: the region the samples come from
        xy, labels, index = teaser
        teaser_map = figures.latent_map(xy, labels, index=index, prior_center=(0.0, 0.0), height=320)
        teaser_map.update_layout(showlegend=False, margin=dict(l=10, r=10, t=10, b=10))
        teaser_slot.plotly_chart(teaser_map, key="home_map", config={"displayModeBar": False, "staticPlot": True})
        teaser_slot.caption(f"{len(xy):,} test images encoded by {card.name} (their means, one colour per digit), "
                            "inside the prior's 1, 2 and 3σ circles: the samples above come from the same region. "
                            "Explore it on the Latent map.")

loaders.preload_in_background()  # the first picture is out: get torch ready for the other pages
