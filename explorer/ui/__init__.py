"""The Streamlit-facing side of the explorer: cached loaders, sidebar pickers, page parts,
and the Python wrappers of the custom components (their HTML/JS lives in explorer/components/).

Everything here may import streamlit; explorer.logic never does.
"""


def _through_the_router() -> None:
    """Make a deep link opened before anyone opened the app's root go through streamlit_app.py.

    Streamlit runs a file of pages/ directly, with its own automatic menu (listing "streamlit
    app"), until some session has run the router's st.navigation. The first page to import
    this package in that state switches the server to st.navigation (what the router's first
    run would do) and reruns: the rerun runs streamlit_app.py, which opens the same page (the
    URL and its query string are kept).
    """
    try:
        import streamlit as st
        from streamlit.runtime.pages_manager import PagesManager
        from streamlit.runtime.scriptrunner import get_script_run_ctx
    except ImportError:  # another Streamlit: nothing to fix
        return
    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is None or not PagesManager.uses_pages_directory:
        return
    if not str(ctx.pages_manager.main_script_path).endswith("streamlit_app.py"):
        return
    PagesManager.uses_pages_directory = False
    st.rerun()


_through_the_router()
