"""Classifier Explorer: ``streamlit run app.py``.

Only navigation and the shared sidebar live here; each page is a thin file in pages/
that calls into the ``classifier`` library. Nothing heavy happens at import.
"""

import streamlit as st

st.set_page_config(page_title="Classifier Explorer", page_icon="🔎", layout="wide")

PAGES = [
    st.Page("pages/architectures.py", title="Architectures", icon="🏛️", default=True),
]

page = st.navigation(PAGES)
with st.sidebar:
    st.caption("Classifier Explorer — the classic image classifiers, to read, inspect and compare.")
page.run()
