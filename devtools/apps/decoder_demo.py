"""Demo page for the latent decoder component (browser tests and bench/bench_browser_decode.py).

Query parameters pick what it shows:
    model  vae2 (default) | vae16 | pca | rgb | conv   random-weight models, fixed seed
    mode   sliders (default) | pad | native             native: st.slider + server decode
Run: streamlit run devtools/apps/decoder_demo.py   then open ?model=vae16&mode=sliders
"""

import json

import numpy as np
import streamlit as st
import torch

from core.models import ModelConfig, build_model
from explorer.ui.latent_decoder import latent_decoder

CONFIGS = {
    "vae2": ModelConfig("vae", (1, 28, 28), 2),
    "vae16": ModelConfig("vae", (1, 28, 28), 16),
    "pca": ModelConfig("pca", (1, 28, 28), 8),
    "rgb": ModelConfig("vae", (3, 32, 32), 4, hidden=(64,)),
    "conv": ModelConfig("vae", (1, 28, 28), 2, architecture="conv", hidden=(64,)),
}


@st.cache_resource
def load_model(name: str):
    torch.manual_seed(0)
    model = build_model(CONFIGS[name]).eval()
    if name in ("vae2", "vae16", "rgb"):  # sharper contrast than the initial weights give
        with torch.no_grad():
            model.decoder[-1].weight.mul_(4.0)
    if name == "pca":  # random orthonormal axes instead of a fit
        with torch.no_grad():
            q, _ = torch.linalg.qr(torch.randn(model.config.num_pixels, model.latent_dim))
            model.components.copy_(q.T * 8)
            model.mean.fill_(0.5)
    return model


def decode(model, z: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.decode(torch.as_tensor(z, dtype=torch.float32)[None])[0].numpy()


params = st.query_params
name = params.get("model", "vae2")
mode = params.get("mode", "sliders")
model = load_model(name)
st.session_state["runs"] = st.session_state.get("runs", 0) + 1
st.caption(f"model={name} mode={mode}")
st.button("rerun")  # lets a test trigger a rerun that changes nothing

rng = np.random.default_rng(0)
z0 = np.round(rng.normal(size=model.latent_dim) * 0.5, 3).tolist()

if mode == "native":
    z = [st.slider(f"z{d}", -3.0, 3.0, float(z0[d]), 0.01, key=f"native{d}") for d in range(model.latent_dim)]
    st.image(decode(model, np.asarray(z))[0], width=224, clamp=True)
else:
    layers = model.decoder_layers()
    centers = rng.normal(size=(10, model.latent_dim)) * 1.5
    labels = rng.integers(0, 10, size=2000)
    points = centers[labels] + rng.normal(size=(2000, model.latent_dim)) * 0.4
    z = latent_decoder(
        f"demo-{name}", layers, model.image_shape, z0,
        mode=mode, dims=(0, 1), points=points if mode == "pad" else None,
        point_labels=labels if mode == "pad" else None,
        server_image=(lambda zz: decode(model, zz)) if layers is None else None,
        key="decoder",
    )
st.write("returned_z=" + json.dumps([round(v, 4) for v in z]))
st.caption(f"runs={st.session_state['runs']}")  # last: once it changes, the whole run is on screen
