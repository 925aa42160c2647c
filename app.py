"""Classifier Explorer: ``streamlit run app.py``.

Only navigation and the shared sidebar live here; each page is a thin file in
app_pages/ that calls into the ``classifier`` library. Nothing heavy happens at import.
The folder is not called pages/: with a folder of that name Streamlit falls back to its
old file-based navigation (skipping this script) when a server's first visitor opens a
page's URL directly.
"""

from pathlib import Path

import streamlit as st

from classifier.warmup import start_warm_up

# The icon ships as a file: a material icon would load from a web font host, which an
# offline machine cannot reach (no favicon, and a network error on every page load).
ICON = Path(__file__).with_name("assets") / "icon.png"
st.set_page_config(page_title="Classifier Explorer", page_icon=str(ICON), layout="wide")

PAGES = [
    st.Page("app_pages/architectures.py", title="Architectures", icon=":material/account_tree:", default=True),
    st.Page("app_pages/inspect.py", title="Inspect", icon=":material/biotech:"),
    st.Page("app_pages/units.py", title="Units", icon=":material/grid_view:"),
    st.Page("app_pages/compare.py", title="Compare", icon=":material/compare:"),
    st.Page("app_pages/evaluate.py", title="Evaluate", icon=":material/fact_check:"),
    st.Page("app_pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("app_pages/concepts.py", title="Concepts", icon=":material/lightbulb:"),
]

start_warm_up()  # the first analysis's one-off imports, off this thread; once per process
page = st.navigation(PAGES)
with st.sidebar:
    st.caption("Classifier Explorer — the classic image classifiers, to read, inspect and compare.")
page.run()
