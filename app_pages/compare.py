"""Compare: how do two to four nets see the same image? Side by side (predictions,
feature maps lined up by stride, one attribution method, agreement), layer similarity
(linear CKA) and, for a training run, how a layer's features formed epoch by epoch.
Widgets and calls into classifier.compare, classifier.cka and classifier.feature_evolution."""

import hashlib
from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from app_pages import compare_robustness, page_helpers

from classifier import get_card, list_models
from classifier.cka import ACTIVATIONS, LAYER_SETS, similarity, similarity_figure
from classifier.compare import (
    LAST,
    METHODS,
    SOURCES,
    agreement,
    comparison_image,
    digit_set,
    explain,
    look,
    sample_set,
    stride_rows,
    uploaded_set,
)
from classifier.explain import explainable_layers
from classifier.explain.render import png_bytes
from classifier.feature_evolution import (describe_saved, epoch_figure, evolution_sheet, follow_features,
                                         runs_with_two_checkpoints, saved_epochs)
from classifier.images import FORMAT_NAMES, UPLOAD_EXTENSIONS, ImageError
from classifier.train import list_runs, open_run, runs_root
from classifier.weights import WeightsError, load_weights

MEMO_ENTRIES = 32
INPUT_WIDTH = 200  # on screen; 32×32 inputs are scaled up to it
# A CNN and a ViT, both with torchvision ImageNet weights: the pair the page is for.
DEFAULT_MODELS = ["resnet18", "vit_b_16", "densenet121", "mobilenet_v3_large"]
ACTIVATION_TYPES = {cls.__name__ for cls in ACTIVATIONS}

st.title("Compare")
st.caption("Two to four networks, one image: what each predicts, what its layers respond to at each resolution, "
           "which pixels its answer rests on, and how far the networks agree.")


# --- caches ----------------------------------------------------------------------------------


@st.cache_resource(show_spinner=False, max_entries=6)
def _loaded(name: str, source_key: str, _source):
    """One loaded model per (model, weights), shared by every session; the library locks
    a model while it explains, so sessions do not disturb each other."""
    return load_weights(name, _source)




def memo(key: tuple, compute, busy: str | None = None):
    return page_helpers.memo("compare_memo", MEMO_ENTRIES, key, compute, busy)


def image_set(prefix: str, default: str = "samples"):
    """A batch of images chosen by the user: (list of PIL images, key) or None."""
    c1, c2 = st.columns([2, 3])
    source = c1.radio("Images", list(SOURCES), index=list(SOURCES).index(default), format_func=SOURCES.get,
                      key=f"{prefix}_images")
    if source == "samples":
        c2.caption("The 6 sample images, each also mirrored and zoomed: 24 images.")
        return sample_set(), "samples"
    if source == "digits":
        count = c2.slider("How many digits", 8, 256, 64, step=8, key=f"{prefix}_count")
        return digit_set(count), f"digits:{count}"
    files = c2.file_uploader(f"Your images ({FORMAT_NAMES})", type=list(UPLOAD_EXTENSIONS), accept_multiple_files=True,
                             key=f"{prefix}_upload")
    if not files:
        st.info("Upload a few images (at least 3), or choose another set.")
        return None
    data = [(f.name, f.getvalue()) for f in files]
    try:
        images = uploaded_set(data)
    except ImageError as exc:
        st.error(str(exc))
        return None
    return images, "upload:" + hashlib.sha256(b"".join(d for _, d in data)).hexdigest()[:16]


# --- models and image --------------------------------------------------------------------------

names = list_models()
runs_dir = str(runs_root())
top_left, top_right = st.columns([1, 3])
count = top_left.radio("Models", [2, 3, 4], horizontal=True, key="compare_count")

choices = []  # (name, source_key, source, column label) per column
columns = st.columns(count)
for i, col in enumerate(columns):
    with col:
        default = DEFAULT_MODELS[i] if DEFAULT_MODELS[i] in names else names[i]
        name = st.selectbox(f"Model {i + 1}", names, index=names.index(default), key=f"compare_model_{i}",
                            bind="query-params", help=f"also settable in the address: ?compare_model_{i}=NAME")
        runs = page_helpers.run_checkpoints(runs_dir, name)
        labels = {**page_helpers.weight_options(name), **({"run": "Training run"} if runs else {}), "random": "Random"}
        options = list(labels)
        weights = st.selectbox("Weights", options, index=options.index(page_helpers.default_weights(options)),
                               format_func=labels.get, key=f"compare_weights_{i}_{name}",
                               help="the registry's trained weights for this model; one not yet cached "
                                    "downloads when chosen")
        if weights == "run":
            label = st.selectbox("Checkpoint", list(runs), index=len(runs) - 1, key=f"compare_ckpt_{i}_{name}")
            path = runs[label]
            if not Path(path).is_file():  # the run was deleted since the list was read
                page_helpers.run_checkpoints.clear()
                st.rerun()
            source, source_key = path, f"run:{path}:{Path(path).stat().st_mtime}"
            column_label = f"{name} ({label})"
        else:
            source = source_key = weights
            column_label = f"{name} ({'Random' if weights == 'random' else weights.split('/', 1)[1]})"
        choices.append((name, source_key, source, column_label))

with top_right:
    picture, image_key = page_helpers.pick_image("compare")


def load_models(bar, which: list[int]) -> list:
    """The chosen models in columns ``which``, each loaded once (downloads show their
    progress); None for a column whose weights failed, after saying why in that column."""
    loaded = []
    for n, i in enumerate(which, start=1):
        name, source_key, source, _ = choices[i]
        bar.progress((n - 1) / len(which), text=f"Loading {name} ({n} of {len(which)})…")
        try:
            page_helpers.fetch_weights(source, where=columns[i])
            loaded.append(_loaded(name, source_key, source))
        except WeightsError as exc:
            columns[i].error(f"{exc} The other columns go on without this one; choose Random for it meanwhile.")
            loaded.append(None)
    return loaded


tabs = dict(zip(["Side by side", "Layer similarity (CKA)", "Feature evolution"],
                st.tabs(["Side by side", "Layer similarity (CKA)", "Feature evolution"], key="compare_tab",
                        on_change="rerun")))

# --- side by side ------------------------------------------------------------------------------

with tabs["Side by side"]:
    if tabs["Side by side"].open:
        c1, c2 = st.columns([2, 3])
        method = c1.selectbox("Attribution method (each model explains its own top-1 class)", list(METHODS),
                              format_func=METHODS.get, key="compare_method")
        k = c2.slider("Strongest channels shown per stage", 2, 16, 8, step=2, key="compare_channels")
        bar = st.progress(0.0, text="Loading the models…")
        loaded = load_models(bar, list(range(count)))
        # a column whose weights failed says so above and drops out; the others go on
        shown = [(choice, model) for choice, model in zip(choices, loaded) if model is not None]
        if not shown:
            bar.empty()
            st.stop()
        views, explanations = [], []
        steps = 2 * len(shown)
        for n, ((name, source_key, _, label), model) in enumerate(shown):
            bar.progress(n / steps, text=f"Running the image through {name}…")
            label = f"{n + 1}. {label}"
            views.append(memo(("look", name, source_key, image_key, label), lambda: look(model, picture, label=label)))
        for n, (((name, source_key, _, _), _), view) in enumerate(zip(shown, views)):
            bar.progress((len(shown) + n) / steps, text=f"{METHODS[method]} for {name}…")
            explanations.append(memo(("explain", name, source_key, image_key, method), lambda: explain(view, method)))
        bar.empty()

        cols = st.columns(len(views))
        for col, view in zip(cols, views):
            with col:
                st.markdown(f"#### {view.label}")
                st.caption(view.loaded.description)
                h, w = view.image.shape[:2]
                st.image(view.image, caption=f"What it sees ({h}×{w})", width=INPUT_WIDTH)
        cols = st.columns(len(views))
        for i, (col, view) in enumerate(zip(cols, views)):
            top5 = view.predictions
            fig = go.Figure(go.Bar(
                x=[100 * p.probability for p in top5][::-1], y=[f"{p.label} ({p.index})" for p in top5][::-1],
                orientation="h", text=[f"{100 * p.probability:.1f}%" for p in top5][::-1], textposition="auto",
                marker_color="#3b6fd8",
            ))
            fig.update_layout(title="Top-5", xaxis_title="probability (%)", height=260, margin=dict(l=10, r=10, t=40, b=40))
            col.plotly_chart(fig, width="stretch", key=f"compare_top5_{i}")

        st.subheader("Feature maps by stride")
        st.caption("Each row holds the stage whose units step the same number of input pixels, so the rows line "
                   "the networks up by resolution. In each picture: the mean over all channels (large, left) and "
                   "the strongest channels (right, strongest first, one colour scale).")
        for row in stride_rows(views):
            st.markdown("**Last map before the classifier**" if row == LAST else f"**Stride {row}**")
            cols = st.columns(len(views))
            for col, view in zip(cols, views):
                stage = view.stage(row)
                if stage is None:
                    col.caption("— no stage at this stride")
                else:
                    col.image(stage.figure(k), caption=stage.describe(), width="stretch")

        st.subheader(METHODS[method])
        cols = st.columns(len(views))
        for col, view, e in zip(cols, views, explanations):
            col.image(e.picture, caption=f"class {view.top1.label!r} ({e.target}), {e.note}", width="stretch")

        if len(views) < 2:
            st.stop()
        st.subheader("Agreement")
        agree = agreement(views, explanations)
        rows = []
        for i, j in agree.pairs():
            same = agree.same_top1[i][j]
            rho = agree.rank_correlation[i, j]
            rows.append({
                "models": f"{views[i].label} / {views[j].label}",
                "top-1": "agree" if same else "differ" if same is False else "different class lists",
                "attribution rank correlation (Spearman)": "— (a flat map)" if rho != rho else f"{rho:+.2f}",
            })
        st.table(rows)
        st.caption("Rank correlation of the attribution maps over the part of the picture every model saw: +1 when "
                   "they order the pixels the same way, 0 when unrelated, −1 when reversed.")
        st.download_button(
            "⬇ Comparison (PNG)", data=lambda: png_bytes(comparison_image(views, explanations, agree, k)),
            file_name=f"compare-{'-'.join(v.loaded.name for v in views)}.png", mime="image/png",
            on_click="ignore", key="compare_png",
        )
        compare_robustness.section(views, (*(choice[:2] for choice, _ in shown), image_key), memo)

# --- layer similarity ------------------------------------------------------------------------

with tabs["Layer similarity (CKA)"]:
    if tabs["Layer similarity (CKA)"].open:
        st.markdown("Linear CKA (Kornblith et al. 2019) between every pair of layers, over a batch of images: "
                    "1 where two layers represent the images alike, up to rotation and scale; near 0 where "
                    "they share nothing.")
        runs = list_runs()
        pair = st.radio("Compare", ["models", "run"], horizontal=True, key="cka_pair", format_func={
            "models": "Two of the models above", "run": "One training run at two checkpoints"}.get)
        c1, c2, c3 = st.columns(3)
        kind = c3.selectbox("Layers", list(LAYER_SETS), format_func=LAYER_SETS.get, key="cka_layers")
        if pair == "models":
            labels = [c[3] for c in choices]
            a = c1.selectbox("Model A", range(count), format_func=lambda i: f"{i + 1}. {labels[i]}", key="cka_a")
            b = c2.selectbox("Model B", range(count), index=1, format_func=lambda i: f"{i + 1}. {labels[i]}", key="cka_b")
            bar = st.progress(0.0, text="Loading the models…")
            model_a, model_b = load_models(bar, [a, b])
            bar.empty()
            if model_a is None or model_b is None:
                st.stop()
            keys = (choices[a][:2], choices[b][:2])
            titles = (f"A: {labels[a]}", f"B: {labels[b]}")
        else:
            # only runs with two saved epochs: one checkpoint against itself is a trivial 1.000
            runs = runs_with_two_checkpoints(runs)
            if not runs:
                st.info("No training run has two saved checkpoints yet: start one on the Train page with "
                        "“Keep every epoch's weights” and at least two epochs.")
                st.stop()
            run = c1.selectbox("Run", [r.run_id for r in runs], key="cka_run")
            saved = saved_epochs(open_run(run))
            labels = [s.label for s in saved]
            ea = c2.selectbox("Checkpoint A", range(len(saved)), format_func=labels.__getitem__, key=f"cka_ea_{run}")
            eb = c2.selectbox("Checkpoint B", range(len(saved)), index=len(saved) - 1, format_func=labels.__getitem__,
                              key=f"cka_eb_{run}")
            model_name = open_run(run).read_config().model
            keys = tuple((model_name, f"run:{saved[e].path}:{saved[e].path.stat().st_mtime}") for e in (ea, eb))
            with st.spinner("Loading the checkpoints…"):
                model_a = _loaded(*keys[0], str(saved[ea].path))
                model_b = _loaded(*keys[1], str(saved[eb].path))
            titles = (f"A: {labels[ea]}", f"B: {labels[eb]}")
        chosen = image_set("cka")
        if chosen is not None:
            images, images_key = chosen
            try:
                sim = memo(("cka", keys, kind, images_key),
                           lambda: similarity(model_a, model_b, images, kind),
                           f"Running {len(images)} images through both networks…")
            except ValueError as exc:
                st.error(str(exc))
                st.stop()
            st.plotly_chart(similarity_figure(sim, *titles), key="cka_heatmap")
            fallback = [t for t, used in zip(titles, sim.kinds) if used != kind]
            if fallback:
                st.caption(f"{' and '.join(fallback)} has no repeated blocks, so its activations are used.")
            diag = sim.diagonal()
            if diag is not None:
                st.metric("CKA of each layer with itself in the other (mean)", f"{diag.mean():.3f}")

# --- feature evolution -----------------------------------------------------------------------

with tabs["Feature evolution"]:
    if tabs["Feature evolution"].open:
        st.markdown("ZFNet's Figure 4 for your own run: the same channels of one layer at every saved epoch, each "
                    "shown by its strongest activation over a set of images, projected back to pixels by the "
                    "deconvnet. The channels followed are the layer's strongest at the last saved epoch.")
        runs = list_runs()
        if not runs:
            st.info("No training runs yet: start one on the Train page, then come back to watch its features form.")
            st.stop()
        c1, c2, c3 = st.columns([2, 3, 1])
        run_id = c1.selectbox("Run", [r.run_id for r in runs], key="evo_run")
        run = open_run(run_id)
        config = run.read_config()
        saved = saved_epochs(run)
        if not saved:
            st.info("This run has saved no checkpoint yet.")
            st.stop()
        st.caption(describe_saved(run, saved))
        card = get_card(config.model)
        maps = [layer for layer in explainable_layers(config.model, card.input_size) if layer.grid != (1, 1)]
        # ZFNet shows rectified feature maps: the activation layers, where the net has them
        layers = [layer for layer in maps if layer.type in ACTIVATION_TYPES] or maps
        layer_names = [layer.name for layer in layers]
        layer = c2.selectbox("Layer", layer_names, index=len(layer_names) // 2, key=f"evo_layer_{config.model}")
        k = c3.slider("Channels", 1, 12, 6, key="evo_k")
        chosen = image_set("evo", default="digits" if config.dataset == "digits" else "samples")
        if chosen is not None:
            images, images_key = chosen
            stamp = tuple((str(s.path), s.path.stat().st_mtime) for s in saved)

            def compute():
                bar = st.progress(0.0, text=f"Following {k} channels of {layer} through {len(saved)} checkpoints…")
                out = follow_features(config.model, saved, layer, images, k, progress=lambda done, total: bar.progress(
                    done / total, text=f"Projected epoch {done} of {total}"))
                bar.empty()
                return out

            evo = memo(("evo", run_id, stamp, layer, k, images_key), compute)
            epoch_labels = [s.label for s in evo.epochs]
            shown = st.select_slider("Epoch", epoch_labels, value=epoch_labels[-1], key=f"evo_epoch_{run_id}")
            index = epoch_labels.index(shown)
            st.image(epoch_figure(evo, index), caption=f"{shown}: for channels {', '.join(map(str, evo.channels))} "
                     f"of {layer} — the channel's map on the image where it peaks, the deconvnet projection of that "
                     "peak, and the image patch under it", width="stretch")
            sheet = evolution_sheet(evo)
            st.image(sheet, caption="Every saved epoch (rows) × the followed channels (columns)")
            st.download_button("⬇ Feature evolution (PNG)", png_bytes(sheet), file_name=f"{run_id}-{layer}-evolution.png",
                               mime="image/png", on_click="ignore", key="evo_png")
