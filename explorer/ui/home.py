"""The home page's text, the page directory (the sidebar's menu and the home page's links) and the model table."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import streamlit as st

from core.card import Card
from core.codes import load_codes_for
from core.npdecode import prior_codes
from explorer.logic import images
from explorer.ui import loaders
from explorer.ui.tables import Col

if TYPE_CHECKING:  # pandas takes a while to import: only the table below the first picture needs it
    import pandas as pd

INTRO = """
- **PCA** is the simplest encoder and decoder: project an image onto the top principal directions,
  and map the coordinates back. No linear code of the same size reconstructs better in squared error.
- A **linear autoencoder** trained on squared error finds the same subspace as PCA
  (Baldi & Hornik, 1989), in some other basis inside it.
- A deep **autoencoder** bends the space and reconstructs better, but nothing shapes its latent space:
  codes form irregular clusters with holes between them, and nothing trains the decoder there
  (the Manifold page measures what it makes of them).
- A **variational autoencoder** encodes each image as a distribution q(z|x). Its KL term pulls every
  q(z|x) towards the prior N(0, I), which aims to make the space *continuous* (nearby codes decode to
  similar images) and *complete* (codes the prior draws lie where the decoder was trained); the
  caption under the samples says how many of them the judge recognises as digits.
- **β** weighs that KL term against reconstruction: β < 1 buys sharper reconstructions with a less
  regular space; β > 1 a smoother space, blurrier images, and latent dimensions that switch off.
- **Sampling**: draw z from the prior and decode it; the images here are made that way.
  **Interpolation**: walk from one image's code to another's and decode along the path.
"""

UNITS = ("Test-set metrics. MSE: mean squared error per pixel of decode(mean), images in [0, 1]. "
         "Bernoulli NLL: −log Bernoulli(x | decode(mean)), nats per image, the same scale for every model. "
         "−ELBO and KL: nats per image (KL summed over latent dims; −ELBO = reconstruction + KL, "
         "reported at β = 1 whatever β trained the model), in one column per likelihood: Bernoulli and "
         "Gaussian nats (fixed variance c) are not comparable. Active units: latent dims with mean KL above 0.01 nats. "
         "kNN 1%: accuracy of a 3-nearest-neighbour classifier in latent space fitted on 1% of the "
         "training labels.")


class Page(NamedTuple):
    path: str  # relative to the repository root
    label: str
    icon: str  # an emoji: a :material/...: icon would load a font from another host
    blurb: str

    @property
    def url_path(self) -> str:
        """The page's address, as Streamlit names a pages/ file: '3_Latent_sliders.py' -> 'Latent_sliders'."""
        return url_path_of(self.path)


def url_path_of(path: str | Path) -> str:
    return re.sub(r"^[\d_\s-]*", "", Path(path).stem).replace(" ", "_")


HOME = Page("pages/0_Home.py", "Home", "🏠", "What the app shows, samples from a VAE's prior, the loaded models.")

PAGES = (
    Page("pages/1_Latent_map.py", "Latent map", "🗺️",
         "The encoded test set in the latent plane, posterior ellipses, the prior; click a point, upload "
         "your own image."),
    Page("pages/2_Manifold.py", "Manifold", "🔳",
         "Decode a grid of codes beside the data density; the AE's holes next to the VAE's filled space."),
    Page("pages/3_Latent_sliders.py", "Latent sliders", "🎚️",
         "One slider per latent dimension; the image follows. Traversals and nearest images."),
    Page("pages/4_Interpolation.py", "Interpolation", "🔀",
         "Walk from one image's code to another's, straight or along the sphere."),
    Page("pages/5_Beta_and_tradeoff.py", "Beta and the tradeoff", "⚖️",
         "What β does: reconstruction against KL, active dimensions, the rate-distortion curve."),
    Page("pages/6_Compare.py", "Compare", "🆚",
         "PCA, linear AE, AE and VAE side by side on the same images; how each copes with noisy inputs."),
    Page("pages/7_Train.py", "Train", "🏋️",
         "Train your own model on a dataset, watch the losses, use it on every page."),
    Page("pages/8_Lesson.py", "Lesson", "🎓", "A guided lesson: predict, then reveal the measured answer; run it for a class."),
)


def navigation(root: Path) -> list:
    """The sidebar's menu for st.navigation: Home first (at the app's root URL), then the pages
    of PAGES whose files exist, then any other file in pages/ (titled from its name)."""
    listed = {HOME.path, *(p.path for p in PAGES)}
    extra = sorted(str(f.relative_to(root)) for f in (root / "pages").glob("*.py")
                   if not f.name.startswith("_") and str(f.relative_to(root)) not in listed)
    menu = [st.Page(HOME.path, title=HOME.label, icon=HOME.icon, default=True)]
    menu += [st.Page(p.path, title=p.label, icon=p.icon, url_path=p.url_path) for p in PAGES if (root / p.path).exists()]
    menu += [st.Page(path, url_path=url_path_of(path)) for path in extra]
    return menu


TABLE_COLUMNS = {  # widths chosen so that every column fits the wide layout at 1400 px
    "name": Col("name", help="Checkpoint name", width=125, pinned=True),
    "kind": Col("kind", width=70),
    "data": Col("data", help="Dataset the model was trained on", width=50),
    "D": Col("D", ".0f", help="Latent dimensions", width=30),
    "beta": Col("β", "g", help="Weight on the KL term while training (VAE)", width=40),
    "likelihood": Col("likelihood", help="p(x|z): Bernoulli, or Gaussian with fixed variance", width=70),
    "test MSE": Col("MSE", ".4f", help="Test MSE per pixel, images in [0, 1]", width=60),
    "Bernoulli NLL": Col("Bern. NLL", ".1f", width=70,
                         help="−log Bernoulli(x | decode(mean)) per image, nats: one scale for every model, "
                              "whatever it trained with"),
    # Nats of different likelihoods never share a column (a Gaussian's depend on its variance c).
    "-ELBO Bernoulli": Col("−ELBO Bern.", ".1f", width=80,
                           help="−ELBO in nats per image at β = 1, VAEs with a Bernoulli likelihood"),
    "-ELBO Gaussian": Col("−ELBO Gauss.", ".1f", width=85,
                          help="−ELBO in nats per image at β = 1, VAEs with a Gaussian likelihood of fixed variance c "
                               "(see 'likelihood')"),
    "KL": Col("KL", ".2f", help="KL(q(z|x) || N(0, I)), nats per image", width=45),
    "active units": Col("active", ".0f", help="Active units: dims with mean KL > 0.01 nats", width=45),
    "kNN 1%": Col("kNN 1%", ".0%", help="Latent kNN accuracy with 1% of the labels", width=50),
    "about": Col("about", width=110),
}


@st.cache_data(show_spinner=False, max_entries=64)
def prior_picture(path: str, count: int = 48, ncols: int = 8, seed: int = 0) -> np.ndarray:
    """``count`` images decoded from z ~ N(0, I), tiled (1-pixel white padding), uint8.

    A dense decoder runs in numpy (core/npdecode.py), so the home page's first picture needs
    neither torch nor the dataset; a conv decoder goes through torch (the same codes)."""
    decoder = loaders.numpy_decoder(path)
    if decoder is not None:
        decoded = decoder.decode(prior_codes(count, decoder.latent_dim, seed))
    else:
        model = loaders.load_model(path).model
        decoded = loaders.decode(model, prior_codes(count, model.latent_dim, seed))
    return images.to_uint8(images.tile(decoded, ncols=ncols, padding=1))


TEASER_POINTS = 2000


@st.cache_data(show_spinner=False, max_entries=16)
def stored_map(path: str, points: int = TEASER_POINTS) -> tuple[np.ndarray, np.ndarray | None, np.ndarray] | None:
    """(codes (n, 2), labels, their test-set indices) of a 2-D model, a fixed sample of its stored
    test codes (NAME.codes.safetensors, read without torch or the dataset); None for another
    latent dim, or when no codes match the weights."""
    stored = load_codes_for(path)
    if stored is None or stored.means.shape[1] != 2:
        return None
    n = len(stored.means)
    keep = np.sort(np.random.default_rng(0).choice(n, size=min(points, n), replace=False))
    return stored.means[keep], None if stored.labels is None else stored.labels[keep], keep


def models_table(cards: list[Card]) -> pd.DataFrame:
    """One row per checkpoint card, in the columns of TABLE_COLUMNS."""
    import pandas as pd

    rows = []
    for card in cards:
        metrics = card.metrics
        about = card.title
        if card.origin == "trained":
            about = (about + " " if about else "") + "(trained in the app)"
        rows.append({
            "name": card.name,
            "kind": card.kind_label,
            "data": card.dataset_name,
            "D": card.model_config.get("latent_dim"),
            "beta": card.beta,
            "likelihood": card.model_config.get("likelihood"),
            "test MSE": metrics.get("mse"),
            "Bernoulli NLL": metrics.get("bernoulli_nll_at_mean"),
            "-ELBO Bernoulli": metrics.get("neg_elbo") if card.likelihood == "bernoulli" else None,
            "-ELBO Gaussian": metrics.get("neg_elbo") if card.likelihood == "gaussian" else None,
            "KL": metrics.get("kl"),
            "active units": metrics.get("active_units"),
            "kNN 1%": metrics.get("knn_accuracy"),
            "about": about,
        })
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    for column in ("D", "beta", "test MSE", "Bernoulli NLL", "-ELBO Bernoulli", "-ELBO Gaussian", "KL",
                   "active units", "kNN 1%"):
        table[column] = pd.to_numeric(table[column], errors="coerce")  # undefined -> blank, not "None"
    return table.sort_values(["data", "name"], kind="stable").reset_index(drop=True)


__all__ = ["INTRO", "UNITS", "Page", "url_path_of", "HOME", "PAGES", "navigation", "TABLE_COLUMNS", "prior_picture",
           "models_table"]
