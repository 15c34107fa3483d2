"""Demo page for the latent_canvas component (tests/test_draw_*.py, bench/bench_draw_drag.py).

Query parameters:
    model   a shipped checkpoint name (default mnist-vae-2): mnist-ae-2, mnist-pca-2, frey-vae-2, ...
    points  how many background points (default 2000): clusters around the encoded prior, fixed seed
Run: streamlit run devtools/apps/draw_demo.py   then open ?model=mnist-vae-16
"""

import json

import numpy as np
import streamlit as st

from core.checkpoints import load_checkpoint
from explorer.logic.drawing import drawing_support
from explorer.ui.latent_canvas import latent_canvas
from devtools.browser import REPO_ROOT


@st.cache_resource
def load(name: str):
    return load_checkpoint(str(REPO_ROOT / "checkpoints" / f"{name}.safetensors")).model.eval()


params = st.query_params
name = params.get("model", "mnist-vae-2")
n_points = int(params.get("points", 2000))
model = load(name)
d = model.latent_dim
st.session_state["runs"] = st.session_state.get("runs", 0) + 1
st.caption(f"model={name} points={n_points}")
st.button("rerun")

rng = np.random.default_rng(0)
scale = 5.0 if model.config.kind == "pca" else 1.5
centers = rng.normal(size=(10, d)) * scale
labels = rng.integers(0, 10, size=n_points)
points = centers[labels] + rng.normal(size=(n_points, d)) * scale / 4
z0 = np.zeros(d)
dark = model.image_shape[1] != 28 or model.image_shape[2] == 28  # frey (28 x 20) is the light-background one
result = latent_canvas(
    f"demo-{name}", model.decoder_layers(), model.encoder_layers(), model.image_shape, z0,
    dims=(0, 1), points=points, point_labels=labels, variational=model.variational,
    draw_note=drawing_support(model.image_shape, dark, model.encoder_layers() is not None), key="canvas",
)
st.write("returned_z=" + json.dumps([round(float(v), 4) for v in result.z]))
if result.drawing is not None:
    st.image(result.drawing[0], width=112, clamp=True, caption=f"sent drawing {result.drawing_seq}")
    st.write(f"drawing_seq={result.drawing_seq} drawing_sum={result.drawing.sum():.3f}")
st.caption(f"runs={st.session_state['runs']}")  # last: once it changes, the whole run is on screen
