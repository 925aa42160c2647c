"""The layers an explanation can target, and where each of their units looks.

The list is the Architectures page's own (``analyze(...).rows``), kept to modules whose
output is a map the app can show: a spatial map (C, H, W), or ViT-style tokens (T, D)
whose patch tokens form a square grid after a class token. Attention matrices
(heads, T, T) are left to the Attention tab. Each layer carries the
theoretical receptive field from the shape analysis, which turns a unit (i, j) into the
box of input pixels that can influence it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from classifier.analysis import analyze


def _pair(v) -> tuple[float, float]:
    return (float(v[0]), float(v[1])) if isinstance(v, (tuple, list)) else (float(v), float(v))


@dataclass(frozen=True)
class LayerInfo:
    """One explainable layer. ``rf``/``stride``/``start`` are (H, W) pairs in input
    pixels (``start``: centre of the first unit's field); ``rf`` is None where the shape
    analysis cannot place a unit's field in the image (tokens after attention), and the
    whole image is then the honest answer."""

    name: str
    type: str
    channels: int
    grid: tuple[int, int]
    tokens: bool
    rf: tuple[float, float] | None
    stride: tuple[float, float] | None
    start: tuple[float, float] | None

    @property
    def label(self) -> str:
        h, w = self.grid
        if self.rf is None:
            field = "global field"
        elif self.rf[0] == self.rf[1]:
            field = f"RF {self.rf[0]:g}px"
        else:
            field = f"RF {self.rf[0]:g}×{self.rf[1]:g}px"
        return f"{self.name} ({self.type}, {self.channels}×{h}×{w}, {field})"

    def box(self, unit: tuple[int, int], image_size: tuple[int, int]) -> tuple[int, int, int, int]:
        """The receptive field of ``unit`` (row, column) as (top, left, bottom, right)
        pixel bounds, bottom/right exclusive, clipped to an image of ``image_size`` (H, W)."""
        h, w = image_size
        if self.rf is None:
            return 0, 0, h, w
        bounds = []
        for axis, (index, limit) in enumerate(zip(unit, (h, w))):
            centre = self.start[axis] + index * self.stride[axis]
            half = (self.rf[axis] - 1) / 2
            lo = max(0, math.floor(centre - half))
            hi = min(limit, math.floor(centre + half) + 1)
            bounds.append((lo, max(hi, lo + 1)))
        (top, bottom), (left, right) = bounds
        return top, left, bottom, right


def token_grid(num_tokens: int) -> tuple[int, int] | None:
    """(g, g) when ``num_tokens`` is a class token plus a square grid of patches."""
    g = math.isqrt(max(num_tokens - 1, 0))
    return (g, g) if g > 0 and g * g == num_tokens - 1 else None


def as_maps(output: torch.Tensor) -> torch.Tensor:
    """A layer's output as (B, C, H, W): spatial maps as they are, tokens (B, T, D) as
    D maps over the patch grid, without the class token."""
    if output.dim() == 4:
        return output
    grid = token_grid(output.shape[1]) if output.dim() == 3 else None
    if grid is None:
        raise ValueError(f"a layer output of shape {tuple(output.shape)} is not a map")
    return output[:, 1:, :].transpose(1, 2).reshape(output.shape[0], output.shape[2], *grid)


def explainable_layers(
    model_name: str, input_size: tuple[int, int, int], model: nn.Module | None = None
) -> list[LayerInfo]:
    """Modules of ``model_name`` at ``input_size`` whose output is a map, in execution order.

    ``model`` (the loaded instance) restricts the list to its own submodules; rows the
    analysis gives for functional ops (an ``add``, a ``flatten``) are not modules and so
    cannot be hooked.
    """
    modules = {n for n, _ in model.named_modules()} if model is not None else None
    layers = []
    for row in analyze(model_name, input_size=tuple(input_size)).rows:
        shape = row.output_shape
        if shape is None or (modules is not None and row.name not in modules) or row.type[:1].islower():
            continue
        attention_matrix = row.rf is None and len(shape) == 3 and shape[1] == shape[2] and token_grid(shape[1])
        if len(shape) == 3 and not attention_matrix:
            c, h, w = shape
            tokens = False
        elif len(shape) == 2 and token_grid(shape[0]):
            (h, w), c, tokens = token_grid(shape[0]), shape[1], True
        else:
            continue
        layers.append(
            LayerInfo(
                name=row.name,
                type=row.type,
                channels=int(c),
                grid=(int(h), int(w)),
                tokens=tokens,
                rf=None if tokens or row.rf is None else _pair(row.rf),
                stride=None if tokens or row.rf is None else _pair(row.stride),
                start=None if tokens or row.rf is None else _pair(row.start),
            )
        )
    return layers


def find_layer(layers: list[LayerInfo], name: str) -> LayerInfo:
    for layer in layers:
        if layer.name == name:
            return layer
    close = ", ".join(layer.name for layer in layers[:8])
    raise ValueError(f"no explainable layer {name!r}; layers are named like {close}, ...")


# Layers whose output is a unit's own response: what activations, the deconvnet and the
# effective receptive field are about. A Dropout or Identity only repeats its input.
ACTIVATION_TYPES = {"ReLU", "ReLU6", "LeakyReLU", "PReLU", "ELU", "GELU", "SiLU", "Mish", "Hardswish",
                    "Hardsigmoid", "Sigmoid", "Tanh", "ScaledTanh"}


PASS_THROUGH_TYPES = {"Dropout", "Dropout2d", "Identity", "DropPath"}


def default_layer(layers: list[LayerInfo]) -> int:
    """Index of the activation layer nearest the middle of the net (when the net has none,
    the layer nearest the middle that is not a mere copy of its input), the first layer
    worth looking at."""
    middle = len(layers) // 2
    acts = [i for i, layer in enumerate(layers) if layer.type in ACTIVATION_TYPES]
    own = [i for i, layer in enumerate(layers) if layer.type not in PASS_THROUGH_TYPES] or list(range(len(layers)))
    return min(acts or own, key=lambda i: (abs(i - middle), i))


def default_layer_reason(layers: list[LayerInfo]) -> str:
    """One sentence on why :func:`default_layer` picks its layer in this net, for the page
    to show beside the choice."""
    i = default_layer(layers)
    layer = layers[i]
    where = f"layer {i + 1} of the {len(layers)} the app can show"
    if layer.type not in ACTIVATION_TYPES:
        return f"{layer.name} is the layer nearest the middle ({where}): this net has no activation module to prefer."
    if layer.rf is None:
        field = "each unit already mixes every patch of the image (attention)"
    else:
        (rh, rw), (gh, gw) = layer.rf, layer.grid
        field = f"each unit sees {rh:g}×{rw:g} px of the image on a {gh}×{gw} grid"
    return (
        f"{layer.name} is the {layer.type} nearest the middle ({where}): past the first layers' edge and colour "
        f"detectors, short of the last layers' class-specific maps, and {field}."
    )


def uses_relu(layers: list[LayerInfo]) -> bool:
    """The deconvnet (Zeiler & Fergus) is defined through ReLUs: without them captum's
    Deconvolution is a plain gradient."""
    return any(layer.type in {"ReLU", "ReLU6", "LeakyReLU"} for layer in layers)


class _Reached(Exception):
    """Raised by the hook once the layer's output is in hand: the rest of the net is not needed."""


def output_up_to(model: nn.Module, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``module``'s output for ``x``, running ``model`` only as far as that module (the
    first element where a module returns a tuple). Gradients flow if ``x`` needs them."""
    got = []

    def hook(_module, _inputs, output):
        got.append(output[0] if isinstance(output, (tuple, list)) else output)
        raise _Reached

    handle = module.register_forward_hook(hook)
    try:
        model(x)
    except _Reached:
        pass
    finally:
        handle.remove()
    if not got:
        raise ValueError(f"{type(module).__name__} did not run in the forward pass on this input")
    return got[0]
