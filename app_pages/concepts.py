"""Concepts: the ideas behind the architectures, each with a live experiment."""

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
import torch

from app_pages import page_helpers
from classifier.concepts import activations, efficient_conv, ensemble, evolution, label_smoothing, normalization, regularization
from classifier.concepts.conv_arithmetic import ConvSpec, transposed_out_size
from classifier.explorer_format import human_count
from classifier.models.nas_cells import cell_dot

st.title("Concepts")
SECTIONS = [
    "Activation functions", "Convolution arithmetic", "Normalisation", "Dropout and DropPath",
    "Efficient convolutions", "Label smoothing", "ResNet as an ensemble", "Architecture search",
]
section = st.radio("Idea", SECTIONS, horizontal=True, key="concept", label_visibility="collapsed")
st.header(section)


# one colour per activation function, the same in every chart of the section
ACTIVATION_COLOURS = dict(zip(activations.ACTIVATIONS, px.colors.qualitative.Plotly))


def heatmap(z, title: str, **kw) -> go.Figure:
    fig = px.imshow(z, color_continuous_scale=kw.pop("scale", "Blues"), aspect="equal", **kw)
    fig.update_layout(title=title, height=kw.get("height", 320), margin=dict(t=40, b=10, l=10, r=10))
    return fig


if section == "Activation functions":
    st.markdown(
        "An activation makes a stack of linear layers non-linear. Its **derivative** decides how gradients "
        "travel backwards: sigmoid's is at most ¼ and vanishes for large inputs, ReLU's is exactly 1 or 0, "
        "and the smooth modern ones (GELU, SiLU, Hard-swish) sit in between."
    )
    chosen = st.multiselect("Functions", list(activations.ACTIVATIONS), default=["sigmoid", "tanh", "ReLU", "GELU"], key="act_pick")
    cols = st.columns(2)
    for col, key, title in ((cols[0], "y", "f(x)"), (cols[1], "dy", "f′(x)")):
        fig = go.Figure()
        for name in chosen:
            c = activations.curve(name)
            fig.add_scatter(x=c["x"], y=c[key], name=name, mode="lines", line=dict(color=ACTIVATION_COLOURS[name]))
        fig.update_layout(title=title, height=340, margin=dict(t=40, b=10))
        col.plotly_chart(fig, width="stretch")
    st.subheader("Gradients through a deep stack")
    st.markdown("A randomly initialised stack of Linear+activation layers, one backward pass. "
                "Shift every bias negative to watch ReLU units die: they output zero for every input, so no gradient reaches them.")
    a, b, c = st.columns(3)
    depth = a.slider("Depth", 2, 50, 20, key="act_depth")
    shift = b.slider("Bias shift", -2.0, 2.0, 0.0, 0.1, key="act_shift")
    stack_acts = c.multiselect("Compare", list(activations.ACTIVATIONS), default=["sigmoid", "ReLU", "tanh"], key="act_stack")
    grad_fig, dead_fig = go.Figure(), go.Figure()
    for name in stack_acts:
        rep = activations.gradient_through_stack(name, depth=depth, bias_shift=shift)
        style = dict(name=name, mode="lines+markers", line=dict(color=ACTIVATION_COLOURS[name]))
        grad_fig.add_scatter(x=list(range(1, depth + 1)), y=rep.grad_norm, **style)
        dead_fig.add_scatter(x=list(range(1, depth + 1)), y=rep.dead_fraction, **style)
    grad_fig.update_layout(title="gradient norm at each layer's weights", xaxis_title="layer", height=360,
                           yaxis=dict(type="log", exponentformat="power", nticks=8, title="gradient norm"))
    dead_fig.update_layout(title="dead units: zero derivative for every example", xaxis_title="layer", height=360,
                           yaxis=dict(range=[0, 1.05], tickformat=".0%", title="share of the layer's units"))
    cols = st.columns(2)
    cols[0].plotly_chart(grad_fig, width="stretch")
    cols[1].plotly_chart(dead_fig, width="stretch")

elif section == "Convolution arithmetic":
    st.markdown("A convolution slides a k×k window with a stride over the padded input. Dilation spreads the taps, "
                "groups split the channels. A **transposed convolution** (ZFNet's 'deconvolution') maps the output "
                "shape back to the input shape — it is how the deconvnet projects activations to pixels.")
    cols = st.columns(4)
    size = cols[0].number_input("Input side", 1, 512, 7, key="ca_size")
    k = cols[1].number_input("Kernel", 1, 11, 3, key="ca_k")
    s = cols[2].number_input("Stride", 1, 8, 2, key="ca_s")
    p = cols[3].number_input("Padding", 0, 8, 1, key="ca_p")
    cols = st.columns(4)
    d = cols[0].number_input("Dilation", 1, 6, 1, key="ca_d")
    cin = cols[1].number_input("In channels", 1, 2048, 4, key="ca_cin")
    cout = cols[2].number_input("Out channels", 1, 2048, 8, key="ca_cout")
    g = cols[3].number_input("Groups", 1, 2048, 1, key="ca_g")
    spec = ConvSpec(int(size), int(cin), int(cout), int(k), int(s), int(p), int(d), int(g))
    problem = spec.validate()
    if problem:
        st.error(problem)
    else:
        m = st.columns(5)
        m[0].metric("Output side", spec.out_size)
        m[1].metric("Parameters", f"{spec.params:,}")
        m[2].metric("MACs", human_count(spec.macs))
        m[3].metric("Receptive field", f"{spec.receptive_field} px")
        m[4].metric("Transposed conv back", transposed_out_size(spec.out_size, spec.kernel, spec.stride, spec.padding, dilation=spec.dilation),
                    help="output side of ConvTranspose2d with the same kernel, stride, padding and dilation (add output_padding to recover sides lost to flooring)")
        padded = int(size) + 2 * int(p)
        grid = np.zeros((padded, padded))
        grid[int(p):int(p) + int(size), int(p):int(p) + int(size)] = 1
        fig = heatmap(grid, "padded input (white: padding) and the first output units' windows", scale=[[0, "#ffffff"], [1, "#dbe6f7"]], height=460)
        fig.update_coloraxes(showscale=False)
        # windows of neighbouring units overlap when the stride is below the kernel: each
        # gets its own colour, an outline inset a little more than the last, and its taps
        # drawn as dots shifted apart, so every window stays visible
        for i, (r, c) in enumerate(spec.window_positions(3)):
            colour, inset, shift = px.colors.qualitative.D3[i], 0.05 + 0.04 * i, 0.08 * i - 0.32
            span = (spec.kernel - 1) * spec.dilation
            fig.add_shape(type="rect", x0=c - 0.5 + inset, y0=r - 0.5 + inset, x1=c + span + 0.5 - inset,
                          y1=r + span + 0.5 - inset, line=dict(color=colour, width=2))
            taps = [(r + a * spec.dilation, c + b * spec.dilation) for a in range(spec.kernel) for b in range(spec.kernel)]
            fig.add_scatter(x=[t[1] + shift for t in taps], y=[t[0] + shift for t in taps], mode="markers",
                            name=f"output unit {i}", marker=dict(size=6, color=colour))
        st.plotly_chart(fig, width="stretch")

elif section == "Normalisation":
    st.markdown("Every normalisation subtracts a mean and divides by a standard deviation; they differ only in "
                "**which values share the statistics**. Cells of one colour below (an image × channel plane, each H×W) "
                "are normalised together.")
    cols = st.columns(3)
    n = cols[0].slider("Images (N)", 1, 8, 4, key="norm_n")
    c = cols[1].slider("Channels (C)", 2, 16, 8, key="norm_c")
    groups = cols[2].select_slider("GroupNorm groups", [d for d in range(1, c + 1) if c % d == 0], value=2 if c % 2 == 0 else 1, key=f"norm_g_{c}")
    figs = st.columns(len(normalization.KINDS))
    for col, kind in zip(figs, normalization.KINDS):
        ids = normalization.statistic_groups(kind, n, c, groups)
        fig = heatmap(ids, kind, scale="Turbo", labels=dict(x="channel", y="image"), height=300)
        fig.update_coloraxes(showscale=False)
        col.plotly_chart(fig, width="stretch")
    st.subheader("BatchNorm with small batches")
    st.markdown("BatchNorm estimates the mean and spread from the batch itself. With few images the estimate strays, "
                "which is why detection and segmentation nets with tiny batches switched to GroupNorm.")
    feats = normalization.digits_brightness()
    noise = pd.DataFrame(normalization.batch_statistic_noise(feats, [2, 4, 8, 16, 32, 64, 128, 256]))
    noise = noise.rename(columns={"mean_error": "mean", "std_error": "standard deviation"})
    fig = px.line(noise, x="batch_size", y=["mean", "standard deviation"], log_x=True, markers=True,
                  labels={"value": "average error of the batch estimate", "batch_size": "batch size", "variable": "statistic"})
    fig.update_layout(height=360)
    st.plotly_chart(fig, width="stretch")
    st.subheader("Train mode versus eval mode")
    steps = st.slider("Training batches seen before switching to eval", 1, 200, 1, key="bn_steps")
    torch.manual_seed(0)
    x = torch.randn(32, 3, 4, 4) * 2 + 5
    out = normalization.train_eval_difference(x, steps=steps)
    diff = (out["train"] - out["eval"]).abs().max().item()
    st.metric("Largest train/eval difference on the same batch", f"{diff:.3f}",
              help="train mode uses the batch's statistics; eval uses running averages that move 10% per batch")

elif section == "Dropout and DropPath":
    st.markdown("**Dropout** zeroes each unit with probability p while training and scales the survivors by 1/(1−p); "
                "at eval it does nothing, because the scaling already kept the expected activation equal. "
                "**DropPath** (stochastic depth) drops a whole residual branch for a whole sample.")
    p = st.slider("Drop probability p", 0.0, 0.9, 0.5, 0.05, key="drop_p")
    seed = st.number_input("Random seed", 0, 10_000, 0, key="drop_seed")
    x = torch.ones(16, 16)
    cols = st.columns(2)
    cols[0].plotly_chart(heatmap(regularization.dropout_pass(x, p, True, int(seed)).numpy(), "training pass of a 16×16 map of ones", scale="Viridis"), width="stretch")
    cols[1].plotly_chart(heatmap(regularization.dropout_pass(x, p, False, int(seed)).numpy(), "eval pass: unchanged", scale="Viridis"), width="stretch")
    stats = regularization.expectation_check(p)
    st.caption(f"Over 100,000 units: {stats['kept_fraction']:.3f} kept, mean after scaling {stats['mean']:.3f} (expected 1).")
    factors = regularization.droppath_pass(16, p, True, int(seed))
    fig = px.bar(x=list(range(16)), y=factors, labels={"x": "sample in batch", "y": "factor on its residual branch"})
    fig.update_layout(title="DropPath in training: 0 means the block is skipped for that sample", height=320)
    st.plotly_chart(fig, width="stretch")

elif section == "Efficient convolutions":
    st.markdown("Three ways to go from C_in to C_out channels with a k×k kernel, and what each costs.")
    cols = st.columns(5)
    size = cols[0].number_input("Feature map side", 1, 256, 14, key="ec_size")
    cin = cols[1].number_input("C_in", 1, 2048, 64, key="ec_cin")
    cout = cols[2].number_input("C_out", 1, 2048, 128, key="ec_cout")
    k = cols[3].number_input("Kernel", 1, 7, 3, key="ec_k")
    g = cols[4].number_input("Groups", 1, 64, 4, key="ec_g")
    if cin % g or cout % g:
        st.error(f"Groups ({g}) must divide both channel counts ({cin}, {cout}).")
    else:
        table = pd.DataFrame(efficient_conv.cost_table(int(size), int(cin), int(cout), int(k), int(g)))
        st.dataframe(table.style.format({"params_ratio": "{:.3f}", "macs_ratio": "{:.3f}", "params": "{:,}", "macs": "{:,}"}), hide_index=True, width="stretch")
        fig = px.bar(table, x="design", y="macs", text_auto=".3s", log_y=True, labels={"macs": "MACs", "design": ""})
        # a log axis with half a decade of headroom, so the tallest bar and its label stay below the top
        top = np.log10(table["macs"].max()) + 0.5
        fig.update_layout(height=320, yaxis=dict(range=[np.log10(table["macs"].min()) - 0.5, top], exponentformat="power"))
        st.plotly_chart(fig, width="stretch")
    st.subheader("Channel shuffle")
    st.markdown("Two stacked group convolutions keep each group to itself (block diagonal). "
                "ShuffleNet interleaves channels between them, so every output can see every input.")
    cols = st.columns(3)
    ch = cols[0].select_slider("Channels", [4, 6, 8, 9, 12, 16, 18, 24], value=12, key="cs_ch")
    gs = cols[1].select_slider("Groups", [d for d in range(2, ch + 1) if ch % d == 0], key=f"cs_g_{ch}")
    cols = st.columns(2)
    for col, shuffle in zip(cols, (False, True)):
        fig = heatmap(efficient_conv.group_connectivity(ch, gs, shuffle), "with shuffle" if shuffle else "without shuffle",
                      labels=dict(x="input channel", y="output channel"))
        fig.update_coloraxes(showscale=False)
        col.plotly_chart(fig, width="stretch")
    st.caption(f"Shuffle order: {efficient_conv.shuffle_permutation(ch, gs)}")

elif section == "Label smoothing":
    st.markdown("Instead of a one-hot target, put 1−ε on the true class and spread ε over all K classes. "
                "The loss then stops rewarding ever larger logit margins.")
    cols = st.columns(2)
    eps = cols[0].slider("ε", 0.0, 0.5, 0.1, 0.01, key="ls_eps")
    k = cols[1].slider("Classes K", 2, 20, 10, key="ls_k")
    cols = st.columns(2)
    fig = px.bar(x=list(range(k)), y=label_smoothing.smoothed_target(k, 0, eps), labels={"x": "class (0 is true)", "y": "target probability"})
    fig.update_layout(title="target distribution", height=340)
    cols[0].plotly_chart(fig, width="stretch")
    margins = [i / 10 for i in range(0, 160)]
    curve = pd.DataFrame(label_smoothing.loss_against_confidence(k, eps, margins))
    plain = pd.DataFrame(label_smoothing.loss_against_confidence(k, 0.0, margins))
    fig = go.Figure()
    fig.add_scatter(x=curve["margin"], y=curve["loss"], name=f"ε = {eps}")
    fig.add_scatter(x=plain["margin"], y=plain["loss"], name="one-hot (ε = 0)", line=dict(dash="dot"))
    fig.update_layout(title="loss against the true logit's margin over the others", xaxis_title="margin", height=340)
    cols[1].plotly_chart(fig, width="stretch")

elif section == "ResNet as an ensemble":
    st.markdown(
        "Veit et al. (2016) deleted single blocks from a trained ResNet-110 and found it barely minded, except for "
        "the blocks that downsample: the identity shortcuts give the signal many paths of different lengths, so a "
        "residual net behaves like an ensemble of shallower nets. A plain net of the same depth has one path, and "
        "losing any layer breaks it. Here a ResNet and its shortcut-free twin train on the bundled digits with the "
        "project's engine, then each block is deleted in turn (for a downsampling block, the parameter-free "
        "shortcut stays). A 20-layer net trained for a few epochs leans harder on each block than ResNet-110, so "
        "expect its early blocks to matter more than in the paper. The two nets start from different accuracies, "
        "so they are compared by the share of their accuracy above chance that survives a deletion."
    )
    cols = st.columns(2)
    depth = cols[0].radio("Depth", [20, 56], horizontal=True, key="ens_depth", help="ResNet-20/56 against Plain-20/56")
    epochs = cols[1].slider("Training epochs for each net", 1, 10, 3, key="ens_epochs")
    if st.button("Train both nets and delete each block", key="ens_go", type="primary"):
        st.session_state["job_cancelled_ensemble"] = False
        st.session_state["ens_running"] = True
    if st.session_state.get("ens_running") and not page_helpers.job_cancelled("ensemble", "The deletion experiment"):
        with page_helpers.job_progress("ensemble", "training…") as update:
            result = ensemble.compare(f"resnet{depth}_cifar", f"plain{depth}_cifar", epochs=epochs, progress=update)
        st.session_state["ensemble"] = (epochs, result)
        st.session_state["ens_running"] = False
    if "ensemble" in st.session_state:
        trained_epochs, result = st.session_state["ensemble"]
        table = pd.concat([pd.DataFrame(rows).assign(net=name) for name, rows in result.nets.items()])
        table["block"] = [f"{d} ↓" if down else d for d, down in zip(table["deleted"], table["downsampling"])]
        fig = px.bar(table, x="block", y="top1", color="net", barmode="group",
                     labels={"top1": "test accuracy", "block": "block deleted (↓ downsamples)", "net": "network"})
        fig.add_hline(y=result.chance, line_dash="dot", annotation_text="chance")
        fig.update_layout(height=420, yaxis=dict(range=[0, 1.05], tickformat=".0%"), title=f"after {trained_epochs} epochs on the digits")
        st.plotly_chart(fig, width="stretch")
        lines = [f"**{name}**: {rows[0]['top1']:.1%} intact; a deletion keeps {result.kept(name):.0%} of its accuracy "
                 f"above chance on average ({result.kept(name, downsampling=False):.0%} for the blocks that keep the "
                 f"resolution)" for name, rows in result.nets.items()]
        st.markdown("\n".join(f"- {line}" for line in lines))
        shown, sentence = result.verdict()
        (st.success if shown else st.warning)(sentence)
    else:
        st.info("Press the button: both nets train on the CPU one after the other; the bar shows the time left.")

else:
    st.markdown(
        "Regularized evolution (Real et al. 2018, the search behind AmoebaNet) keeps a population of cell "
        "genotypes. Each cycle it samples a few, mutates the best of the sample — one operation or one input "
        "changes — trains the child and removes the **oldest** member. Here each candidate is a tiny stack of "
        "two-node cells, trained for the chosen number of steps on the bundled digits; the bar shows the time left."
    )
    cols = st.columns(4)
    population = cols[0].number_input("Population", 2, 20, 4, key="evo_pop")
    sample = cols[1].number_input("Sample size", 1, 20, 2, key="evo_sample")
    total = cols[2].number_input("Candidates in all", 2, 100, 8, key="evo_total")
    steps = cols[3].number_input("Training steps per candidate", 5, 500, 40, key="evo_steps")
    if not sample <= population <= total:
        st.error("Choose sample size ≤ population ≤ candidates.")
    else:
        if st.button("Run the search", key="evo_go", type="primary"):
            st.session_state["job_cancelled_evolution"] = False
            st.session_state["evo_running"] = True
        if st.session_state.get("evo_running") and not page_helpers.job_cancelled("evolution", "The search"):
            with page_helpers.job_progress("evolution", "evaluating the first candidate…") as update:
                chart, seen = st.empty(), []

                def show(cand, alive):
                    alive_ids = {c.id for c in alive}
                    seen.append({"candidate": cand.id, "accuracy": cand.accuracy, "mutation": cand.mutation})
                    for row in seen:
                        row["in population"] = "yes" if row["candidate"] in alive_ids else "no"
                    update(len(seen) / total, f"candidate {cand.id + 1}/{total}: {cand.accuracy:.1%} ({cand.mutation})")
                    chart.plotly_chart(px.scatter(pd.DataFrame(seen), x="candidate", y="accuracy", color="in population",
                                                  hover_data=["mutation"], title="every candidate's accuracy"),
                                       width="stretch", key=f"evo_live_{cand.id}")

                st.session_state["evolution"] = evolution.regularized_evolution(int(population), int(sample), int(total), int(steps),
                                                                                on_candidate=show)
            st.session_state["evo_running"] = False
    if "evolution" in st.session_state:
        history = st.session_state["evolution"]
        best = max(history, key=lambda c: c.accuracy)
        st.subheader(f"Best genotype: candidate {best.id}, {best.accuracy:.1%} test accuracy")
        cols = st.columns(2)
        cols[0].graphviz_chart(cell_dot(best.genotype, "normal"))
        cols[1].graphviz_chart(cell_dot(best.genotype, "reduce"))
        st.dataframe(pd.DataFrame([{"candidate": c.id, "parent": "–" if c.parent is None else c.parent, "mutation": c.mutation, "accuracy": c.accuracy} for c in history]),
                     hide_index=True, width="stretch")
