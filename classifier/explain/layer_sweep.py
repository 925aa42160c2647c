"""One image through the depth of a net, so "which layer?" is answered by looking.

For each layer of a list, three views that change with depth: Grad-CAM of a class at that
layer (coarse and class-specific late, fine and unspecific early: Selvaraju et al. 2017,
arXiv 1610.02391, §3 and Fig. 14 compare layers), the layer's strongest channel (by its
strongest unit, as ZFNet ranks them) and that unit's theoretical receptive field, which
grows with depth. Everything is computed once for every layer (a forward pass for the
activations and a forward-backward pass for Grad-CAM per layer), so a slider over the
results only indexes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from classifier.explain.activations import activations
from classifier.explain.attributions import attribute, gradcam_layers
from classifier.explain.figures import rgb
from classifier.explain.layer_info import ACTIVATION_TYPES, LayerInfo, default_layer
from classifier.explain.render import colormap, draw_box, overlay, resize
from classifier.explain.safety import exclusive

MAX_LAYERS = 16


@dataclass
class SweepStep:
    """One layer's views: ``gradcam`` (H, W) at the input size, or None where Grad-CAM
    has no spatial map to weight (ViT tokens, 1×1 maps); the strongest ``channel``, its
    ``activation`` map, its strongest ``unit`` with that unit's ``value`` and ``box``."""

    layer: LayerInfo
    gradcam: np.ndarray | None
    channel: int
    activation: np.ndarray
    unit: tuple[int, int]
    value: float
    box: tuple[int, int, int, int]


def sweep_layers(layers: list[LayerInfo], max_layers: int = MAX_LAYERS) -> list[LayerInfo]:
    """The layers a sweep steps through, in execution order: the activation layers (each
    a unit's own response; every layer when the net has none), thinned evenly to at most
    ``max_layers``, always keeping the first, the default layer and the last spatial map
    (Grad-CAM's usual choice)."""
    acts = [layer for layer in layers if layer.type in ACTIVATION_TYPES] or list(layers)
    keep = {layers[default_layer(layers)].name}
    spatial = gradcam_layers(layers)
    if spatial:
        keep.add(spatial[-1].name)
    picked = {round(i * (len(acts) - 1) / max(max_layers - len(keep) - 1, 1)) for i in range(max_layers - len(keep))}
    keep |= {acts[i].name for i in picked if i < len(acts)}
    return [layer for layer in layers if layer.name in keep]


def layer_sweep(
    model: nn.Module,
    x: torch.Tensor,
    layers: list[LayerInfo],
    target: int,
    progress: Callable[[int, int], None] | None = None,
) -> list[SweepStep]:
    """The three views for each of ``layers`` on the first image of ``x``, for class
    ``target``; ``progress(done, total)`` hears after each layer."""
    image_size = tuple(x.shape[-2:])
    steps = []
    with exclusive(model):
        for n, layer in enumerate(layers, start=1):
            acts = activations(model, x, layer)
            channel = acts.order[0]
            unit = acts.strongest_unit(channel)
            spatial = not layer.tokens and layer.grid != (1, 1)
            cam = attribute(model, x, "gradcam", target, layer=layer)[0].numpy() if spatial else None
            steps.append(
                SweepStep(
                    layer=layer,
                    gradcam=cam,
                    channel=channel,
                    activation=acts.maps[channel].numpy(),
                    unit=unit,
                    value=acts.value(channel, unit),
                    box=layer.box(unit, image_size),
                )
            )
            if progress:
                progress(n, len(layers))
    return steps


def sweep_figure(step: SweepStep, image: np.ndarray, opacity: float = 0.6, size: int = 224) -> np.ndarray:
    """Three panels of ``size`` pixels: Grad-CAM over the image (grey where it has none),
    the strongest channel's map (each map on its own scale, blocky so its grid shows) and
    the image with that unit's receptive field boxed."""
    image = rgb(image)
    h, w = image.shape[:2]
    if step.gradcam is None:
        cam = np.full_like(image, 128)
    else:
        cam = overlay(image, colormap(step.gradcam, lo=0.0), opacity)
    act = resize(colormap(step.activation), (h, w), smooth=False)
    # a box line of about 1% of the side, whatever the input size
    boxed = draw_box(image, step.box, width=max(1, round(max(h, w) / 112)))
    panels = [resize(p, (size, size), smooth=max(h, w) >= size) for p in (cam, act, boxed)]
    gap = np.full((size, 6, 3), 255, np.uint8)
    return np.concatenate([panels[0], gap, panels[1], gap, panels[2]], 1)
