"""The effective receptive field (Luo, Li, Urtasun and Zemel, "Understanding the
Effective Receptive Field in Deep Convolutional Neural Networks", 2016, arXiv 1701.04128).

The theoretical field says which pixels *can* reach a unit; the gradient of the unit
with respect to the input says how much each one *does*. Luo et al. find that gradient
concentrated in a roughly Gaussian blob much smaller than the theoretical square, so
the two are drawn side by side.

Both describe the spatial path. A squeeze-and-excitation gate rescales a map's channels by
a function of its global mean, so every pixel of the image reaches every later unit by a
thin, uniform trickle; the theoretical field leaves such gates out (see
:mod:`classifier.analysis.receptive_field`), and so does the gradient here: the output of
every pooling layer that squeezes a map to one cell is detached while it is measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from captum.attr import NeuronGradient
from torch import nn

from classifier.explain.layer_info import LayerInfo, as_maps
from classifier.explain.predict import device_of
from classifier.explain.safety import exclusive


@dataclass
class EffectiveField:
    """``gradient``: |d unit / d input| summed over input channels, (H, W); ``box``: the
    unit's theoretical field; ``inside``: the share of the gradient inside that box."""

    unit: tuple[int, int]
    gradient: np.ndarray
    box: tuple[int, int, int, int]

    @property
    def inside(self) -> float:
        top, left, bottom, right = self.box
        total = float(self.gradient.sum())
        return float(self.gradient[top:bottom, left:right].sum()) / total if total > 0 else 1.0

    def extent(self, mass: float = 0.95) -> int:
        """Side in pixels of the smallest square around the gradient's centre of mass
        holding ``mass`` of the gradient: the effective field's size, to set beside the
        box's."""
        g = self.gradient
        total = g.sum()
        if total <= 0:
            return 0
        ys, xs = np.indices(g.shape)
        cy, cx = round(float((ys * g).sum() / total)), round(float((xs * g).sum() / total))
        for r in range(max(g.shape)):
            if g[max(0, cy - r) : cy + r + 1, max(0, cx - r) : cx + r + 1].sum() >= mass * total:
                return 2 * r + 1
        return max(g.shape)


_POOLS = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.AvgPool2d, nn.MaxPool2d)


def _detach_if_squeezed(module: nn.Module, inputs: tuple, output):
    """Forward hook: cut the gradient through a global pool (a channel gate's squeeze)."""
    x = inputs[0] if inputs else None
    if isinstance(x, torch.Tensor) and isinstance(output, torch.Tensor) and x.dim() == output.dim() == 4 \
            and output.shape[-2:] == (1, 1) and x.shape[-2] * x.shape[-1] > 1:
        return output.detach()
    return None


def centre_unit(layer: LayerInfo) -> tuple[int, int]:
    h, w = layer.grid
    return (h - 1) // 2, (w - 1) // 2


def effective_field(
    model: nn.Module, x: torch.Tensor, layer: LayerInfo, unit: tuple[int, int] | None = None
) -> EffectiveField:
    """The input gradient of ``unit`` (default: the centre) of ``layer``, summed over its
    channels, as Luo et al. do: every channel's unit at that position gets gradient 1.
    Channel gates are held fixed (see the module docstring)."""
    i, j = unit if unit is not None else centre_unit(layer)
    target = model.get_submodule(layer.name)
    with exclusive(model):
        hooks = [m.register_forward_hook(_detach_if_squeezed) for m in model.modules()
                 if isinstance(m, _POOLS) and m is not target]
        try:
            inp = x[:1].to(device_of(model)).clone().requires_grad_(True)
            grad = NeuronGradient(model, target).attribute(
                inp, neuron_selector=lambda out: as_maps(out)[:, :, i, j].sum(1)
            )
        finally:
            for h in hooks:
                h.remove()
    g = grad[0].detach().abs().sum(0).float().cpu().numpy()
    return EffectiveField((i, j), g, layer.box((i, j), tuple(x.shape[-2:])))
