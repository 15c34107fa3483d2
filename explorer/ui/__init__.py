"""The Streamlit-facing side of the explorer: cached loaders, sidebar pickers, page parts,
and the Python wrappers of the custom components (their HTML/JS lives in explorer/components/).

Everything here may import streamlit; explorer.logic never does.
"""
