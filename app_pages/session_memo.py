"""Per-session memo for the pages (not a page itself): the newest results are kept in
``st.session_state`` so switching tabs or moving a slider back does not recompute.
Per session rather than ``st.cache_data``, because some steps draw a progress bar."""

from collections import OrderedDict

import streamlit as st


def memo(namespace: str, limit: int, key: tuple, compute, busy: str | None = None):
    """``compute()``'s result for ``key``, computed once per session (with a spinner
    saying ``busy`` while it runs); the ``limit`` newest keys are kept."""
    store: OrderedDict = st.session_state.setdefault(namespace, OrderedDict())
    if key not in store:
        if busy:
            with st.spinner(busy):
                store[key] = compute()
        else:
            store[key] = compute()
        while len(store) > limit:
            store.popitem(last=False)
    store.move_to_end(key)
    return store[key]
