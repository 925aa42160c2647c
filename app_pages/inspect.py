"""Inspect: push one image through a model and look at what it computes — predictions,
feature maps, ZFNet's deconvnet, captum's attributions, occlusion, effective receptive
fields and, for ViT, attention. Widgets and calls into classifier.explain only."""

import hashlib
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from app_pages import page_helpers
from app_pages.inspect_feature_vis import feature_vis_view
from app_pages.inspect_layer_sweep import layer_sweep_view
from app_pages.inspect_sanity import sanity_checks

from classifier import get_card, list_models
from classifier.explain import (
    LAYER_METHODS,
    METHODS,
    activations,
    attention,
    attribute,
    centre_unit,
    default_layer,
    deconvolution,
    effective_field,
    explainable_layers,
    figures,
    find_layer,
    gradcam_layers,
    has_attention,
    map_tiles,
    occlusion,
    occlusion_positions,
    predict,
    top_projections,
    uses_relu,
)
from classifier.explain.render import colormap, draw_box, grid, magnitude, png_bytes
from classifier.weights import WeightsError, load_weights, read_checkpoint

MEMO_ENTRIES = 24
FIGURE_WIDTH = 448  # on screen; 32×32 inputs are scaled up to it, downloads keep their pixels

st.title("Inspect")
st.caption(
    "Push an image through a network: its predictions, what its layers compute, and which pixels its answer depends on."
)


# --- cached model and results ------------------------------------------------------------


@st.cache_resource(show_spinner=False, max_entries=3)
def _loaded(name: str, source_key: str, _source):
    """One loaded model per (model, weights) shared by every session; explanations lock it."""
    return load_weights(name, _source)


@st.cache_data(show_spinner=False, max_entries=32)
def _checkpoint_model(path: str, mtime: float) -> str | None:
    return read_checkpoint(path).model_name


@st.cache_data(show_spinner=False, max_entries=16)
def _layers(name: str, input_size: tuple, source_key: str, _model):
    return explainable_layers(name, input_size, _model)


def memo(key: tuple, compute, busy: str | None = None):
    return page_helpers.memo("inspect_memo", MEMO_ENTRIES, key, compute, busy)


def count_slider(where, label: str, lo: int, hi: int, default: int, key: str) -> int:
    """A slider for a count, or the only possible count when there is no choice to make."""
    return where.slider(label, lo, hi, min(default, hi), key=key) if hi > lo else hi


def colour_scale(lo: str, hi: str, method: str) -> None:
    """The heat map's colour ramp with its end values and a one-line reading."""
    st.image(figures.scale_bar(), caption=f"{lo} ← → {hi}", width=256)
    st.caption(figures.READINGS[method])


def download(label: str, image: np.ndarray, file_name: str, key: str) -> None:
    st.download_button(
        f"⬇ {label} (PNG)", png_bytes(image), file_name=file_name, mime="image/png", key=key, on_click="ignore"
    )


# --- model and weights ---------------------------------------------------------------------

names = list_models()
checkpoint = st.session_state.get("inspect_checkpoint")
checkpoint_model = None
if checkpoint and Path(checkpoint).is_file():
    try:
        checkpoint_model = _checkpoint_model(str(checkpoint), Path(checkpoint).stat().st_mtime)
    except WeightsError as exc:
        st.warning(f"The training run's checkpoint cannot be offered: {exc}")
# ResNet-18 by default: ImageNet weights that download quickly and run fast on a CPU.
default_model = checkpoint_model if checkpoint_model in names else ("resnet18" if "resnet18" in names else names[0])

model_col, weights_col = st.columns([2, 3])
name = model_col.selectbox(
    "Model",
    names,
    index=names.index(default_model),
    key="inspect_model",
    bind="query-params",  # bare names (no display label), so ?inspect_model=NAME links work both ways
    help="also settable in the address: ?inspect_model=NAME",
)
model_col.caption(f"{get_card(name).variant}, {get_card(name).year}")
sources = page_helpers.weight_options(name)
if checkpoint_model == name:
    sources["run"] = f"Training run ({Path(checkpoint).parent.name})"
sources["random"] = "Random (untrained)"
sources["upload"] = "Upload a checkpoint"
options = list(sources)
default = "run" if "run" in sources else page_helpers.default_weights(options)
choice = weights_col.selectbox(
    "Weights", options, index=options.index(default), format_func=sources.get, key=f"inspect_weights_{name}",
    help="Every trained parameter set in the registry for this model (`python -m classifier weights NAME`); "
    "one not yet cached downloads when chosen.",
)
if choice == "upload":
    ckpt_file = weights_col.file_uploader(
        "Checkpoint (.pt/.pth: a state dict or a Classifier Explorer checkpoint; loaded as tensors only)",
        type=["pt", "pth", "ckpt", "bin"],
        key="inspect_ckpt_upload",
    )
    if ckpt_file is None:
        st.info("Upload a checkpoint for this model, or choose other weights.")
        st.stop()
    data = ckpt_file.getvalue()
    source, source_key = data, "upload:" + hashlib.sha256(data).hexdigest()
elif choice == "run":
    source, source_key = str(checkpoint), f"run:{checkpoint}:{Path(checkpoint).stat().st_mtime}"
else:
    source, source_key = choice, choice

try:
    page_helpers.fetch_weights(source)
    with st.spinner(f"Loading {name}…"):
        loaded = _loaded(name, source_key, source)
except WeightsError as exc:
    st.error(str(exc))
    if page_helpers.registry_entry(choice) is not None:
        st.info("Without these weights, choose **Random (untrained)** to explore the architecture, "
                "or put the file named above where the message says.")
    st.stop()
model = loaded.model

if loaded.pretrained:
    st.caption(loaded.description)
else:
    st.warning("**Untrained weights.** " + loaded.description)

# --- image ---------------------------------------------------------------------------------

picture, image_key = page_helpers.pick_image("inspect")
cropped = loaded.preprocess.crop(picture)
x = loaded.preprocess.tensor(cropped)
image = figures.rgb(np.asarray(cropped))
h, w = image.shape[:2]
key = (name, source_key, image_key)  # what every result below depends on

# --- input and predictions ------------------------------------------------------------------

seen_col, pred_col = st.columns([1, 2])
with seen_col:
    st.image(image, caption=f"What the network sees ({h}×{w}): {loaded.preprocess.describe()}", width="stretch")
    download("Network input", image, f"{name}-input.png", "dl_input")
with pred_col:
    top5 = memo(("predict", *key), lambda: predict(model, x, loaded.class_names, k=5), "Classifying…")
    fig = go.Figure(
        go.Bar(
            x=[100 * p.probability for p in top5][::-1],
            y=[f"{p.label} ({p.index})" for p in top5][::-1],
            orientation="h",
            text=[f"{100 * p.probability:.1f}%" for p in top5][::-1],
            textposition="auto",
            marker_color="#3b6fd8",
        )
    )
    fig.update_layout(
        title="Top-5 predictions", xaxis_title="probability (%)", height=300, margin=dict(l=10, r=10, t=40, b=40)
    )
    st.plotly_chart(fig, width="stretch", key="inspect_predictions")
    st.caption("The chart's camera icon saves it as a PNG.")

classes = list(range(len(loaded.class_names)))
target = st.selectbox(
    "Class to explain",
    classes,
    index=top5[0].index,
    key=f"inspect_target_{name}_{source_key}",
    format_func=lambda i: f"{i}: {loaded.class_names[i]}",
)

layers = _layers(name, tuple(loaded.input_size), source_key, model)
if not layers:  # a fully connected net (highway_fc10): no feature map to show, hook or project
    st.info(f"{name} has no spatial feature maps (it flattens the image first), so the activation, deconvnet, "
            "attribution and receptive-field views do not apply; its predictions are above.")
    st.stop()
layer_names = [layer.name for layer in layers]
spatial = [layer.name for layer in gradcam_layers(layers)]


def layer_box(label: str, options: list[str], default: int, key: str) -> str:
    labels = {layer.name: layer.label for layer in layers}
    return st.selectbox(label, options, index=default, key=key, format_func=labels.get)


tab_names = ["Activations", "Deconvnet", "Attributions", "Occlusion", "Effective receptive field"]
if has_attention(model):
    tab_names.append("Attention")
tab_names += ["Layer sweep", "Feature visualisation"]
tab_names.append("Sanity checks")
tabs = dict(zip(tab_names, st.tabs(tab_names, key="inspect_tab", on_change="rerun")))

# --- activations ---------------------------------------------------------------------------

with tabs["Activations"]:
    if tabs["Activations"].open:
        left, right = st.columns([3, 1])
        with left:
            act_layer = find_layer(layers, layer_box("Layer", layer_names, default_layer(layers), f"act_layer_{name}"))
        count = count_slider(
            right, "Maps shown", min(4, act_layer.channels), min(64, act_layer.channels), 16, "act_count"
        )
        acts = memo(("act", *key, act_layer.name), lambda: activations(model, x, act_layer), "Running the image…")
        tile = max(48, 480 // int(np.ceil(np.sqrt(count))))
        sheet = grid(map_tiles(acts, count, tile), columns=int(np.ceil(np.sqrt(count))), pad=3)
        maps_col, unit_col = st.columns(2)
        with maps_col:
            st.image(
                sheet,
                caption=f"The {count} strongest of {act_layer.channels} maps, strongest first "
                f"(channels {', '.join(map(str, acts.order[:count]))}); one colour scale",
                width="stretch",
            )
            download("Feature maps", sheet, f"{name}-{act_layer.name}-maps.png", "dl_maps")
        with unit_col:
            # keys carry the image, so a new image starts from its own strongest unit and the
            # widgets, the caption and the box always describe the same unit
            unit_key = f"{name}_{act_layer.name}_{image_key}"
            channel = st.selectbox("Channel", acts.order[:count], key=f"act_channel_{unit_key}")
            best = acts.strongest_unit(channel)
            gh, gw = act_layer.grid
            row = (
                st.slider("Unit row", 0, gh - 1, best[0], key=f"act_row_{unit_key}_{channel}")
                if gh > 1
                else 0
            )
            col = (
                st.slider("Unit column", 0, gw - 1, best[1], key=f"act_col_{unit_key}_{channel}")
                if gw > 1
                else 0
            )
            box = act_layer.box((row, col), (h, w))
            boxed = draw_box(image, box)
            field = f"{box[3] - box[1]}×{box[2] - box[0]} px" if act_layer.rf else "the whole image (global field)"
            st.image(
                boxed,
                caption=f"Unit ({row}, {col}) of channel {channel} = {acts.value(channel, (row, col)):.3g}; "
                f"its theoretical receptive field: {field}",
                width="stretch",
            )
            download("Receptive field", boxed, f"{name}-{act_layer.name}-c{channel}-rf.png", "dl_rf")

# --- deconvnet -----------------------------------------------------------------------------

with tabs["Deconvnet"]:
    if tabs["Deconvnet"].open:
        st.markdown(
            "ZFNet's deconvnet (Zeiler & Fergus 2013): each of the layer's strongest channels, by its strongest "
            "unit, projected back to pixels — shown cropped to the unit's receptive field, beside the image patch."
        )
        if not uses_relu(layers):
            st.warning("The deconvnet is defined for ReLU networks: it passes only the positive part of the "
                       "signal back through each ReLU. This net has none, so the projections below are plain "
                       "gradients, not deconvnet reconstructions.")
        left, right = st.columns([3, 1])
        with left:
            deconv_layer = find_layer(
                layers, layer_box("Layer", layer_names, default_layer(layers), f"deconv_layer_{name}")
            )
        top_k = count_slider(right, "Channels", 1, min(16, deconv_layer.channels), 6, "deconv_k")

        def project():
            bar = st.progress(0.0, text=f"Projecting {top_k} channels of {deconv_layer.name}…")
            out = top_projections(
                model,
                x,
                deconv_layer,
                k=top_k,
                progress=lambda done, total: bar.progress(
                    done / total, text=f"Projected {done} of {total} channels of {deconv_layer.name}"
                ),
            )
            bar.empty()
            return out

        projections = memo(("deconv", *key, deconv_layer.name, top_k), project)
        sheet = figures.projection_sheet(projections, image)
        st.image(
            sheet,
            caption="Left of each pair: the projection (grey = 0); right: the patch. "
            + "; ".join(f"ch {p.channel} @ {p.unit}: {p.activation:.3g}" for p in projections),
            width="stretch",
        )
        download("Projections", sheet, f"{name}-{deconv_layer.name}-deconvnet.png", "dl_deconv")
        st.markdown(f"**Whole image**, projected from the score of class {target} ({loaded.class_names[target]}):")
        whole = memo(
            ("deconv_class", *key, target), lambda: deconvolution(model, x, target), "Projecting the class score…"
        )
        whole_img = figures.attribution_figure(whole, "deconv", image, 1.0)
        st.image(whole_img, width=FIGURE_WIDTH)
        download("Class projection", whole_img, f"{name}-deconv-class{target}.png", "dl_deconv_class")

# --- attributions --------------------------------------------------------------------------

with tabs["Attributions"]:
    if tabs["Attributions"].open:
        choices = [m for m in METHODS if m != "deconv"]
        c1, c2, c3 = st.columns([2, 3, 2])
        method = c1.selectbox("Method", choices, format_func=METHODS.get, key="attr_method")
        attr_layer = None
        steps = 32
        if method in LAYER_METHODS:
            with c2:
                attr_layer = find_layer(
                    layers, layer_box("Layer (Grad-CAM)", spatial, len(spatial) - 1, f"attr_layer_{name}")
                )
        elif method == "ig":
            steps = c2.slider("Integration steps", 4, 128, 32, step=4, key="attr_steps")
        opacity = c3.slider(
            "Overlay opacity",
            0.0,
            1.0,
            0.6 if method in ("gradcam", "ig", "saliency") else 1.0,
            key=f"attr_opacity_{method}",
        )
        attr = memo(
            ("attr", *key, method, target, attr_layer.name if attr_layer else None, steps),
            lambda: attribute(model, x, method, target, layer=attr_layer, ig_steps=steps),
            f"{METHODS[method]} for class {target}…",
        )
        picture = figures.attribution_figure(attr, method, image, opacity)
        st.image(
            picture, caption=f"{METHODS[method]} of class {target} ({loaded.class_names[target]})", width=FIGURE_WIDTH
        )
        if method not in figures.PATTERN_METHODS:
            colour_scale("0", f"{float(magnitude(attr).max()):.3g}", method)
        else:
            st.caption(figures.READINGS[method])
        download(METHODS[method], picture, f"{name}-{method}-class{target}.png", "dl_attr")

# --- occlusion -----------------------------------------------------------------------------

with tabs["Occlusion"]:
    if tabs["Occlusion"].open:
        st.markdown(
            "ZFNet §4.2: slide a grey square over the image and record the class probability. "
            "Dark where covering the image hurts the class: the object the network relies on."
        )
        c1, c2, c3 = st.columns(3)
        default_window = h // 4 if h <= 64 else h // 7  # 8 px on 32×32, 32 px on 224×224
        window = c1.slider("Occluder size (px)", 2, max(8, h // 2), default_window, key=f"occ_window_{h}")
        stride = c2.slider("Stride (px)", 1, max(4, h // 4), max(1, default_window // 2), key=f"occ_stride_{h}")
        opacity = c3.slider("Overlay opacity", 0.0, 1.0, 0.75, key="occ_opacity")
        steps = occlusion_positions(h, w, window, stride)

        def occlude():  # an explicit job: progress with the time left, and a Cancel button
            if page_helpers.job_cancelled("occlusion", "Occlusion"):
                st.stop()
            with page_helpers.job_progress("occlusion", f"Occluding {steps} positions, 16 per forward pass…") as update:
                return occlusion(model, x, target, window, stride,
                                 progress=lambda done, total: update(done / total, f"Forward pass {done} of {total}"))

        result = memo(("occ", *key, target, window, stride), occlude)
        picture = figures.occlusion_figure(result, image, opacity)
        st.image(
            picture,
            caption=f"p(class {target}) as the occluder moves: {result.probability.min():.3f} to "
            f"{result.probability.max():.3f}; unoccluded {result.base:.3f}",
            width=FIGURE_WIDTH,
        )
        colour_scale(f"{result.probability.min():.3f}", f"{result.probability.max():.3f}", "occlusion")
        download("Occlusion map", picture, f"{name}-occlusion-class{target}.png", "dl_occ")

# --- effective receptive field -------------------------------------------------------------

with tabs["Effective receptive field"]:
    if tabs["Effective receptive field"].open:
        st.markdown(
            "The gradient of the centre unit of a layer with respect to the input (Luo et al. 2016), beside "
            "its theoretical receptive field (green box): the pixels that *do* matter inside those that *can*."
        )
        erf_layer = find_layer(layers, layer_box("Layer", layer_names, default_layer(layers), f"erf_layer_{name}"))
        field = memo(
            ("erf", *key, erf_layer.name),
            lambda: effective_field(model, x, erf_layer),
            "Back-propagating the centre unit…",
        )
        if field.gradient.max() == 0:
            st.info(
                f"The gradient of {erf_layer.name}'s centre unit, summed over channels, is zero here: the channel "
                "sum is constant for this layer (as after an untrained LayerNorm). Try another layer."
            )
        picture = figures.effective_field_figure(field, image)
        st.image(
            picture,
            caption=f"Unit {centre_unit(erf_layer)} of {erf_layer.name}; gradient square-root scaled",
            width="stretch",
        )
        m1, m2, m3 = st.columns(3)
        box = field.box
        m1.metric("Theoretical field", f"{box[3] - box[1]}×{box[2] - box[0]} px" if erf_layer.rf else "whole image")
        m2.metric("95% of the gradient within", f"{field.extent(0.95)} px square")
        m3.metric("Gradient inside the box", f"{100 * field.inside:.1f}%")
        download("Effective receptive field", picture, f"{name}-{erf_layer.name}-erf.png", "dl_erf")

# --- attention (ViT) -----------------------------------------------------------------------

if "Attention" in tabs:
    with tabs["Attention"]:
        if tabs["Attention"].open:
            att = memo(("att", *key), lambda: attention(model, x), "Reading the attention weights…")
            blocks = att.weights.shape[0]
            c1, c2 = st.columns(2)
            block = count_slider(c1, "Block", 1, blocks, blocks, "att_block") - 1
            opacity = c2.slider("Overlay opacity", 0.0, 1.0, 0.7, key="att_opacity")
            heads = figures.attention_figure(att, block, image, opacity)
            st.image(
                heads,
                caption=f"Block {block + 1}: the class token's attention over the {att.grid[0]}×{att.grid[1]} "
                f"patches, one tile per head ({att.weights.shape[1]} heads)",
                width="stretch",
            )
            colour_scale("0", "each tile's largest weight", "attention")
            download("Attention heads", heads, f"{name}-attention-block{block + 1}.png", "dl_heads")
            rolled = figures.rollout_figure(att, image, opacity)
            st.image(rolled, caption="Attention rollout through all blocks (Abnar & Zuidema 2020)", width=FIGURE_WIDTH)
            download("Attention rollout", rolled, f"{name}-attention-rollout.png", "dl_rollout")

# --- sanity checks -------------------------------------------------------------------------

with tabs["Sanity checks"]:
    if tabs["Sanity checks"].open:
        sanity_checks(model, x, target, loaded.class_names, layers, name, key)

# --- layer sweep and feature visualisation (app_pages/inspect_layer_sweep.py, inspect_feature_vis.py)

with tabs["Layer sweep"]:
    if tabs["Layer sweep"].open:
        layer_sweep_view(model, key, layers, target, loaded.class_names[target], x, image)

with tabs["Feature visualisation"]:
    if tabs["Feature visualisation"].open:
        feature_vis_view(loaded, name, source_key, layers, target, x)
