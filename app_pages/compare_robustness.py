"""The Compare page's robustness section: how each net's answer moves when the image is
shifted, rotated, scaled or blurred. Widgets only; the probes are
classifier.compare.robustness."""

import streamlit as st

from classifier.compare.robustness import PROBES, probe_figure, probes_sheet, robustness
from classifier.explain.render import png_bytes


def _strength(value: float, probe) -> str:
    return f"{value:g} ({probe.unit})"


def section(views: list, key: tuple, memo) -> None:
    """Draw the section for the side-by-side ``views``; ``key`` identifies the nets, their
    weights and the image, and ``memo(key, compute)`` keeps the result per session."""
    st.subheader("Robustness probes")
    st.caption("Each net's own input, shifted, rotated, scaled and blurred by growing amounts (pixels moved in from "
               "outside take the mean colour); the line is the probability of the class the net gave the untouched "
               "image, a cross where its top-1 became another class. All perturbed copies go through each net in "
               "one batch.")
    if not st.toggle("Run the probes", key="compare_robustness",
                     help=f"{sum(len(p.values) for p in PROBES.values())} perturbed images per net"):
        return

    def compute():
        bar = st.progress(0.0, text=f"Probing {views[0].label}…")

        def step(done: int, total: int) -> None:
            text = f"Probing {views[done].label}…" if done < total else "Probes done"
            bar.progress(done / total, text=text)

        nets = robustness(views, progress=step)
        bar.empty()
        return nets

    nets = memo(("robustness", key), compute)
    probes = list(PROBES.values())
    for pair in (probes[i:i + 2] for i in range(0, len(probes), 2)):  # two charts a row, in probe order
        for col, probe in zip(st.columns(2), pair):
            col.plotly_chart(probe_figure(nets, probe), width="stretch", key=f"compare_probe_{probe.key}")
    rows = []
    for net in nets:
        row = {"model": net.label, "top-1": f"{net.top1_label} ({100 * net.probability:.1f}%)"}
        for probe in PROBES.values():
            first = net.curves[probe.key].first_change()
            row[probe.title] = "kept throughout" if first is None else f"changes at {_strength(first, probe)}"
        rows.append(row)
    st.table(rows)
    st.download_button(
        "⬇ Robustness charts (PNG)", data=lambda: png_bytes(probes_sheet(nets)),
        file_name=f"robustness-{'-'.join(v.loaded.name for v in views)}.png", mime="image/png",
        on_click="ignore", key="compare_robustness_png",
    )
