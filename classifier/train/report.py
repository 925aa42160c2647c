"""What the app shows about runs, computed from their directories: table rows,
progress and ETA, training curves (one run or several overlaid), the confusion matrix
and per-class accuracy. Figures are plotly objects; nothing here knows about Streamlit.
"""

from __future__ import annotations

import time

import plotly.graph_objects as go
from plotly.colors import qualitative

from classifier.train.runs import ACTIVE, RunDir

# Metric key in metrics.jsonl → chart title.
CURVES = {"loss": "Loss", "top1": "Top-1 accuracy", "lr": "Learning rate", "images_per_s": "Images per second"}


def default_run(runs: list[RunDir]) -> RunDir:
    """The run to show when none is chosen: the newest active one, else the newest."""
    active = [r for r in runs if r.read_status().get("state") in ACTIVE]
    return (active or runs)[0]


def run_row(run: RunDir) -> dict:
    """One line of the runs table."""
    status = run.read_status()
    config = run.read_config()
    best = status.get("best_top1")
    return {
        "run": run.run_id,
        "model": config.model,
        "dataset": config.dataset,
        "state": status.get("state", "unknown"),
        "epoch": f"{status.get('epoch', 0):.1f} / {config.epochs}",
        "best top-1 (%)": "–" if best is None else f"{100 * best:.2f}",  # a stopped run may have none yet
        "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(status["started"])) if status.get("started") else "",
    }


def progress(status: dict, batch_size: int) -> tuple[float, float | None]:
    """Fraction done and the seconds left at the latest measured speed (None when unknown)."""
    total = status.get("total_steps") or 0
    step = status.get("step", 0)
    fraction = min(1.0, step / total) if total else 0.0
    speed = status.get("images_per_s")
    if status.get("state") not in ACTIVE or not speed or not total:
        return fraction, None
    return fraction, (total - step) * batch_size / speed


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def latest_eval(metrics: list[dict]) -> dict | None:
    evals = [m for m in metrics if m.get("kind") == "eval"]
    return evals[-1] if evals else None


def curve_figure(series: dict[str, list[dict]], curve: str) -> go.Figure:
    """One curve over epochs for each run in ``series`` (label → metrics rows).

    Loss and accuracy draw the training values as lines and the test values as markers
    joined by dashes, in the same colour per run.
    """
    fig = go.Figure()
    for i, (label, rows) in enumerate(series.items()):
        colour = qualitative.Plotly[i % len(qualitative.Plotly)]
        train = [r for r in rows if r.get("kind") == "train"]
        fig.add_trace(go.Scatter(x=[r["epoch"] for r in train], y=[r[curve] for r in train], mode="lines",
                                 name=f"{label} · train" if curve in ("loss", "top1") else label,
                                 line={"color": colour}))
        test = [r for r in rows if r.get("kind") == "eval"]
        if curve in ("loss", "top1") and test:
            fig.add_trace(go.Scatter(x=[r["epoch"] for r in test], y=[r[curve] for r in test], mode="lines+markers",
                                     name=f"{label} · test", line={"color": colour, "dash": "dash"}))
    fig.update_layout(title=CURVES[curve], height=300, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      xaxis_title="epoch", legend={"orientation": "h", "y": -0.25}, uirevision=curve)
    if curve == "top1":
        fig.update_yaxes(tickformat=".0%")
    return fig


def confusion_figure(confusion: list[list[int]], classes: list[str]) -> go.Figure:
    fig = go.Figure(go.Heatmap(z=confusion, x=classes, y=classes, colorscale="Blues", text=confusion,
                               texttemplate="%{text}" if len(classes) <= 20 else None,
                               hovertemplate="true %{y} → predicted %{x}: %{z}<extra></extra>"))
    fig.update_layout(title="Confusion matrix (rows: true class)", height=520, xaxis_title="predicted",
                      yaxis_title="true", yaxis_autorange="reversed", margin={"l": 10, "r": 10, "t": 40, "b": 10})
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category")
    return fig


def per_class_figure(per_class: list[float], classes: list[str]) -> go.Figure:
    fig = go.Figure(go.Bar(x=classes, y=per_class, hovertemplate="%{x}: %{y:.1%}<extra></extra>"))
    fig.update_layout(title="Per-class accuracy", height=520, yaxis_tickformat=".0%", yaxis_range=[0, 1],
                      xaxis_type="category", margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig
