"""The yardstick for cold starts (bench/bench_start.py): a trivial Streamlit app, a title and one image.

Run: streamlit run devtools/apps/trivial_app.py
"""

import numpy as np
import streamlit as st

st.title("A trivial app")
ramp = np.linspace(0.0, 1.0, 28 * 28, dtype=np.float32).reshape(28, 28)
st.image(np.kron(ramp, np.ones((8, 8), dtype=np.float32)), caption="one image", clamp=True)
