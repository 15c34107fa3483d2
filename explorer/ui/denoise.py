"""The Compare page's denoising section: corrupt the test images (masking or Gaussian noise),
let the AE, the denoising AE and the VAE reconstruct them side by side, and measure each
reconstruction against the CLEAN images (MSE per pixel), each model against the plain AE
over the same images with a bootstrap interval: the sentences under the metrics are written
from those numbers. Every model is decoded at its posterior mean (the VAE too).

The denoising AE is a shipped one (denoising.shipped_denoisers(): mnist-dae-2, an AE trained
with Gaussian input noise), or any AE trained with input noise; without one the section says so.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import streamlit as st

from core.card import Card
from explorer.logic import analysis, denoising, images
from explorer.ui import explore, loaders, tables
from explorer.ui.sidebar import Selection, selection_for

N_MEASURED = 500  # test images the MSE is averaged over
AMOUNTS = {"mask": ("Fraction of pixels set to 0", 0.0, 0.9, 0.5, 0.05),
           "gaussian": ("Noise standard deviation σ", 0.0, 1.0, 0.3, 0.05)}


class Contender(NamedTuple):
    role: str  # "AE", "Denoising AE", "VAE"
    selection: Selection


@st.cache_data(show_spinner="Reconstructing the noisy images...", max_entries=64)
def _measure(path: str, indices: tuple[int, ...], kind: str, amount: float, seed: int) -> np.ndarray:
    """(N,) a model's MSE per pixel of each image against the clean one, reconstructing its noisy copy."""
    model = loaders.load_model(path).model
    x = np.asarray(loaders.data_for(loaders.load_model(path).card).test_images[list(indices)])
    noisy = denoising.corrupt(x, kind, amount, seed)
    return denoising.mse_per_image(loaders.decode(model, loaders.encode(model, noisy)[0]), x)


def contenders(cards: list[Card], panels: list[Selection], dataset: str, dim: int) -> tuple[list[Contender], str | None]:
    """The AE and VAE compared above, and the denoising AE; plus a note when that one is missing."""
    by_kind = {p.card.kind: p for p in panels}
    found = []
    if "ae" in by_kind and not by_kind["ae"].card.is_denoiser:
        found.append(Contender("AE", by_kind["ae"]))
    dae = denoising.find_denoiser(cards, dataset, dim)
    note = None
    if dae is None:
        shipped = ", ".join(f"**{name}**" for name in denoising.shipped_denoisers()) or "none"
        note = (f"No denoising autoencoder for {dataset} at {dim}-D here: the project ships one for MNIST only "
                f"({shipped}, an AE trained on inputs with Gaussian noise). Train one for {dataset} with "
                f"`python -m core train --model ae --dataset {dataset} --latent-dim {dim} --input-noise 0.3`. "
                "Showing the other models.")
    else:
        found.append(Contender(f"Denoising AE (trained with noise σ = {dae.input_noise:g})",
                               selection_for(dae)))
    if "vae" in by_kind:
        found.append(Contender("VAE", by_kind["vae"]))
    return found, note


def _controls() -> tuple[str, float, int]:
    left, middle, right = st.columns([3, 3, 1], vertical_alignment="bottom")
    kind = left.radio("Noise", ["gaussian", "mask"], horizontal=True, key="denoise_kind",
                      format_func=lambda k: denoising.NOISE_KINDS[k].split(":")[0].split(" with")[0],
                      help=" · ".join(f"{v}" for k, v in denoising.NOISE_KINDS.items() if k != "none"))
    label, low, high, default, step = AMOUNTS[kind]
    amount = middle.slider(label, low, high, default, step, key=f"denoise_amount_{kind}")
    if right.button("New noise", key="denoise_reseed"):
        st.session_state["denoise_seed"] = st.session_state.get("denoise_seed", 0) + 1
    return kind, float(amount), int(st.session_state.get("denoise_seed", 0))


def section(cards: list[Card], panels: list[Selection], dataset: str, dim: int, x: np.ndarray,
            n_test: int) -> None:
    """The noise controls, the noisy images, each model's reconstruction and its error (``x``: the clean
    images shown above)."""
    st.subheader("Denoising: reconstruct corrupted images")
    st.markdown(
        "Corrupt the test images, hand the noisy copies to each encoder, and compare the decoded images with the "
        "**clean** originals. A plain AE learned to copy what it is given, noise included; a **denoising AE** was "
        "trained to map noisy inputs to clean ones (Vincent et al., 2008). The VAE was trained on clean images "
        "only; whether encoding to a distribution makes it more robust is measured below, not assumed."
    )
    found, note = contenders(cards, panels, dataset, dim)
    if note:
        st.info(note)
    if not found:
        return
    kind, amount, seed = _controls()
    factor = images.display_scale(x.shape[2], target=64)
    noisy = denoising.corrupt(x, kind, amount, seed)
    measured = tuple(int(i) for i in analysis.subsample(n_test, N_MEASURED, seed=1))
    st.markdown(f"**Noisy inputs** ({denoising.noise_label(kind, amount)})")
    st.image(explore.row_picture(noisy, factor),
             caption=f"MSE per pixel of these noisy images against the clean ones: {denoising.mse_per_pixel(noisy, x):.4f}")
    errors = {}
    for role, panel in found:
        recon = loaders.decode(panel.model, loaders.encode(panel.model, noisy)[0])
        errors[role] = _measure(panel.path, measured, kind, amount, seed)
        st.markdown(f"**{role}** · {panel.name}")
        st.image(explore.row_picture(recon, factor),
                 caption=f"its reconstructions; MSE per pixel against the clean images: {denoising.mse_per_pixel(recon, x):.4f}")
    for column, (role, error) in zip(st.columns(len(errors)), errors.items()):
        column.metric(f"{role.split(' (')[0]}: MSE per pixel vs clean", f"{error.mean():.4f}")
    st.markdown(" ".join(verdicts(errors, len(measured))))
    every_level(found, measured)
    st.caption(f"MSE per pixel (intensities in [0, 1]) between each model's reconstruction of the noisy images and "
               f"the clean images, averaged over {len(measured)} test images with the same kind and amount of noise; "
               "each model is decoded at its posterior mean. Lower is better; at zero noise it is the model's own "
               "reconstruction error. The intervals resample the images, keeping each image's pair of errors "
               "together (the same noise for every model). `python -m scripts.measure_denoising` measures every "
               "noise level at once.")


@st.cache_data(show_spinner="Measuring every noise level...", max_entries=16)
def _levels(paths: tuple[tuple[str, str], ...], indices: tuple[int, ...]) -> list[dict]:
    """denoising.level_rows for these models (role, checkpoint path) over the test images ``indices``."""
    models = {role: loaders.load_model(path) for role, path in paths}
    first = next(iter(models.values()))
    x = np.asarray(loaders.data_for(first.card).test_images[list(indices)])
    rebuild = {role: (lambda noisy, m=c.model: loaders.decode(m, loaders.encode(m, noisy)[0])) for role, c in models.items()}
    return denoising.level_rows(denoising.errors_by_level(rebuild, x), baseline=paths[0][0])


def every_level(found: list[Contender], measured: tuple[int, ...]) -> None:
    """An expander: every model's error at each of denoising.NOISE_LEVELS, each against the plain AE."""
    if len(found) < 2 or found[0].role != "AE":
        return
    with st.expander("At every noise level"):
        rows = _levels(tuple((role.split(" (")[0], panel.path) for role, panel in found), measured)
        columns = {"noise": tables.Col("noise")} | {
            key: tables.Col(key, None if "−" in key else ".4f", width=None if "−" in key else 95) for key in rows[0]
            if key != "noise"}
        tables.show(pd.DataFrame(rows), columns, width="stretch")
        st.caption(f"MSE per pixel against the clean images over the same {len(measured)} test images at each level "
                   "(noise seed 0); a difference below 0 means closer to the clean images than the AE, with its 95% "
                   "paired bootstrap interval.")


def verdicts(errors: dict[str, np.ndarray], n: int) -> list[str]:
    """One sentence per model against the plain AE (the first role), from the paired differences."""
    if len(errors) < 2 or not next(iter(errors)).startswith("AE"):
        return []
    (base, base_errors), *others = errors.items()
    sentences = [denoising.comparison_sentence(f"the {role.split(' (')[0]}", f"the {base}",
                                               denoising.paired_difference(e, base_errors), n) for role, e in others]
    return [s[0].upper() + s[1:] for s in sentences]


__all__ = ["N_MEASURED", "AMOUNTS", "Contender", "contenders", "section", "verdicts", "every_level"]
