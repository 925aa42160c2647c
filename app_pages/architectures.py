"""Architectures: pick a network, read its card, and look at its layers, graph and
receptive fields. Everything here is shape-only work on the meta device."""

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from app_pages import page_helpers
from classifier import get_card, list_families, list_models
from classifier.analysis import analyze
from classifier.analysis.scaling import efficientnet_at_phi
from classifier.analysis.zoo import LINES, zoo_overview
from classifier.lineage import INCEPTION_LINEAGE
from classifier.models.nas_cells import GENOTYPES, cell_dot
from classifier.explorer_format import human_count, layer_table, rf_text
from classifier.weights import weights_summary

st.title("Architectures")
MACS_HELP = ("multiply–accumulates (1 MAC = 2 FLOPs) of every convolution, linear layer and matrix product, "
             "attention's query·key and attention·value products included")

families = list_families()
family_names = [f.name for f in families]
left, right, size_col = st.columns([2, 2, 1])
family_name = left.selectbox(
    "Family",
    family_names,
    format_func=lambda n: f"{n} ({next(f.year for f in families if f.name == n)})",
    key="arch_family",
)
names = list_models(family=family_name)
# the full-size (ImageNet) variant first: the network as its paper describes it
first = next((i for i, n in enumerate(names) if not get_card(n).small_input), 0)
name = right.selectbox("Variant", names, index=first, format_func=lambda n: f"{get_card(n).variant}  ·  {n}",
                       key="arch_model")
card = get_card(name)
c, h, w = card.input_size
side = size_col.number_input("Input side (px)", min_value=16, max_value=1024, value=h, step=16, key=f"arch_side_{name}")


@st.cache_data(show_spinner=False, max_entries=64)
def _analysis(model_name: str, input_size: tuple[int, int, int]):
    return analyze(model_name, input_size=input_size)


try:
    with st.spinner(f"Tracing {name} at {side}×{side} on the meta device…"):  # seconds for deep nets or large sides
        a = _analysis(name, (c, int(side), int(side)))
except Exception as exc:  # a too-small input for this net is a user choice, not a crash
    st.error(f"{card.variant} cannot run at {side}×{side}: {exc}. Try a larger input side.")
    st.stop()

st.subheader(f"{card.family.name}: {card.variant} ({card.year})")
paper = f"[{card.paper}]({card.link})" if card.link else card.paper
st.markdown(f"**Paper:** {paper}" + (f" — {card.family.authors}" if card.family.authors else ""))
st.markdown("\n".join(f"- {idea}" for idea in card.family.ideas))
if card.notes:
    st.caption(card.notes)
st.caption(weights_summary(name))

m1, m2, m3, m4, m5 = st.columns(5)
delta = None
if card.paper_params:
    delta = f"paper: {human_count(card.paper_params)}"
m1.metric("Parameters", human_count(a.params), delta=delta, delta_color="off", delta_arrow="off", help=card.params_source or None)
m2.metric("MACs", human_count(a.macs), help=MACS_HELP + f", for one {c}×{side}×{side} image")
m3.metric("Depth", a.depth, help="convolution and linear layers on the longest path")
if a.global_from:  # attention: one truth with Inspect, where every encoder unit sees the whole image
    m4.metric("Receptive field", "global", delta=f"patches {rf_text(a.final_rf)} px, stride {rf_text(a.final_stride)}",
              delta_color="off", delta_arrow="off",
              help=f"the patch embedding sees {rf_text(a.final_rf)} px; from {a.global_from} on, attention lets every "
                   "token see every other, so each unit's field is the whole image")
else:
    m4.metric("Receptive field", f"{rf_text(a.final_rf)} px" if a.final_rf else "global",
              delta=f"stride {rf_text(a.final_stride)}" if a.final_stride else None,
              delta_color="off", delta_arrow="off", help="of the last spatial feature map, in input pixels")
m5.metric("Input", f"{c}×{side}×{side}", delta=f"torchvision: {card.torchvision}" if card.torchvision else None,
          delta_color="off", delta_arrow="off")

lineage_models = {step.model for step in INCEPTION_LINEAGE}
extras = [
    label
    for label, applies in (
        ("Inception lineage", name in lineage_models),
        ("Compound scaling", card.family.name == "EfficientNet"),
        ("Searched cells", name in GENOTYPES),
    )
    if applies
]
table_tab, graph_tab, rf_tab, block_tab, zoo_tab, *extra_tabs = st.tabs(
    ["Layer table", "Layer graph", "Receptive fields", "Building block", "Zoo overview", *extras]
)
extra = dict(zip(extras, extra_tabs))

with table_tab:
    functional = st.toggle("Show functional operations", key="arch_functional",
                           help="also list function and method calls (add, view, flatten, …) between the modules")
    rows = pd.DataFrame(layer_table(a.rows, functional=functional))
    counts = st.column_config.NumberColumn(format="localized")
    macs = st.column_config.NumberColumn("MACs (multiply–accumulates)", format="localized", help=MACS_HELP)
    st.dataframe(rows, hide_index=True, width="stretch", height=420, column_config={"params": counts, "MACs": macs})
    st.caption(f"{len(rows)} rows · totals: {a.params:,} parameters, {a.macs:,} MACs")

with graph_tab:
    # open on the depth of the card's building block, where repeated blocks fold
    start = min(len(card.block.split(".")) if card.block else 2, a.graph.max_depth)
    depth_col, fold_col = st.columns([2, 3])
    depth = depth_col.slider("Module depth", 1, a.graph.max_depth, start, key=f"graph_depth_{name}",
                             help="1 shows the top-level modules; the maximum shows every operation")
    folds = a.graph.view(depth, fold=True).nodes
    folds = {n.key: f"{n.title} ({n.label})" for n in folds if n.count > 1}
    unfold = fold_col.multiselect("Unfold repeated blocks", list(folds), format_func=folds.get,
                                  key=f"graph_unfold_{name}_{depth}", disabled=not folds,
                                  help="runs of sibling blocks of one class and output shape are drawn as one box, "
                                       "“Bottleneck ×6”; pick one to draw its blocks one by one")
    st.graphviz_chart(a.graph.to_dot(depth, fold=True, unfold=frozenset(unfold)))
    st.caption("Each arrow carries the shape of the tensor it moves (channels × height × width, no batch axis).")

with rf_tab:
    prof = pd.DataFrame(a.rf_profile)
    for col in ("rf", "stride"):  # factorised kernels give (H, W) pairs: plot the larger
        prof[col] = prof[col].map(lambda v: max(v) if isinstance(v, tuple) else v)
    stride_ticks = [2 ** k for k in range(max(1, int(prof["stride"].max())).bit_length())]
    fig = go.Figure()
    fig.add_scatter(x=prof.index, y=prof["rf"], name="receptive field (px)", mode="lines+markers", hovertext=prof["name"])
    fig.add_scatter(x=prof.index, y=prof["stride"], name="effective stride", mode="lines", yaxis="y2", hovertext=prof["name"])
    fig.update_layout(
        xaxis_title="spatial layer (in execution order)",
        yaxis=dict(title="receptive field (px)"),
        # powers of two, as strides come: plotly's own log ticks (1, 2, 5 …) crowd and clip
        yaxis2=dict(title="effective stride", overlaying="y", side="right", type="log", tickvals=stride_ticks,
                    ticktext=[str(t) for t in stride_ticks], automargin=True),
        legend=dict(orientation="h", y=1.1),
        height=420,
        margin=dict(t=40, b=40),
    )
    st.plotly_chart(fig, width="stretch")
    st.caption("Theoretical receptive field: how many input pixels can reach one unit of each layer. "
               "Where branches merge, the largest field counts.")

with block_tab:
    if card.block:
        st.markdown(f"One building block, `{card.block}`, drawn operation by operation:")
        st.graphviz_chart(a.graph.subgraph_dot(card.block))
    else:
        st.info(f"{card.variant} has no repeated building block: its graph tab shows the whole network.")

with zoo_tab:
    st.markdown("Every registered model at its own input size: year against MACs, bubble size by parameters.")
    if st.toggle("Compute the whole zoo", key="zoo_on", help="builds every model on the meta device once; cached afterwards"):
        if page_helpers.job_cancelled("zoo", "The zoo overview"):
            st.stop()
        with page_helpers.job_progress("zoo", "Analysing the zoo…") as update:
            table = pd.DataFrame(zoo_overview(progress=lambda done, total, n: update(done / total, f"{n} ({done}/{total})")))
        fig = px.scatter(table, x="year", y="macs", size="params", color="line", hover_name="name", log_y=True,
                         hover_data=["family", "variant", "input"], size_max=45, category_orders={"line": list(LINES)},
                         color_discrete_sequence=px.colors.qualitative.Bold,
                         labels={"macs": "MACs (multiply–accumulates)", "year": "year", "line": "line of work"})
        # LeNet's 60k parameters against VGG's 138M would draw a bubble too small to see
        fig.update_traces(marker=dict(sizemin=5, line=dict(width=0.5, color="white")))
        fig.update_layout(height=560, margin=dict(t=20), legend=dict(orientation="h", y=-0.15))
        st.plotly_chart(fig, width="stretch")

if "Inception lineage" in extra:
    with extra["Inception lineage"]:
        st.markdown("Step through the Inception line: one module of each version, drawn from its traced graph.")
        titles = [step.title for step in INCEPTION_LINEAGE]
        default = next(i for i, step in enumerate(INCEPTION_LINEAGE) if step.model == name)
        chosen = st.select_slider("Version", titles, value=titles[default], key="lineage_step")
        step = INCEPTION_LINEAGE[titles.index(chosen)]
        if titles.index(chosen):
            st.markdown(f"**What changed:** {step.change}")
        else:
            st.markdown(f"**The start:** {step.change}")
        step_card = get_card(step.model)
        st.caption(f"`{step.model}` · block `{step.block}`")
        st.graphviz_chart(_analysis(step.model, step_card.input_size).graph.subgraph_dot(step.block))

if "Compound scaling" in extra:
    with extra["Compound scaling"]:
        st.markdown("EfficientNet scales depth by α^φ, width by β^φ and resolution by γ^φ "
                    "(α=1.2, β=1.1, γ=1.15, chosen so each step of φ roughly doubles the MACs).")
        phi = st.slider("φ", 0.0, 7.0, 1.0, 0.5, key="effnet_phi")
        with st.spinner("building the scaled net on the meta device…"):
            now = efficientnet_at_phi(phi)
        cols = st.columns(5)
        cols[0].metric("Depth ×", f"{now['depth_mult']:.2f}", help=f"{now['depth']} weighted layers on the longest path")
        cols[1].metric("Width ×", f"{now['width_mult']:.2f}")
        cols[2].metric("Resolution", f"{now['resolution']} px")
        cols[3].metric("Parameters", human_count(now["params"]))
        cols[4].metric("MACs", human_count(now["macs"]))
        if st.toggle("Draw parameters and MACs for φ = 0 … 7", key="effnet_curve"):
            bar = st.progress(0.0, text="scaling…")
            rows = []
            for p in range(8):
                rows.append(efficientnet_at_phi(float(p)))
                bar.progress((p + 1) / 8, text=f"φ = {p}")
            bar.empty()
            fig = px.line(pd.DataFrame(rows), x="phi", y=["params", "macs"], log_y=True, markers=True,
                          labels={"value": "count", "phi": "φ"})
            fig.add_vline(x=phi, line_dash="dot")
            fig.update_layout(height=360)
            st.plotly_chart(fig, width="stretch")

if "Searched cells" in extra:
    with extra["Searched cells"]:
        st.markdown("The cells this net stacks, drawn from its genotype: each node sums two operations on earlier "
                    "states; the cell outputs the concatenation of the dashed nodes.")
        cols = st.columns(2)
        cols[0].graphviz_chart(cell_dot(GENOTYPES[name], "normal"), width="stretch")
        cols[1].graphviz_chart(cell_dot(GENOTYPES[name], "reduce"), width="stretch")
