"""Evaluate: how good are a model's weights on a labelled set? Measured top-1 beside the
reported one, per-class accuracy and the most confident mistakes. Widgets and calls into
classifier.evaluate only."""

import hashlib
import tempfile
import time
from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from app_pages import page_helpers

from classifier.data.catalog import is_downloaded
from classifier.data.folder import UnsafeArchive, extract_upload
from classifier.evaluate import evaluate, labelled_images
from classifier.train import list_runs
from classifier.weights import load_weights

SETS = {
    "digits": "Bundled digits (test split, offline)",
    "cifar10": "CIFAR-10 test set",
    "cifar100": "CIFAR-100 test set",
    "folder": "A folder on this machine",
    "zip": "Upload a zip of a folder",
}
THUMB = 96

st.title("Evaluate")
st.caption("Run a labelled set through a model with its weights' own preprocessing: top-1 and top-5 beside the "
           "figure the weights' source reports, accuracy per class, and the mistakes it was surest of.")


@st.cache_resource(show_spinner=False, max_entries=2)
def _loaded(name: str, source_key: str, _source):
    return load_weights(name, _source)


def _latest_run_model() -> str | None:
    """The model of the newest run, whose test split is the natural first evaluation."""
    for run in list_runs():
        try:
            return run.read_config().model
        except (OSError, ValueError):
            continue
    return None


name, loaded, source = page_helpers.pick_model_and_weights("evaluate", _latest_run_model() or "resnet18", _loaded)

d1, d2, d3 = st.columns([2, 3, 1])
digits_like = loaded.class_names == [str(d) for d in range(10)]
data_kind = d1.radio("Labelled images", list(SETS), format_func=SETS.get, key="evaluate_data",
                     index=0 if digits_like else 3)
limit = d3.number_input("At most", 1, 100_000, 200, step=50, key="evaluate_limit",
                        help="images drawn at random (fixed seed) so a short run sees every class")
data = data_kind
if data_kind == "folder":
    data = d2.text_input("Folder", key="evaluate_folder", placeholder="/data/imagenet/val",
                         help="ImageNet synset sub-folders (n01440764/…), a labels.txt of 'file,label' lines, "
                              "or sub-folders named like the weights' classes")
elif data_kind == "zip":
    upload = d2.file_uploader("Zip of a labelled folder", type=["zip"], key="evaluate_zip")
    data = None
    if upload is not None:
        target = Path(tempfile.gettempdir()) / "classifier-evaluate" / hashlib.sha256(upload.getvalue()).hexdigest()[:16]
        try:
            data = str(target if target.is_dir() else extract_upload(upload, upload.name, target))
        except (UnsafeArchive, OSError, ValueError) as exc:
            st.error(f"The zip cannot be used: {exc}")
elif not is_downloaded(data_kind):
    d2.caption(f"{SETS[data_kind]} downloads once into the data cache when evaluated.")

if not data:
    st.info("Give a folder of labelled images: ImageNet synset sub-folders (n01440764/…), a labels.txt of "
            "'file,label' lines, or sub-folders named like the weights' classes. A run trained on the digits "
            "evaluates on the bundled digits with no download.")
    st.stop()

if st.button("Evaluate", type="primary", key="evaluate_run"):
    bar = st.progress(0.0, text="Reading the images…")
    try:
        images = labelled_images(data, loaded.class_names).limited(int(limit))
        start = time.monotonic()

        def progress(done, total):
            left = (time.monotonic() - start) / done * (total - done)
            bar.progress(done / total, text=f"{done} of {total} images · about {left:.0f} s left")

        st.session_state["evaluate_result"] = (name, str(source), data, images, evaluate(loaded, images, progress))
    except (ValueError, OSError) as exc:
        st.error(str(exc).splitlines()[0])
    finally:
        bar.empty()

stored = st.session_state.get("evaluate_result")
if not stored or stored[:3] != (name, str(source), data):
    st.caption("Press **Evaluate** to measure.")
    st.stop()
images, result = stored[3], stored[4]

m1, m2, m3 = st.columns(3)
delta = None if result.reported_top1 is None else f"{result.top1 - result.reported_top1:+.1f} points vs reported"
m1.metric("Top-1 measured", f"{result.top1:.1f} %", delta=delta, delta_color="off")
m2.metric("Top-1 reported by the source", "—" if result.reported_top1 is None else f"{result.reported_top1:.1f} %")
m3.metric("Top-5", f"{result.top5:.1f} %", help=f"{result.images} images: {result.data}")

rows = result.class_rows()
shown = rows if len(rows) <= 30 else rows[:15] + rows[-15:]
fig = go.Figure(go.Bar(x=[r["top-1 %"] for r in shown], y=[r["class"] for r in shown], orientation="h",
                       text=[f"{r['top-1 %']:.0f} % of {r['images']}" for r in shown], marker_color="#3b6fd8"))
fig.update_layout(title="Top-1 per class" + (" (the 15 weakest and 15 strongest)" if len(rows) > 30 else ""),
                  xaxis_title="top-1 (%)", xaxis_range=[0, 100], height=120 + 22 * len(shown),
                  margin=dict(l=10, r=10, t=40, b=40), yaxis_autorange="reversed")
st.plotly_chart(fig, width="stretch", key="evaluate_per_class")

st.subheader("The most confident mistakes")
if not result.mistakes:
    st.caption("None: every image was classified correctly.")
cols = st.columns(6)
for n, m in enumerate(result.mistakes):
    cols[n % 6].image(loaded.preprocess.crop(images.image(m.index)), width=THUMB,
                      caption=f"{result.class_names[m.true]} → {result.class_names[m.predicted]} "
                              f"({100 * m.confidence:.0f} %)")
