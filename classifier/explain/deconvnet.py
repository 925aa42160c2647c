"""ZFNet's deconvnet (Zeiler and Fergus, "Visualizing and Understanding Convolutional
Networks", 2013, arXiv 1311.2901), through captum.

A deconvnet maps one unit's activation back to pixels: it runs the network backwards,
unpooling where the forward pass pooled, applying the transposed filters, and passing
the signal through a ReLU on the way back. That is the gradient with each ReLU's backward
replaced by a ReLU of the incoming signal, which is what captum's ``Deconvolution``
(for a class score) and ``NeuronDeconvolution`` (for one unit) compute. As in the paper's
Figure 2, each of a layer's strongest channels is shown by its single strongest unit,
cropped to that unit's receptive field beside the image patch it saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from captum.attr import Deconvolution, NeuronDeconvolution
from torch import nn

from classifier.explain.activations import activations
from classifier.explain.layer_info import LayerInfo, as_maps
from classifier.explain.predict import device_of
from classifier.explain.render import signed_image
from classifier.explain.safety import exclusive
from classifier.outputs import PredictionOnly


@dataclass
class Projection:
    """One channel's strongest unit projected to pixel space. ``projection`` is the full
    (C, H, W) input-space signal; ``box`` (top, left, bottom, right) its unit's field."""

    channel: int
    unit: tuple[int, int]
    activation: float
    box: tuple[int, int, int, int]
    projection: torch.Tensor

    def crop(self) -> np.ndarray:
        """The projection inside the receptive field, as an image (grey = zero)."""
        top, left, bottom, right = self.box
        return signed_image(self.projection[:, top:bottom, left:right])

    def patch(self, image: np.ndarray) -> np.ndarray:
        """The same box cut from the (preprocessed) image."""
        top, left, bottom, right = self.box
        return image[top:bottom, left:right]


def unit_selector(channel: int, unit: tuple[int, int]) -> Callable[[torch.Tensor], torch.Tensor]:
    """captum's neuron selector for one unit of a map or token layer: the unit's value
    for every example of the batch."""
    i, j = unit
    return lambda out: as_maps(out)[:, channel, i, j]


def neuron_deconvolution(
    model: nn.Module, x: torch.Tensor, layer: LayerInfo, channel: int, unit: tuple[int, int]
) -> torch.Tensor:
    """One unit projected to pixel space, (C, H, W)."""
    with exclusive(model):
        inp = x[:1].to(device_of(model)).clone().requires_grad_(True)
        attr = NeuronDeconvolution(model, model.get_submodule(layer.name)).attribute(
            inp, neuron_selector=unit_selector(channel, unit)
        )
    return attr[0].detach().cpu()


def top_projections(
    model: nn.Module,
    x: torch.Tensor,
    layer: LayerInfo,
    k: int = 9,
    progress: Callable[[int, int], None] | None = None,
) -> list[Projection]:
    """The ``k`` strongest channels of ``layer``, each by its strongest unit, projected
    to pixel space; ``progress(done, k)`` hears after each projection."""
    image_size = tuple(x.shape[-2:])
    with exclusive(model):
        acts = activations(model, x, layer)
        out = []
        channels = acts.order[:k]
        for n, c in enumerate(channels, start=1):
            unit = acts.strongest_unit(c)
            out.append(
                Projection(
                    c,
                    unit,
                    acts.value(c, unit),
                    layer.box(unit, image_size),
                    neuron_deconvolution(model, x, layer, c, unit),
                )
            )
            if progress:
                progress(n, len(channels))
    return out


def deconvolution(model: nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    """The class score ``target`` projected to pixel space through the whole net, (C, H, W)."""
    with exclusive(model):
        inp = x[:1].to(device_of(model)).clone().requires_grad_(True)
        attr = Deconvolution(PredictionOnly(model)).attribute(inp, target=target)
    return attr[0].detach().cpu()
