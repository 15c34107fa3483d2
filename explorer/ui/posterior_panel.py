"""The Latent map's posterior panel for a clicked image of a VAE: the true p(z|x) (2-D models)
with q(z|x) and the optimised q over it, the ELBO's two gaps, and the IWAE-k bound climbing
towards log p(x). The numbers come from core/posterior.py, cached per checkpoint and image."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core import posterior
from explorer.logic import posterior_figures
from explorer.ui import loaders
from explorer.ui.sidebar import Selection


@st.cache_data(show_spinner="Integrating over the latent plane...", max_entries=256)
def _view(path: str, weights: str, index: int) -> posterior.ImagePosterior:
    return posterior.image_posterior(loaders.load_model(path).model, _image(path, index))


@st.cache_data(show_spinner="Drawing 20,000 importance samples...", max_entries=256)
def _pool(path: str, weights: str, index: int) -> np.ndarray:
    return posterior.iwae_pool(loaders.load_model(path).model, _image(path, index))


def _image(path: str, index: int):
    import torch

    data = loaders.data_for(loaders.load_model(path).card)
    if isinstance(data, str):  # the page shows no map, so no image can be clicked, without its data
        raise RuntimeError(f"the test images of {path} are not here: {data}")
    return torch.from_numpy(np.array(data.test_images[index]))


def view(selection: Selection, index: int) -> posterior.ImagePosterior:
    """The panel's numbers for test image ``index`` (cached per checkpoint, weights and image)."""
    return _view(selection.path, str(selection.card.get("weights_sha256", "")), int(index))


def curve(selection: Selection, index: int) -> posterior.IwaeCurve:
    pool = _pool(selection.path, str(selection.card.get("weights_sha256", "")), int(index))
    return posterior.iwae_curve(pool, posterior_figures.IWAE_KS)


def show(selection: Selection, index: int | None) -> None:
    """The panel, under the map: figure and numbers first, then the IWAE section; nothing without a clicked image."""
    if index is None:
        return
    model = selection.model
    two_d = model.latent_dim == 2
    st.subheader("The true posterior of this image" if two_d else "How close q(z|x) gets for this image")
    numbers = view(selection, index)
    left, right = st.columns([3, 2])
    if two_d:
        left.plotly_chart(posterior_figures.posterior_figure(numbers), key="posterior_panel_figure",
                          config={"displaylogo": False})
        left.caption("Blue: p(z|x) ∝ p(x|z) p(z) on a grid (dotted: the regions holding 50 %, 90 % and 99 % of it). "
                     "Red: the encoder's q(z|x). Dashed: the Gaussian with the best ELBO for this image.")
    else:
        kl = numbers.kl_per_dim
        left.plotly_chart(posterior_figures.kl_bars(kl), key="posterior_panel_kl",
                          config={"displaylogo": False})
        left.caption(f"KL(q(z|x) ‖ N(0, 1)) per dim for this image: its information budget, {kl.sum():.2f} nats "
                     f"in all. Dims below the dotted line carry almost nothing about it.")
    rows = posterior_figures.numbers_table(numbers)
    right.dataframe(pd.DataFrame(rows).set_index("quantity").style.format({"nats": "{:.2f}"}), width="stretch")
    iwae = curve(selection, index)  # after the numbers: the panel is on screen while the samples are drawn
    k = right.select_slider("IWAE: importance samples k", posterior_figures.IWAE_KS, value=100, key="posterior_k")
    j = list(iwae.ks).index(k)
    right.metric(f"IWAE-{k} bound", f"{iwae.mean[j]:.2f} nats",
                 help=f"mean ± sd over {iwae.repeats[j]} disjoint groups of {k} samples: ± {iwae.std[j]:.2f}")
    right.caption(f"± {iwae.std[j]:.2f} nats over {iwae.repeats[j]} repeats")
    st.plotly_chart(posterior_figures.iwae_figure(iwae, k, numbers.log_px, numbers.elbo_encoder),
                    key="posterior_panel_iwae", config={"displaylogo": False})
    st.markdown(posterior_figures.caption(numbers, iwae, k))


__all__ = ["view", "curve", "show"]
