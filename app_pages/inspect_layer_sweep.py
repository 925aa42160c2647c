"""The Inspect page's layer-sweep tab (not a page itself): one slider through the depth of
the net moves Grad-CAM, the strongest channel and its receptive field together. The sweep
is computed once on request, with a progress bar; the slider then only picks a result."""

import streamlit as st

from app_pages import page_helpers

from classifier.explain.layer_info import default_layer, default_layer_reason
from classifier.explain.layer_sweep import layer_sweep, sweep_figure, sweep_layers
from classifier.explain.render import png_bytes

MEMO, MEMO_ENTRIES = "inspect_sweep_memo", 4  # a sweep per (model, weights, image, class), the newest kept


def layer_sweep_view(model, key: tuple, layers: list, target: int, class_name: str, x, image) -> None:
    """The tab's widgets: ``key`` names the model, weights and image the results belong to,
    ``layers`` the model's explainable layers, ``target`` the page's class, ``x`` and
    ``image`` the preprocessed and the shown image."""
    st.markdown(
        "Which layer? Move through the depth of the net and watch three things change together: Grad-CAM of the "
        "class (left), the layer's strongest channel (middle) and that unit's receptive field (right, green box)."
    )
    st.caption(f"**Default layer.** {default_layer_reason(layers)}")
    picked = sweep_layers(layers)
    sweep_key = (*key, target, tuple(la.name for la in picked))
    if sweep_key not in st.session_state.get(MEMO, {}) and not st.button(
        f"Sweep {len(picked)} layers", key="sweep_run", type="primary"
    ):
        st.caption(f"One forward pass for the activations and one forward-backward pass for Grad-CAM per layer, "
                   f"for class {target} ({class_name}).")
        return

    def compute():
        bar = st.progress(0.0, text=f"Sweeping {len(picked)} layers…")
        out = layer_sweep(model, x, picked, target, progress=lambda done, total: bar.progress(
            done / total, text=f"Layer {done} of {total}: {picked[done - 1].name}"))
        bar.empty()
        return out

    steps = page_helpers.memo(MEMO, MEMO_ENTRIES, sweep_key, compute)
    names = [s.layer.name for s in steps]
    default = layers[default_layer(layers)].name
    chosen = st.select_slider("Layer (input → output)", names, value=default, key=f"sweep_layer_{key[0]}")
    step = steps[names.index(chosen)]
    opacity = st.slider("Grad-CAM opacity", 0.0, 1.0, 0.6, key="sweep_opacity")
    figure = sweep_figure(step, image, opacity)
    top, left, bottom, right = step.box
    field = f"{right - left}×{bottom - top} px" if step.layer.rf else "the whole image (global field)"
    cam = "Grad-CAM" if step.gradcam is not None else "no Grad-CAM here (it needs a spatial map larger than 1×1)"
    st.image(figure, caption=f"{step.layer.label} — {cam} | channel {step.channel}, strongest of "
             f"{step.layer.channels} (unit {step.unit} = {step.value:.3g}) | its receptive field: {field}",
             width="stretch")
    st.download_button("⬇ Layer sweep view (PNG)", png_bytes(figure), file_name=f"{key[0]}-sweep-{chosen}.png",
                       mime="image/png", key="dl_sweep", on_click="ignore")

