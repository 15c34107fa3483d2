"""Latent explorer (`streamlit run streamlit_app.py`): the router.

The sidebar's menu lists the pages of explorer/ui/home.py (Home first, at the app's root URL;
the others at /Latent_map, /Manifold, ...); the page runs, then the sidebar shows the link to
the current view (its URL with the state in the query string: explorer/ui/share.py). Before
the page, the sidebar names any checkpoint that cannot be read (the listings skip it).
"""

from pathlib import Path

import streamlit as st

from explorer.ui import home, share, sidebar

ROOT = Path(__file__).parent

st.set_page_config(page_title="Latent explorer", page_icon="🌀", layout="wide")
page = st.navigation(home.navigation(ROOT))
sidebar.show_skipped_cards()
page.run()
share.link_box()
