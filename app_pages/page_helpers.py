"""Widgets and state shared by several pages (this file is not a page itself)."""

import hashlib
import time
from collections import OrderedDict
from contextlib import contextmanager

import streamlit as st
from PIL import Image

from classifier.explorer_format import time_left
from classifier.images import FORMAT_NAMES, UPLOAD_EXTENSIONS, ImageError, decode_image, sample_images
from classifier.feature_evolution import saved_epochs
from classifier.train import list_runs
from classifier.weights import WeightsError, download, get_entry, is_cached, weight_entries


def memo(namespace: str, limit: int, key: tuple, compute, busy: str | None = None):
    """``compute()``'s result for ``key``, computed once per session (with a spinner
    saying ``busy`` while it runs); the ``limit`` newest keys are kept, so switching tabs
    or moving a slider back does not recompute. Per session rather than
    ``st.cache_data``, because some steps draw a progress bar."""
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


def job_cancelled(key: str, what: str) -> bool:
    """True after the user cancelled the explicit job ``key``: the page then shows a
    note and a "Run again" button instead of starting the job over on every rerun."""
    flag = f"job_cancelled_{key}"
    if not st.session_state.get(flag):
        return False
    note, again = st.columns([5, 1])
    note.info(f"{what}: cancelled.")
    if again.button("Run again", key=f"job_again_{key}"):
        st.session_state[flag] = False
        return False
    return True


@contextmanager
def job_progress(key: str, text: str):
    """A progress bar with the time left, and a Cancel button, around an explicit job.

    Yields ``update(fraction, detail="")``. Pressing Cancel marks the job cancelled and
    reruns the page; Streamlit stops the running script at its next element update, so
    the job ends at its next ``update`` call and :func:`job_cancelled` holds it off."""
    bar_col, cancel_col = st.columns([6, 1])
    cancel = cancel_col.empty()  # a placeholder: emptying a column would only add to it
    cancel.button("Cancel", key=f"job_cancel_{key}", on_click=st.session_state.__setitem__,
                      args=(f"job_cancelled_{key}", True))
    bar = bar_col.progress(0.0, text=text)
    start = time.monotonic()

    def update(fraction: float, detail: str = "") -> None:
        left = time_left(time.monotonic() - start, fraction)
        bar.progress(min(1.0, max(0.0, fraction)), text=" · ".join(t for t in (detail or text, left) if t))

    try:
        yield update
    finally:  # on success and on an error alike; a rerun redraws the page anyway
        bar.empty()
        cancel.empty()


def pick_image(prefix: str) -> tuple[Image.Image, str]:
    """A sample image or an upload, decoded: (the RGB picture, a short key of its bytes).
    Before an upload, or for a file that is no usable image, the page says so and stops."""
    data = _image_bytes(prefix)
    if data is None:
        st.info("Upload an image, or pick a sample.")
        st.stop()
    try:
        picture = decode_image(data)
    except ImageError as exc:
        st.error(str(exc))
        st.stop()
    if st.session_state.get(f"{prefix}_image_source") == "Upload":
        st.caption(f"Uploaded: {picture.width}×{picture.height} pixels, {len(data) / 1024:,.0f} kB.")
    return picture, hashlib.sha256(data).hexdigest()[:16]


def _image_bytes(prefix: str) -> bytes | None:
    """A sample image or an upload, side by side: the raw bytes, or None before an upload."""
    samples = sample_images()
    source_col, pick_col = st.columns([1, 2])
    source = source_col.radio("Image", ["Sample", "Upload"], horizontal=True, key=f"{prefix}_image_source")
    if source == "Sample":
        sample = pick_col.selectbox("Sample image", list(samples), key=f"{prefix}_sample")
        return samples[sample].read_bytes()
    uploaded = pick_col.file_uploader(f"Your image ({FORMAT_NAMES})", type=list(UPLOAD_EXTENSIONS), key=f"{prefix}_upload")
    return uploaded.getvalue() if uploaded is not None else None


# --- weights -----------------------------------------------------------------------------


def weight_options(name: str) -> dict[str, str]:
    """A model's weights entries as {entry id: readable label}, best first; an entry whose
    file is not cached yet says that choosing it downloads it."""
    return {
        e.id: e.label + ("" if is_cached(e) else " · downloads when chosen")
        for e in weight_entries(name)
    }


def default_weights(options: list[str]) -> str:
    """The first entry whose file is already cached, else random weights: opening a page
    never starts a download of hundreds of megabytes by itself."""
    return next((o for o in options if (e := registry_entry(o)) is not None and is_cached(e)), "random")


def registry_entry(source):
    """The registry entry ``source`` names, or None for a path, upload, run or "random"."""
    if not isinstance(source, str):
        return None
    try:
        return get_entry(source)
    except KeyError:
        return None


def fetch_weights(source, where=st) -> None:
    """Download an entry's file when it is not cached, with a progress bar in ``where``
    that goes away whether the download succeeds or fails (a WeightsError propagates)."""
    entry = registry_entry(source)
    if entry is None or is_cached(entry):
        return
    bar = where.progress(0.0, text=f"Downloading {entry.id} (once; kept in the cache)…")
    try:
        download(entry, progress=lambda label, done, total: bar.progress(
            min(done / total, 1.0) if total else 0.0,
            text=f"Downloading {label}: {done / 2**20:.0f} MB" + (f" of {total / 2**20:.0f} MB" if total else ""),
        ))
    finally:
        bar.empty()


@st.cache_data(show_spinner=False, ttl=15)
def run_checkpoints(root: str, model: str) -> dict[str, str]:
    """Every saved checkpoint of the runs of ``model``: label → path."""
    out = {}
    for run in list_runs(root):
        try:
            if run.read_config().model != model:
                continue
            for saved in saved_epochs(run):
                out[f"{run.run_id} · {saved.label}"] = str(saved.path)
        except (OSError, ValueError, WeightsError):
            continue  # a run still being written, or a broken one: not offered
    return out


def pick_model_and_weights(prefix: str, default_model: str, load) -> tuple[str, object, object]:
    """The Model and Weights boxes of the Evaluate and Units pages: a model (also in the
    address as ``?<prefix>_model=NAME``), then its trained weights, its runs' checkpoints
    or random weights, a run first if there is one, else a cached entry (never starting a
    download by itself). ``load(name, source_key, source)`` is the page's cached loader.
    Returns (the model's name, the loaded model, the chosen source); a weights error
    stops the page."""
    from classifier import get_card, list_models
    from classifier.train import runs_root

    names = list_models()
    c1, c2 = st.columns([2, 3])
    name = c1.selectbox("Model", names, index=names.index(default_model), key=f"{prefix}_model", bind="query-params",
                        help=f"also settable in the address: ?{prefix}_model=NAME")
    c1.caption(f"{get_card(name).variant}, {get_card(name).year}")
    runs = run_checkpoints(str(runs_root()), name)
    labels = {**weight_options(name), **{path: f"Training run {label}" for label, path in runs.items()},
              "random": "Random (untrained)"}
    options = list(labels)
    default = next(iter(runs.values()), None) or default_weights(options)
    source = c2.selectbox("Weights", options, index=options.index(default), format_func=labels.get,
                          key=f"{prefix}_weights_{name}")
    try:
        fetch_weights(source)
        with st.spinner(f"Loading {name}…"):
            loaded = load(name, str(source), source)
    except WeightsError as exc:
        st.error(str(exc))
        st.stop()
    st.caption(f"{loaded.description} Input: {loaded.preprocess.describe()}.")
    return name, loaded, source
