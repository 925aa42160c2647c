"""Robustness probes: does a net keep its answer when the image moves a little?

A convolutional net is said to be translation-invariant, yet its strided layers sample the
image on a grid, so a shift of a few pixels can change the answer (Azulay & Weiss 2019,
"Why do deep convolutional networks generalize so poorly to small image
transformations?"). These probes measure it for one image and several nets: each probe
perturbs the net's own input by a list of strengths (a shift, a rotation, a scaling, a
Gaussian blur), every perturbed copy goes through the net in one batch, and the curve is
the probability of the class the net gave the untouched image, with the strengths where
its top-1 became another class.

The perturbations act on the normalised input tensor, so pixels moved in from outside
are 0 there: the training set's mean colour, the most neutral thing a net can be shown.
Strengths are in the net's own input pixels (8 px is a quarter of a 32×32 input).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import plotly.graph_objects as go
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

from classifier.compare.views import ModelView
from classifier.explain.predict import logits

Progress = Callable[[int, int], None]


def shift(x: torch.Tensor, px: float, circular: bool = False) -> torch.Tensor:
    """``x`` moved ``px`` pixels right and down. The uncovered border is 0 (the mean
    colour), or with ``circular=True`` what left on one side comes back on the other —
    the shift under which a circularly padded conv net with global pooling is exactly
    invariant."""
    px = int(px)
    if circular:
        return torch.roll(x, (px, px), dims=(-2, -1))
    if px == 0:
        return x.clone()
    out = torch.zeros_like(x)
    out[..., px:, px:] = x[..., :-px, :-px]
    return out


def rotate(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """``x`` turned anticlockwise about its centre (bilinear), corners filled with 0."""
    return TF.rotate(x, float(degrees), interpolation=InterpolationMode.BILINEAR)


def scale(x: torch.Tensor, factor: float) -> torch.Tensor:
    """``x`` zoomed about its centre: below 1 it shrinks inside a mean-coloured border,
    above 1 its centre fills the frame."""
    return TF.affine(x, angle=0.0, translate=[0, 0], scale=float(factor), shear=[0.0, 0.0],
                     interpolation=InterpolationMode.BILINEAR)


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """A Gaussian blur of standard deviation ``sigma`` pixels (kernel ±3σ); σ = 0 is the
    limit of no blur, the image itself."""
    if sigma == 0:
        return x.clone()
    k = 2 * math.ceil(3 * sigma) + 1
    return TF.gaussian_blur(x, [k, k], [float(sigma), float(sigma)])


@dataclass(frozen=True)
class Probe:
    """One kind of perturbation at a list of strengths; ``neutral`` is the strength that
    leaves the image as it is (0 px, 0°, ×1, σ 0)."""

    key: str
    title: str
    unit: str
    values: tuple[float, ...]
    neutral: float
    apply: Callable[[torch.Tensor, float], torch.Tensor]


PROBES: dict[str, Probe] = {p.key: p for p in (
    Probe("shift", "Shift", "pixels right and down", tuple(range(9)), 0, shift),
    Probe("rotate", "Rotation", "degrees anticlockwise", (0, 5, 10, 15, 20, 30, 45), 0, rotate),
    Probe("scale", "Scale", "zoom factor", (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5), 1.0, scale),
    Probe("blur", "Blur", "Gaussian σ in pixels", (0, 0.5, 1, 1.5, 2, 3, 4), 0, blur),
)}
# The wrap-around shift, under which circular padding and global pooling make a net
# exactly invariant: the control that tells a net's own sensitivity from the border's.
CIRCULAR_SHIFT = Probe("shift", "Circular shift", "pixels right and down, wrapped", tuple(range(9)), 0,
                       lambda x, px: shift(x, px, circular=True))


@dataclass
class Curve:
    """One net under one probe: per strength, the probability of the net's original top-1
    class and the top-1 class it gives instead."""

    values: list[float]
    probability: list[float]
    top1: list[int]
    top1_labels: list[str]
    original: int
    neutral: float

    @property
    def changed(self) -> list[bool]:
        return [t != self.original for t in self.top1]

    def first_change(self) -> float | None:
        """The weakest strength (the nearest to the neutral one) whose top-1 is another
        class; None if the top-1 never changes."""
        changed = [v for v, c in zip(self.values, self.changed) if c]
        return min(changed, key=lambda v: abs(v - self.neutral)) if changed else None


@dataclass
class NetRobustness:
    """Every probe's curve for one net, beside its answer on the untouched image."""

    label: str
    top1: int
    top1_label: str
    probability: float
    curves: dict[str, Curve]


def probe_net(model: torch.nn.Module, x: torch.Tensor, class_names: list[str], label: str,
              probes: list[Probe] | None = None) -> NetRobustness:
    """The probes on the first image of ``x`` (already preprocessed for ``model``): the
    untouched image alone, then every perturbed copy of every probe in one batch."""
    probes = list(PROBES.values()) if probes is None else probes
    x = x[:1]
    probs = logits(model, x)[0].softmax(0)
    original = int(probs.argmax())
    batch = [p.apply(x, v) for p in probes for v in p.values]
    out = logits(model, torch.cat(batch)).softmax(1)

    def name(i: int) -> str:
        return class_names[i] if i < len(class_names) else f"class {i}"

    curves, start = {}, 0
    for p in probes:
        part = out[start:start + len(p.values)]
        start += len(p.values)
        top = [int(i) for i in part.argmax(1)]
        curves[p.key] = Curve(list(p.values), [float(v) for v in part[:, original]], top, [name(i) for i in top],
                              original, p.neutral)
    return NetRobustness(label, original, name(original), float(probs[original]), curves)


def robustness(views: list[ModelView], probes: list[Probe] | None = None,
               progress: Progress | None = None) -> list[NetRobustness]:
    """The probes for every net of a comparison, each on the input its own weights
    expect; ``progress(done, total)`` after each net."""
    result = []
    for n, view in enumerate(views, start=1):
        loaded = view.loaded
        result.append(probe_net(loaded.model, view.x, loaded.class_names, view.label, probes))
        if progress:
            progress(n, len(views))
    return result


COLOURS = ("#3b6fd8", "#d8613b", "#2e9e5b", "#9b4fc9")


def probe_figure(nets: list[NetRobustness], probe: Probe) -> go.Figure:
    """One probe: the probability of each net's original top-1 against the strength, a
    line per net; a cross marks a strength where the top-1 became another class."""
    fig = go.Figure()
    for i, net in enumerate(nets):
        c = net.curves[probe.key]
        fig.add_trace(go.Scatter(
            x=c.values, y=[100 * p for p in c.probability], mode="lines+markers", name=net.label,
            line=dict(color=COLOURS[i % len(COLOURS)]),
            marker=dict(symbol=["x" if ch else "circle" for ch in c.changed],
                        size=[11 if ch else 6 for ch in c.changed]),
            customdata=c.top1_labels,
            hovertemplate=f"{probe.unit}: %{{x}}<br>p(original) %{{y:.1f}}%<br>top-1 %{{customdata}}<extra>"
                          f"{net.label}</extra>",
        ))
    fig.update_layout(title=probe.title, height=320, margin=dict(l=10, r=10, t=40, b=40),
                      xaxis_title=probe.unit, yaxis=dict(title="p(original top-1) %", range=[0, 102]),
                      legend=dict(orientation="h", y=-0.3))
    return fig


def probes_sheet(nets: list[NetRobustness], probes: list[Probe] | None = None) -> np.ndarray:
    """Every probe's chart on one RGB image, for the PNG download. Drawn with matplotlib's
    object API (no pyplot state, no display), which captum already depends on."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    probes = [p for p in (list(PROBES.values()) if probes is None else probes) if p.key in nets[0].curves]
    cols = min(2, len(probes))
    rows = -(-len(probes) // cols)
    fig = Figure(figsize=(6 * cols, 3.6 * rows + 0.6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, probe in zip(axes, probes):
        for i, net in enumerate(nets):
            c = net.curves[probe.key]
            colour = COLOURS[i % len(COLOURS)]
            y = [100 * p for p in c.probability]
            ax.plot(c.values, y, "-o", color=colour, markersize=4, label=net.label)
            flips = [(v, p) for v, p, ch in zip(c.values, y, c.changed) if ch]
            if flips:
                ax.plot(*zip(*flips), "x", color=colour, markersize=10, markeredgewidth=2)
        ax.set(title=probe.title, xlabel=probe.unit, ylabel="p(original top-1) %", ylim=(0, 102))
        ax.grid(alpha=0.3)
    for ax in axes[len(probes):]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(nets))
    fig.suptitle("Probability of each net's original top-1 class (× where the top-1 changed)")
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
