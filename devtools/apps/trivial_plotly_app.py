"""The yardstick for pages whose first picture is a chart (bench/bench_start.py): a title and one
small Plotly chart, so the benchmark can tell Streamlit's own cost of loading Plotly in a fresh
browser (a chunk of several MB of JavaScript) from the app's.

Run: streamlit run devtools/apps/trivial_plotly_app.py
"""

import plotly.graph_objects as go
import streamlit as st

st.title("A trivial Plotly app")
st.plotly_chart(go.Figure(go.Scatter(x=[0, 1, 2, 3], y=[0, 1, 4, 9], mode="lines+markers")))
