"""Finished pictures of each explanation, shared by the Inspect page and the CLI so a
download and a command-line PNG show the same thing. Inputs are the results of the other
modules plus the preprocessed image as an (H, W, 3) uint8 array."""

from __future__ import annotations

import numpy as np
import torch

from classifier.explain.attention import Attention
from classifier.explain.attributions import OcclusionMap
from classifier.explain.deconvnet import Projection
from classifier.explain.erf import EffectiveField
from classifier.explain.render import colormap, draw_box, grid, magnitude, overlay, resize, signed_image

# Methods whose output is a pattern (sign and colour matter) rather than a strength map.
PATTERN_METHODS = {"guided", "deconv", "guided_gradcam"}
# How to read each map, in one line under its colour scale.
READINGS = {
    "saliency": "dark: the class score barely reacts to the pixel; pale yellow: it reacts most",
    "ig": "dark: the pixel carries none of the class score (from a black image); pale yellow: the most",
    "gradcam": "dark: the region does not raise the class score; pale yellow: it raises it most",
    "guided": "grey: no effect; colours: the pixel pattern that excites the class, in the image's own colours",
    "deconv": "grey: no effect; colours: the pixel pattern the unit responds to, in the image's own colours",
    "guided_gradcam": "grey: no effect; colours: the class's pattern, restricted to the regions Grad-CAM picks",
    "attention": "dark: the class token ignores the patch; pale yellow: it attends to it most",
    "occlusion": "dark: covering this region lowers the class probability most",
}


def scale_bar(width: int = 256, height: int = 12) -> np.ndarray:
    """The heat maps' colour ramp from their lowest (left) to their highest value."""
    return colormap(np.linspace(0, 1, width)[None].repeat(height, 0))


def rgb(image: np.ndarray) -> np.ndarray:
    """Grey (H, W) or (H, W, 1) images as (H, W, 3), so single-channel nets draw too."""
    return np.repeat(image.reshape(*image.shape[:2], 1), 3, axis=2) if image.ndim == 2 or image.shape[2] == 1 else image


def attribution_figure(attr: torch.Tensor, method: str, image: np.ndarray, opacity: float) -> np.ndarray:
    """Pattern methods as ZFNet-style signed images, the others as heat maps of their
    strength, blended over the image with ``opacity`` (1: the attribution alone)."""
    picture = signed_image(attr) if method in PATTERN_METHODS else colormap(magnitude(attr), lo=0.0)
    return overlay(rgb(image), picture, opacity)


def projection_sheet(projections: list[Projection], image: np.ndarray, tile: int = 96, columns: int = 3) -> np.ndarray:
    """ZFNet's Figure 2 layout: for each channel, its unit's projection beside the image
    patch that unit saw, both scaled to ``tile`` pixels."""
    image = rgb(image)
    pairs = [
        np.concatenate(
            [
                resize(p.crop(), (tile, tile)),
                np.full((tile, 2, 3), 255, np.uint8),
                resize(p.patch(image), (tile, tile)),
            ],
            1,
        )
        for p in projections
    ]
    return grid(pairs, columns=min(columns, len(pairs)), pad=6)


def occlusion_figure(result: OcclusionMap, image: np.ndarray, opacity: float) -> np.ndarray:
    """The class probability under the occluder, from its lowest (black) to its highest
    (pale yellow) value on this image: an untrained net's small changes stay visible."""
    return overlay(rgb(image), colormap(result.probability), opacity)


def effective_field_figure(field: EffectiveField, image: np.ndarray) -> np.ndarray:
    """The gradient of the unit (square-root scaled so its tails show) beside the image,
    each with the unit's theoretical field drawn as a green box."""
    heat = colormap(np.sqrt(field.gradient), lo=0.0)
    gap = np.full((heat.shape[0], 6, 3), 255, np.uint8)
    return np.concatenate([draw_box(heat, field.box), gap, draw_box(rgb(image), field.box)], 1)


def attention_figure(att: Attention, block: int, image: np.ndarray, opacity: float, columns: int = 6) -> np.ndarray:
    """Each head's class-token attention in ``block``, over the image."""
    h, w = image.shape[:2]
    tiles = [
        overlay(rgb(image), resize(colormap(m, lo=0.0), (h, w), smooth=False), opacity) for m in att.head_maps(block)
    ]
    return grid(tiles, columns=min(columns, len(tiles)), pad=4)


def rollout_figure(att: Attention, image: np.ndarray, opacity: float) -> np.ndarray:
    h, w = image.shape[:2]
    return overlay(rgb(image), resize(colormap(att.rollout(), lo=0.0), (h, w)), opacity)
