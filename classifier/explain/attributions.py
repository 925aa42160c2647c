"""Which input pixels a class score depends on, by captum's attribution methods.

Gradient methods answer through one backward pass: the plain gradient (saliency), the
gradient with ReLU backward modified (guided backprop, and ZFNet's deconvnet in
:mod:`classifier.explain.deconvnet`), the gradient integrated along a path from a blank
image (integrated gradients, which adds up to the score difference), and Grad-CAM's
channel-weighted map of a chosen layer, alone or multiplied into guided backprop.
Occlusion answers by experiment instead (ZFNet §4.2): grey out one square at a time and
watch the class probability.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from captum.attr import (
    GuidedBackprop,
    GuidedGradCam,
    IntegratedGradients,
    LayerAttribution,
    LayerGradCam,
    Occlusion,
    Saliency,
)
from torch import nn

from classifier.explain.deconvnet import deconvolution
from classifier.explain.layer_info import LayerInfo
from classifier.explain.predict import device_of
from classifier.explain.safety import exclusive
from classifier.outputs import PredictionOnly, main_logits

METHODS = {
    "saliency": "Saliency (gradient)",
    "guided": "Guided backprop",
    "deconv": "Deconvnet (ZFNet)",
    "gradcam": "Grad-CAM",
    "guided_gradcam": "Guided Grad-CAM",
    "ig": "Integrated gradients",
}
LAYER_METHODS = {"gradcam", "guided_gradcam"}


def gradcam_layers(layers: list[LayerInfo]) -> list[LayerInfo]:
    """Layers Grad-CAM can use: spatial maps (token layers have no channel-by-position
    layout for it), best last: the last map before global pooling is the usual choice."""
    return [layer for layer in layers if not layer.tokens and layer.grid != (1, 1)]


def attribute(
    model: nn.Module,
    x: torch.Tensor,
    method: str,
    target: int,
    layer: LayerInfo | None = None,
    ig_steps: int = 32,
    ig_batch: int = 8,
) -> torch.Tensor:
    """Attribution of class ``target`` for the first image of ``x``: (C, H, W), or
    (1, H, W) for Grad-CAM, upsampled from its layer to the input size."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if method in LAYER_METHODS and (layer is None or layer.tokens):
        raise ValueError(f"{METHODS[method]} needs a spatial layer")
    if method == "deconv":
        return deconvolution(model, x, target)
    with exclusive(model):
        inp = x[:1].to(device_of(model)).clone().requires_grad_(True)
        module = model.get_submodule(layer.name) if layer is not None else None
        forward = PredictionOnly(model)  # captum needs one tensor of logits (MSDNet returns its exits)
        if method == "saliency":
            attr = Saliency(forward).attribute(inp, target=target, abs=False)
        elif method == "guided":
            attr = GuidedBackprop(forward).attribute(inp, target=target)
        elif method == "ig":
            attr = IntegratedGradients(forward).attribute(
                inp, baselines=torch.zeros_like(inp), target=target, n_steps=ig_steps, internal_batch_size=ig_batch
            )
        elif method == "gradcam":
            cam = LayerGradCam(forward, module).attribute(inp, target=target, relu_attributions=True)
            attr = LayerAttribution.interpolate(cam, tuple(inp.shape[-2:]), interpolate_mode="bilinear")
        else:
            attr = GuidedGradCam(forward, module).attribute(inp, target=target)
    return attr[0].detach().float().cpu()


@dataclass
class OcclusionMap:
    """``probability[y, x]``: the class probability averaged over every occluder position
    that covered pixel (y, x); ``base``: the probability with nothing occluded."""

    probability: np.ndarray
    base: float
    window: int
    stride: int


def occlusion_positions(height: int, width: int, window: int, stride: int) -> int:
    """How many occluder positions captum's ``Occlusion`` evaluates: along each side one
    per stride, the last one hanging over the border so every pixel is covered."""
    along = lambda side: 1 + max(0, -(-(side - window) // stride))  # noqa: E731  (ceil division)
    return along(height) * along(width)


def occlusion(
    model: nn.Module,
    x: torch.Tensor,
    target: int,
    window: int,
    stride: int,
    batch: int = 16,
    progress: Callable[[int, int], None] | None = None,
) -> OcclusionMap:
    """Slide a ``window``-pixel square of zeros (the dataset mean, after normalisation)
    over the image in steps of ``stride`` and record the probability of ``target``.

    captum's ``Occlusion`` returns, per pixel, the average drop in the output over the
    positions that covered it; the probability map is the unoccluded probability minus
    that drop. captum lets the last position in each row and column hang over the border,
    so every pixel is covered. ``batch`` occluded images go through the model in one
    forward pass (captum's ``perturbations_per_eval``; ``bench/occlusion.py`` measures
    the gain over one at a time); ``progress(done, total)`` hears after each such pass.
    """
    total = -(-occlusion_positions(*x.shape[-2:], window, stride) // batch)
    calls = []

    with exclusive(model):
        inp = x[:1].to(device_of(model))

        def probabilities(batch_x: torch.Tensor) -> torch.Tensor:
            return main_logits(model(batch_x)).softmax(1)

        def occluded(batch_x: torch.Tensor) -> torch.Tensor:
            calls.append(len(batch_x))  # the first call is captum's look at the plain image
            if progress and len(calls) > 1:
                progress(len(calls) - 1, total)
            return probabilities(batch_x)

        with torch.no_grad():
            base = float(probabilities(inp)[0, target])
            c = inp.shape[1]
            drop = Occlusion(occluded).attribute(
                inp,
                sliding_window_shapes=(c, window, window),
                strides=(c, stride, stride),
                baselines=0.0,
                target=target,
                perturbations_per_eval=batch,
            )
    drop = drop[0, 0].float().cpu().numpy()
    return OcclusionMap(np.clip(base - drop, 0.0, 1.0), base, window, stride)
