"""The Inspect page's feature-visualisation tab (not a page itself): pick a channel or a
class, see what the optimisation will cost, run it as an explicit job with a progress bar.
Results are kept on disk, so a second look, or another session, is instant."""

import plotly.graph_objects as go
import streamlit as st
import torch

from classifier.data.download import data_dir
from classifier.explain import default_layer, feature_vis as fv
from classifier.explain.render import png_bytes, resize

FIGURE_WIDTH = 448


def feature_vis_view(loaded, name: str, source_key: str, layers: list, target: int, x) -> None:
    """The tab's widgets for ``loaded`` (weights named by ``source_key``), its explainable
    ``layers``, the page's class ``target`` and preprocessed image ``x``."""
    st.markdown(
        "Feature visualisation (Olah et al., Distill 2017): start from noise and climb the gradient to the image "
        "that excites a channel — or a class — most. The image is optimised through its Fourier spectrum with "
        "decorrelated colours, randomly jittered, scaled and rotated at every step, with Adam."
    )
    kind = st.radio("Maximise", ["A channel of a layer", "A class logit"], horizontal=True, key="fv_kind")
    if kind == "A channel of a layer":
        labels = {layer.name: layer.label for layer in layers}
        left, right = st.columns([3, 1])
        layer_name = left.selectbox("Layer", list(labels), index=default_layer(layers), format_func=labels.get,
                                    key=f"fv_layer_{name}")
        layer = next(la for la in layers if la.name == layer_name)
        channel = right.number_input("Channel", 0, layer.channels - 1, 0, key=f"fv_channel_{name}_{layer_name}")
        objective = fv.Objective(int(channel), layer)
    else:
        st.caption(f"The class chosen above: {target} ({loaded.class_names[target]}).")
        objective = fv.Objective(target)
    c1, c2 = st.columns(2)
    steps = c1.select_slider("Steps", [32, 64, 128, 256, 512, 1024], value=256, key="fv_steps")
    seed = int(c2.number_input("Seed", 0, 2**31 - 1, 0, key="fv_seed"))

    input_size = (loaded.preprocess.channels, *loaded.preprocess.crop_size)
    cost = fv.cost(name, input_size, objective, steps)
    st.info(f"**Cost:** {cost.describe()}.")
    st.caption(
        "Forward MACs from the shape analysis (up to the layer: the forward pass stops there); the backward pass "
        "is counted as 2× the forward, the usual rule when weight gradients are computed too. Only the image's "
        "gradient is asked for here, so the real cost is lower."
    )
    path = fv.cache_file(data_dir() / "feature-vis", name, source_key, objective, steps, seed)
    result = fv.load(path)
    if result is None:
        if not st.button(f"Run {steps} steps", key="fv_run", type="primary"):
            st.caption("Results are kept on disk per model, weights, target, steps and seed.")
            return
        bar = st.progress(0.0, text=f"Optimising {objective.label}…")
        result = fv.visualise(
            loaded.model, objective, loaded.preprocess, steps=steps, seed=seed,
            progress=lambda done, total, value: bar.progress(
                done / total, text=f"Step {done} of {total}: objective {value:.3g}"),
        )
        bar.empty()
        fv.save(result, path)

    picture_col, chart_col = st.columns(2)
    with picture_col:
        small = result.image.shape[0] < 128  # 32×32 results are scaled up to be seen; the download keeps its pixels
        shown = resize(result.image, (FIGURE_WIDTH, FIGURE_WIDTH), smooth=False) if small else result.image
        st.image(shown, caption=f"The image that maximises {objective.label} ({steps} steps, seed {seed})",
                 width="stretch")
        st.download_button("⬇ Feature visualisation (PNG)", png_bytes(result.image),
                           file_name=f"{name}-featvis-{_slug(objective)}-s{steps}-seed{seed}.png",
                           mime="image/png", key="dl_featvis", on_click="ignore")
    with chart_col:
        # the result as the network reads the downloaded PNG, beside the page's own image
        batch = torch.cat([result.network_input(loaded.preprocess), x[:1]])
        optimised, yours = fv.score(loaded.model, objective, batch)
        m1, m2 = st.columns(2)
        m1.metric("Objective on the result", f"{optimised:.3g}")
        m2.metric("On your image", f"{yours:.3g}")
        fig = go.Figure(go.Scatter(y=result.trace, mode="lines", line_color="#3b6fd8"))
        fig.update_layout(title="Objective at each step (under the random transforms)", xaxis_title="step",
                          height=260, margin=dict(l=10, r=10, t=40, b=40))
        st.plotly_chart(fig, width="stretch", key="fv_trace")


def _slug(objective: fv.Objective) -> str:
    return f"{objective.layer.name}-c{objective.index}" if objective.layer else f"class{objective.index}"
