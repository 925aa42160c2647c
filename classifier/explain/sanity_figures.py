"""The sanity checks of :mod:`classifier.explain.sanity` as charts, tables and map sheets:
Plotly figures like the rest of the app (their camera icon saves a PNG), pandas tables
for CSV downloads, and uint8 sheets of the maps themselves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from classifier.explain.render import colormap, grid, resize
from classifier.explain.sanity import RANDOM_ORDER, SANITY_METHODS, Cascade, Curves, Fidelity

LABELS = {**SANITY_METHODS, RANDOM_ORDER: "Random order (chance)"}
CORRELATION_AXIS = "Spearman ρ with the original (|map|)"


def _layout(fig: go.Figure, title: str, x_title: str, y_title: str, height: int = 420) -> go.Figure:
    fig.update_layout(
        title=title, xaxis_title=x_title, yaxis_title=y_title, height=height, legend_title_text="Method",
        margin=dict(l=10, r=10, t=50, b=10),
    )
    return fig


def cascade_figure(cascade: Cascade) -> go.Figure:
    """One line per method over the randomisation steps; a gap where a map was constant."""
    fig = go.Figure()
    for method, values in cascade.correlation.items():
        fig.add_trace(go.Scatter(x=cascade.labels, y=values, mode="lines+markers", name=LABELS[method]))
    fig.add_hline(y=0, line_dash="dot", line_color="grey")
    fig.update_yaxes(range=[-1.05, 1.05])
    fig.update_xaxes(type="category", tickangle=-45)
    return _layout(fig, "Cascading model randomisation", "Randomised from the top down to (cumulative)", CORRELATION_AXIS, 480)


def cascade_table(cascade: Cascade) -> pd.DataFrame:
    rows = [
        {"step": k, "randomised down to": label, "method": LABELS[method], "spearman_abs": values[k]}
        for method, values in cascade.correlation.items()
        for k, label in enumerate(cascade.labels)
    ]
    return pd.DataFrame(rows)


def map_tile(values: np.ndarray, size: int) -> np.ndarray:
    """One map as a square heat tile of ``size`` px, scaled to its own range (|values|)."""
    v = np.abs(np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0))
    return resize(colormap(v), (size, size), smooth=False)


def map_sheet(rows: list[list[np.ndarray]], tile: int = 72) -> np.ndarray:
    """Rows of maps as one picture, each tile scaled to its own range."""
    columns = max(len(r) for r in rows)
    tiles = [map_tile(m, tile) for r in rows for m in r]
    return grid(tiles, columns=columns, pad=3)


def curves_figure(curves: Curves, kind: str) -> go.Figure:
    """Deletion or insertion: the class probability against the fraction of pixels changed."""
    fig = go.Figure()
    for method, probs in getattr(curves, kind).items():
        dash = "dash" if method == RANDOM_ORDER else None
        name = f"{LABELS[method]} (AUC {curves.area(kind, method):.3f})"
        fig.add_trace(go.Scatter(x=curves.fractions, y=probs, mode="lines", name=name, line=dict(dash=dash)))
    verb = "deleted" if kind == "deletion" else "inserted"
    better = "lower is better" if kind == "deletion" else "higher is better"
    fig.update_yaxes(range=[0, 1.02])
    fig = _layout(fig, f"{kind.capitalize()} curve ({better})", f"Fraction of pixels {verb}, most important first",
                  "Probability of the class", 560)
    return fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.2))  # half-width charts: legend below


def curves_table(curves: Curves) -> pd.DataFrame:
    """Per method its two areas and their difference (insertion − deletion: higher is better),
    best first."""
    rows = [
        {
            "Method": LABELS[m],
            "Deletion AUC (lower is better)": curves.area("deletion", m),
            "Insertion AUC (higher is better)": curves.area("insertion", m),
        }
        for m in curves.deletion
    ]
    table = pd.DataFrame(rows)
    table["Insertion − deletion"] = table.iloc[:, 2] - table.iloc[:, 1]
    return table.sort_values("Insertion − deletion", ascending=False, ignore_index=True)


def curves_csv(curves: Curves) -> pd.DataFrame:
    """Every point of every curve, for a download."""
    return pd.DataFrame(
        [
            {"curve": kind, "method": LABELS[m], "fraction": f, "probability": p}
            for kind in ("deletion", "insertion")
            for m, probs in getattr(curves, kind).items()
            for f, p in zip(curves.fractions, probs)
        ]
    )


def edges_table(cascade: Cascade) -> pd.DataFrame:
    return pd.DataFrame([{"Method": LABELS[m], "Rank correlation with the edges": v} for m, v in cascade.edges.items()])


def data_table(compared: dict[str, tuple[np.ndarray, np.ndarray, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"Method": LABELS[m], "Spearman |map|, trained vs shuffled labels": rho}
                         for m, (_, _, rho) in compared.items()])


def fidelity_table(scores: dict[str, Fidelity]) -> pd.DataFrame:
    return pd.DataFrame([{"Method": LABELS[m], "Infidelity (lower is better)": s.infidelity,
                          "Max-sensitivity (lower is better)": s.sensitivity} for m, s in scores.items()])
