"""Inspect's "Sanity checks" tab: can the attribution maps of this model be trusted on this
image? Widgets and calls into classifier.explain.sanity only; every check is an explicit
job (a Run button, a progress bar), kept per session once computed."""

import numpy as np
import streamlit as st

from app_pages import page_helpers
from classifier.explain import LAYER_METHODS, find_layer, gradcam_layers, uses_relu
from classifier.explain import sanity_figures as sf
from classifier.explain.render import png_bytes
from classifier.explain.sanity import (
    BASELINES,
    SANITY_METHODS,
    cascade_steps,
    cascading_randomisation,
    data_randomisation,
    fidelity,
    importance,
    parameter_modules,
    perturbation_curves,
    shuffled_label_runs,
)
from classifier.weights import WeightsError, load_weights

CHECKS = {
    "cascade": "Model randomisation",
    "data": "Data randomisation",
    "curves": "Deletion and insertion",
    "fidelity": "Infidelity and sensitivity",
}
STORE, STORE_ENTRIES = "inspect_sanity", 4  # a cascade keeps its maps: a few MB at 224 px


def sanity_checks(model, x, target: int, class_names: list[str], layers, name: str, key: tuple) -> None:
    """The tab's contents for ``model`` on the preprocessed ``x``; ``key`` is what the
    page's results depend on (model, weights, image)."""
    st.markdown(
        "Does a map explain **this model**, or only the image? Adebayo et al. (2018, *Sanity Checks for "
        "Saliency Maps*): a map that stays the same when the weights are re-randomised, or when the net was "
        "trained on shuffled labels, cannot be explaining what the net learnt. Does it point at the pixels "
        "the **decision** depends on? Deletion and insertion curves (Petsiuk et al. 2018) and captum's "
        "infidelity and sensitivity (Yeh et al. 2019) measure that, so the methods can be ranked on your image."
    )
    spatial = [layer.name for layer in gradcam_layers(layers)]
    labels = {layer.name: layer.label for layer in layers}
    offered = [m for m in SANITY_METHODS if m not in LAYER_METHODS or spatial]
    c1, c2 = st.columns([3, 2])
    methods = c1.multiselect("Methods", offered, default=offered, format_func=SANITY_METHODS.get, key="sanity_methods")
    layer = None
    if any(m in LAYER_METHODS for m in methods):
        layer_name = c2.selectbox("Layer (Grad-CAM)", spatial, index=len(spatial) - 1, format_func=labels.get,
                                  key=f"sanity_layer_{name}")
        layer = find_layer(layers, layer_name)
    if not methods:
        st.info("Choose at least one method.")
        return
    if not uses_relu(layers) and {"guided", "deconv"} & set(methods):
        st.caption("This net has no ReLU: guided backprop and the deconvnet are its plain gradient here, so their "
                   "results equal the saliency's.")
    check = st.radio("Check", list(CHECKS), format_func=CHECKS.get, horizontal=True, key="sanity_check")
    common = (*key, target, tuple(methods), layer.name if layer else None)
    label = f"class {target} ({class_names[target]})"

    def run(what: str, job_key: tuple, compute, cost: str):
        """The stored result of ``job_key``, computed when the Run button is pressed."""
        clicked = st.button(f"Run: {CHECKS[what].lower()}", key=f"sanity_run_{what}", type="primary")
        st.caption(cost)
        if clicked:
            bar = st.progress(0.0, text=f"{CHECKS[what]}…")

            def progress(done: int, total: int) -> None:
                bar.progress(done / total, text=f"{CHECKS[what]}: {done} of {total}")

            try:
                page_helpers.memo(STORE, STORE_ENTRIES, job_key, lambda: compute(progress))
            finally:
                bar.empty()
        result = st.session_state.get(STORE, {}).get(job_key)
        if result is None:
            st.info(f"Press **Run** to compute the {CHECKS[what].lower()} check for {label}.")
        return result

    def download_csv(title: str, table, file_name: str) -> None:
        st.download_button(f"⬇ {title} (CSV)", table.to_csv(index=False).encode(), file_name=file_name,
                           mime="text/csv", key=f"dl_{file_name}", on_click="ignore")

    def download_png(title: str, image: np.ndarray, file_name: str) -> None:
        st.download_button(f"⬇ {title} (PNG)", png_bytes(image), file_name=file_name, mime="image/png",
                           key=f"dl_{file_name}", on_click="ignore")

    if check == "cascade":
        steps = page_helpers.memo(STORE + "_steps", 4, key, lambda: cascade_steps(parameter_modules(model, x)))
        cascade = run(
            "cascade", ("cascade", *common),
            lambda progress: cascading_randomisation(model, x, target, methods, layer, progress=progress),
            f"{len(steps)} steps, from {steps[0].label} down to {steps[-1].label}: the weights of one more block "
            f"re-initialised at each (PyTorch's initialisation), on a copy of the model — "
            f"{(len(steps) + 1) * len(methods)} maps in all.",
        )
        if cascade is not None:
            st.plotly_chart(sf.cascade_figure(cascade), width="stretch", key="sanity_cascade_chart")
            st.caption(
                "Spearman rank correlation of the absolute maps with the original map of "
                f"{label}. A trustworthy method falls towards 0 as the net is randomised; one that stays high draws "
                "the image, not the model. A gap: the map became constant (a randomised Grad-CAM is often all zero). "
                "The chart's camera icon saves it as a PNG."
            )
            download_csv("Correlations", sf.cascade_table(cascade), f"{name}-cascading-randomisation.csv")
            sheet = sf.map_sheet([cascade.maps[m] for m in methods])
            st.image(sheet, caption="The maps themselves: one row per method ("
                     + ", ".join(SANITY_METHODS[m] for m in methods) + "); the original first, then after each step; "
                     "each tile scaled to its own range", width="stretch")
            download_png("Randomised maps", sheet, f"{name}-cascading-randomisation.png")
            st.markdown("**Original map against the image's edges** (Spearman with a Sobel edge map; a map "
                        "close to 1 is close to an edge detector):")
            st.dataframe(sf.edges_table(cascade).round(3), hide_index=True)

    elif check == "data":
        runs = shuffled_label_runs(name)
        if not runs:
            st.info(
                f"No training run of {name} on shuffled labels yet. Start one on the **Train** page with the dataset "
                "*Digits, training labels shuffled*, or from a terminal: "
                f"`python -m classifier train --model {name} --dataset digits_shuffled --epochs 30`. Memorising "
                "labels that mean nothing takes more epochs than learning real ones: train until its training loss "
                "is low. Then compare here with weights trained on the real digits (a run on *Digits*)."
            )
            return
        run_id = st.selectbox("Run trained on shuffled labels", list(runs), key=f"sanity_shuffled_{name}")
        path = runs[run_id]
        if str(path) in str(key[1]):
            st.warning("The weights chosen above are this shuffled-label run itself: choose the run on the real "
                       "labels as the weights to compare it with.")
        try:
            shuffled = page_helpers.memo(STORE + "_runs", 2, (str(path), path.stat().st_mtime),
                                         lambda: load_weights(name, str(path)))
        except WeightsError as exc:
            st.error(str(exc))
            return
        if tuple(shuffled.input_size) != tuple(x.shape[1:]):
            st.error(f"The shuffled-label run sees {tuple(shuffled.input_size)} inputs, these weights "
                     f"{tuple(x.shape[1:])}: the maps cannot be compared pixel for pixel.")
            return
        compared = run(
            "data", ("data", *common, str(path)),
            lambda progress: data_randomisation(model, shuffled.model, x, target, methods, layer, progress=progress),
            f"Each method's map of {label} for these weights and for run {run_id} (same image, same preprocessing).",
        )
        if compared is not None:
            table = sf.data_table(compared)
            st.dataframe(table.round(3), hide_index=True)
            st.caption("Near 1: the map is the same whether the net learnt the classes or memorised noise — it "
                       "does not depend on what was learnt.")
            download_csv("Correlations", table, f"{name}-data-randomisation.csv")
            sheet = sf.map_sheet([[a, b] for a, b, _ in compared.values()], tile=96)
            st.image(sheet, caption="Per method (rows as in the table): left these weights, right the "
                     "shuffled-label run", width=320)
            download_png("Maps", sheet, f"{name}-data-randomisation.png")

    elif check == "curves":
        c1, c2 = st.columns(2)
        baseline = c1.radio("Removed pixels become", list(BASELINES), format_func=BASELINES.get,
                            key="sanity_baseline")
        steps = c2.slider("Steps", 8, 64, 32, step=8, key="sanity_curve_steps")

        def compute(progress):
            total = 3 * len(methods) + 2  # the maps, then a deletion and an insertion curve per map and for chance
            maps = {}
            for n, m in enumerate(methods, start=1):
                maps[m] = importance(model, x, m, target, layer)
                progress(n, total)
            return perturbation_curves(model, x, target, maps, steps=steps, baseline=baseline,
                                       progress=lambda done, _: progress(len(methods) + done, total))

        curves = run(
            "curves", ("curves", *common, baseline, steps), compute,
            f"Pixels removed (deletion) or put back into the baseline (insertion) in order of each map's strength, "
            f"{steps} steps: {2 * (len(methods) + 1) * (steps + 1)} images in batches of 16, plus "
            f"{len(methods)} maps. A random order is the reference a map must beat.",
        )
        if curves is not None:
            left, right = st.columns(2)
            left.plotly_chart(sf.curves_figure(curves, "deletion"), width="stretch", key="sanity_deletion_chart")
            right.plotly_chart(sf.curves_figure(curves, "insertion"), width="stretch", key="sanity_insertion_chart")
            st.dataframe(sf.curves_table(curves).round(4), hide_index=True)
            st.caption(f"Areas under the curves of {label}; best first by insertion − deletion. The charts' camera "
                       "icons save them as PNGs.")
            download_csv("Curves", sf.curves_csv(curves), f"{name}-deletion-insertion.csv")

    else:
        samples = st.slider("Perturbations per method", 2, 16, 4, key="sanity_samples")

        def compute(progress):
            scores = {}
            for n, m in enumerate(methods, start=1):
                scores[m] = fidelity(model, x, target, m, layer, samples=samples)
                progress(n, len(methods))
            return scores

        scores = run(
            "fidelity", ("fidelity", *common, samples), compute,
            f"captum.metrics on the logit of {label}: infidelity with {samples} Gaussian perturbations (σ = 0.1) "
            f"and max-sensitivity within a radius of 0.02 — {samples + 1} maps per method.",
        )
        if scores is not None:
            table = sf.fidelity_table(scores)
            st.dataframe(table, hide_index=True)
            st.caption("Infidelity: how badly the map, taken as a linear model, predicts the logit's change under "
                       "noise (after the best rescaling). Max-sensitivity: the largest relative change of the map when "
                       "the input moves by up to 0.02. A map that never changes (0) ignores the input.")
            download_csv("Scores", table, f"{name}-infidelity-sensitivity.csv")
