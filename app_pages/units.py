"""Units: what a unit detects. Each channel of a layer by the images of a whole set that
excite it most, cut to the unit's receptive field beside its deconvnet projection
(ZFNet's Figure 2). Widgets and calls into classifier.explain.units only."""

import zipfile

import streamlit as st

from app_pages import page_helpers

from classifier.data.folder import UnsafeArchive
from classifier.explain import default_layer, explainable_layers
from classifier.explain.unit_sets import NAMED_SETS, example_set, unzipped
from classifier.explain.units import cache_dir, cached_examples, channel_png, dataset_examples, weights_key
from classifier.weights import load_weights

SETS = {**NAMED_SETS, "folder": "A folder on this machine (an ImageNet-style folder, photos…)",
        "zip": "Upload a zip of images"}
SHOWN = 4  # channels drawn at first; each costs one batched deconvnet pass

st.title("Units")
st.caption(
    "What a unit detects: for each channel of a layer, the images of a whole set that excite it most, each cut to "
    "the unit's receptive field, beside the unit's deconvnet projection — Figure 2 of Zeiler & Fergus, "
    "“Visualizing and Understanding Convolutional Networks” (2014)."
)


@st.cache_resource(show_spinner=False, max_entries=2)
def _loaded(name: str, source_key: str, _source):
    """One loaded model per (model, weights) shared by every session; the search locks it."""
    return load_weights(name, _source)


@st.cache_data(show_spinner=False, max_entries=16)
def _layers(name: str, input_size: tuple, source_key: str, _model):
    return explainable_layers(name, input_size, _model)


@st.cache_resource(show_spinner=False, max_entries=2)
def _named_set(data: str):
    """The bundled and cached sets do not change while the app runs; a folder is listed
    afresh on every run, so an edited file is a new set."""
    return example_set(data)


name, loaded, source = page_helpers.pick_model_and_weights("units", "resnet18", _loaded)

layers = _layers(name, loaded.input_size, str(source), loaded.model)
if not layers:
    st.info(f"{name} has no layer whose output is a map.")
    st.stop()
layer = st.selectbox("Layer", layers, index=default_layer(layers), format_func=lambda info: info.label,
                     key=f"units_layer_{name}")

d1, d2, d3, d4 = st.columns([2, 3, 1, 1])
data_kind = d1.radio("Images", list(SETS), format_func=SETS.get, key="units_data")
k = d3.number_input("Examples per channel", 1, 25, 9, key="units_k", help="ZFNet shows nine")
limit = d4.number_input("At most", 1, 100_000, 500, step=100, key="units_limit",
                        help="images drawn at random (fixed seed) from a larger set")
data = data_kind
if data_kind == "folder":
    data = d2.text_input("Folder", key="units_folder", placeholder="/data/imagenet/val",
                         help="every image under it, sub-folders included; no labels needed")
elif data_kind == "zip":
    upload = d2.file_uploader("Zip of a folder of images", type=["zip"], key="units_zip")
    data = None
    if upload is not None:
        try:
            data = str(unzipped(upload.getvalue(), upload.name, cache_dir() / "zips"))
        except (UnsafeArchive, OSError, ValueError, zipfile.BadZipFile) as exc:
            st.error(f"The zip cannot be used: {exc}")
if not data:
    st.info("Give a folder of images, or upload a zip of one.")
    st.stop()
try:
    images = (_named_set(data) if data_kind in NAMED_SETS else example_set(data)).limited(int(limit))
except (ValueError, OSError) as exc:
    st.error(str(exc).splitlines()[0])
    st.stop()

weights = weights_key(loaded, source)
examples = cached_examples(loaded, weights, layer, images, int(k))
if st.button("Find dataset examples", type="primary", key="units_run", disabled=examples is not None):
    bar = st.progress(0.0, text=f"Searching {len(images)} images…")
    try:
        examples = dataset_examples(loaded, weights, layer, images, int(k),
                                    progress=lambda done, total: bar.progress(done / total,
                                                                              text=f"{done} of {total} images"))
    except (ValueError, OSError) as exc:
        st.error(str(exc).splitlines()[0])
    finally:
        bar.empty()
if examples is None:
    st.caption(f"{images.description}: press **Find dataset examples** to search them (one pass, then cached).")
    st.stop()
st.caption(f"{images.description}: {examples.count} images searched"
           + (" (read from the cache)." if examples.cached else "."))

order = examples.strongest_channels()
channels = st.multiselect(
    "Channels (strongest first)", order, default=order[:SHOWN], key=f"units_channels_{examples.key}",
    help="ranked by each channel's single strongest response over the set",
)
st.caption("Left: each example's deconvnet projection (grey = 0); right: the image patches under the units' "
           "receptive fields, in the same places, strongest top-left.")
cols = st.columns(2)
bar = st.progress(0.0, text="Projecting…") if channels else None
for n, c in enumerate(channels):
    png = channel_png(loaded, examples, images, c)
    bar.progress((n + 1) / len(channels), text=f"Projected {n + 1} of {len(channels)} channels")
    where = cols[n % 2]
    where.image(png, caption=f"channel {c}: strongest {float(examples.values[c, 0]):.3g}, "
                             f"from {images.names[int(examples.images[c, 0])]}")
    where.download_button(f"⬇ Channel {c} (PNG)", png, file_name=f"{name}-{layer.name}-channel-{c}.png",
                          mime="image/png", key=f"units_png_{c}", on_click="ignore")
if bar is not None:
    bar.empty()
