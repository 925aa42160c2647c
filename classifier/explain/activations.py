"""What a layer computes for one image: its feature maps, ranked by their strongest unit.

The layer's output is read with captum's ``LayerActivation`` (a forward hook), so any
module of the model can be looked at without changing its code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from captum.attr import LayerActivation
from torch import nn

from classifier.explain.layer_info import LayerInfo, as_maps
from classifier.explain.predict import device_of
from classifier.explain.render import colormap, resize
from classifier.explain.safety import exclusive


@dataclass
class Activations:
    """A layer's maps for one image (C, H, W) and its channels from strongest to weakest
    (by each map's largest value: the unit that fires hardest, as ZFNet ranks them)."""

    layer: LayerInfo
    maps: torch.Tensor
    order: list[int]

    def strongest_unit(self, channel: int) -> tuple[int, int]:
        """(row, column) of the largest activation in ``channel``."""
        m = self.maps[channel]
        flat = int(m.argmax())
        return divmod(flat, m.shape[1])

    def value(self, channel: int, unit: tuple[int, int]) -> float:
        return float(self.maps[channel, unit[0], unit[1]])


def layer_output(model: nn.Module, x: torch.Tensor, layer: LayerInfo) -> torch.Tensor:
    """The layer's output for ``x`` as (B, C, H, W) maps."""
    with exclusive(model), torch.no_grad():
        out = LayerActivation(model, model.get_submodule(layer.name)).attribute(x.to(device_of(model)))
    return as_maps(out).float().cpu()


def activations(model: nn.Module, x: torch.Tensor, layer: LayerInfo) -> Activations:
    """The layer's maps for the first image of ``x``, channels ranked."""
    maps = layer_output(model, x[:1], layer)[0]
    strength = maps.flatten(1).amax(1)
    order = [int(c) for c in strength.argsort(descending=True, stable=True)]
    return Activations(layer, maps, order)


def map_tiles(acts: Activations, k: int, size: int) -> list[np.ndarray]:
    """The ``k`` strongest maps as heat-map tiles of ``size``×``size`` pixels, all on one
    scale (from zero, or the lowest value if negative, to the layer's largest value) so
    their strengths compare at a glance."""
    hi = float(acts.maps.max())
    lo = min(0.0, float(acts.maps.min()))
    return [resize(colormap(acts.maps[c], lo, hi), (size, size), smooth=False) for c in acts.order[:k]]
