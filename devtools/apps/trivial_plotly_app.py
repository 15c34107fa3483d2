"""The yardsticks for pages whose first picture is a chart (bench/bench_start.py): a title and one
Plotly chart, so the benchmark can tell Streamlit's own cost of loading Plotly in a fresh
browser (a chunk of several MB of JavaScript) from the app's.

    /                  four points, an SVG line chart: the floor for any chart page
    /?points=10000     a WebGL scatter of that many points (at most 20,000), as on the Latent map:
                       the floor for a page that shows the encoded test set (WebGL's set-up included)

Run: streamlit run devtools/apps/trivial_plotly_app.py
"""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

MAX_POINTS = 20_000

st.title("A trivial Plotly app")
text = st.query_params.get("points", "")
points = int(text) if text.isdigit() else 0
if 0 < points <= MAX_POINTS:
    xy = np.random.default_rng(0).normal(size=(points, 2))
    st.plotly_chart(go.Figure(go.Scattergl(x=xy[:, 0], y=xy[:, 1], mode="markers")))
else:
    st.plotly_chart(go.Figure(go.Scatter(x=[0, 1, 2, 3], y=[0, 1, 4, 9], mode="lines+markers")))
