"""One model's view of one image, laid out so several models can stand side by side.

Networks disagree about almost everything a page could line up by: depth, layer names,
input size. What they share is resolution. Every model card lists its stage outputs as
(module, channels, stride), so the feature maps of any two nets can be put in rows of
equal stride — ResNet's ``layer2`` beside DenseNet's ``denseblock2`` at stride 8. Where
the card's stages stop short of the classifier (a ViT's card names only its patch
embedding, the last block of an MSDNet comes long after its first), the last feature map
before the head is added as one more row, so each net's final picture of the image is
always there to compare.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from classifier.explain import (
    Activations,
    LayerInfo,
    Prediction,
    attribute,
    explainable_layers,
    gradcam_layers,
    map_tiles,
    occlusion,
)
from classifier.explain import figures
from classifier.explain.layer_info import as_maps
from classifier.explain.predict import device_of, top_predictions
from classifier.explain.render import colormap, grid, magnitude, resize
from classifier.explain.safety import exclusive
from classifier.outputs import main_logits
from classifier.registry import get_card
from classifier.weights import LoadedModel, Preprocess

METHODS = {
    "guided": "Guided backprop",
    "deconv": "Deconvnet (ZFNet)",
    "gradcam": "Grad-CAM",
    "occlusion": "Occlusion",
}
# Occluder side and step as fractions of the input side: 56 px in steps of 28 on 224×224,
# 8 px in steps of 4 on 32×32 — 49 positions either way, so a comparison of several
# large nets stays within seconds per net on a CPU.
OCCLUDER = 1 / 4
LAST = "last"  # the row key of the last map before the classifier


@dataclass(frozen=True)
class StageSpec:
    """A layer to show in a stride row. ``last`` marks the added final map."""

    module: str
    channels: int
    stride: int
    last: bool = False

    @property
    def row(self) -> int | str:
        return LAST if self.last else self.stride


def _inside(layer: str, module: str) -> bool:
    return layer == module or layer.startswith(module + ".")


def stage_specs(name: str, input_size: tuple[int, int, int], layers: list[LayerInfo]) -> list[StageSpec]:
    """The card's stages, plus the last non-pooling map when it comes after all of them.

    ``layers`` are the model's explainable layers (execution order); they place the last
    map and tell whether it lies inside the deepest stage (ResNet's ``layer4.2.relu_out``
    is ``layer4``'s own output, so nothing is added there)."""
    specs = [StageSpec(s.module, s.channels, s.stride) for s in get_card(name).stages]
    maps = [layer for layer in layers if layer.grid != (1, 1)]
    last = next((layer for layer in reversed(maps) if "Pool" not in layer.type), None)
    if last is None:
        return specs
    if specs:
        deepest = specs[-1].module
        ends = [i for i, layer in enumerate(maps) if _inside(layer.name, deepest)]
        if not ends or maps.index(last) <= max(ends):
            return specs
    stride = round(last.stride[0]) if last.stride else round(input_size[1] / last.grid[0])
    return [*specs, StageSpec(last.name, last.channels, stride, last=True)]


@dataclass
class StageMaps:
    """One stage's maps for the image, ranked as the Inspect page ranks them."""

    spec: StageSpec
    acts: Activations

    @property
    def maps(self) -> torch.Tensor:
        return self.acts.maps

    def mean_map(self) -> np.ndarray:
        """The channel mean: where the stage as a whole responds."""
        return self.maps.mean(0).numpy()

    def describe(self) -> str:
        c, h, w = self.maps.shape
        where = "last map before the classifier" if self.spec.last else f"stride {self.spec.stride}"
        return f"{self.spec.module}: {c} channels, {h}×{w} ({where})"

    def figure(self, k: int = 8, tile: int = 56, pad: int = 3) -> np.ndarray:
        """The channel-mean map (large, on its own scale) beside the ``k`` strongest
        channels (two rows, sharing one scale, strongest first)."""
        k = min(k, self.maps.shape[0])
        big = 2 * tile + pad
        mean = resize(colormap(self.mean_map()), (big, big), smooth=False)
        tiles = grid(map_tiles(self.acts, k, tile), columns=-(-k // 2), pad=pad)
        sheet = np.full((big, big + 4 * pad + tiles.shape[1], 3), 255, np.uint8)
        sheet[:, :big] = mean
        sheet[: tiles.shape[0], big + 4 * pad:] = tiles
        return sheet


def logits_and_stages(model: torch.nn.Module, x: torch.Tensor, specs: list[StageSpec]) -> tuple[torch.Tensor, list[StageMaps]]:
    """The first image's logits and every stage's output, from one forward pass: a
    second pass for the maps would double the column's cost (0.5 s for ViT-B/16 here)."""
    captured: dict[str, torch.Tensor] = {}
    hooks = [model.get_submodule(s.module).register_forward_hook(
        lambda module, inputs, out, name=s.module: captured.setdefault(name, out)) for s in specs]
    try:
        with exclusive(model), torch.no_grad():
            scores = main_logits(model(x[:1].to(device_of(model))))[0].float().cpu()
    finally:
        for h in hooks:
            h.remove()
    return scores, stage_maps(model, [captured[s.module] for s in specs], specs)


def stage_maps(model: torch.nn.Module, outputs: list[torch.Tensor], specs: list[StageSpec]) -> list[StageMaps]:
    """Each stage's maps, its channels ordered by their strongest unit."""
    result = []
    for spec, out in zip(specs, outputs):
        maps = as_maps(out)[0].float().cpu()
        strength = maps.flatten(1).amax(1)
        order = [int(c) for c in strength.argsort(descending=True, stable=True)]
        info = LayerInfo(spec.module, type(model.get_submodule(spec.module)).__name__, maps.shape[0],
                         tuple(maps.shape[1:]), out.dim() == 3, None, None, None)
        result.append(StageMaps(spec, Activations(info, maps, order)))
    return result


def frame(preprocess: Preprocess, picture_size: tuple[int, int]) -> tuple[float, float, float, float]:
    """Where the network's input lies in the original picture, as fractions of its
    height and width (top, left, bottom, right): the centre crop of the resized picture.
    Two nets with different crops see different parts of a photo; comparing their
    attributions needs this."""
    width, height = picture_size
    scale = preprocess.resize_size / min(width, height)
    ch, cw = preprocess.crop_size
    fh, fw = min(1.0, ch / (height * scale)), min(1.0, cw / (width * scale))
    return (1 - fh) / 2, (1 - fw) / 2, (1 + fh) / 2, (1 + fw) / 2


@dataclass
class ModelView:
    """What one model makes of the image: its input, top-5 and stage maps."""

    label: str
    loaded: LoadedModel
    image: np.ndarray
    frame: tuple[float, float, float, float]
    x: torch.Tensor
    predictions: list[Prediction]
    layers: list[LayerInfo]
    stages: list[StageMaps]

    @property
    def top1(self) -> Prediction:
        return self.predictions[0]

    def stage(self, row: int | str) -> StageMaps | None:
        """The stage in ``row`` (a stride, or LAST); for LAST a net without an added last
        map shows its deepest stage, which is its last map."""
        for s in self.stages:
            if s.spec.row == row:
                return s
        if row == LAST and self.stages:
            return self.stages[-1]
        return None


def look(loaded: LoadedModel, picture: Image.Image, label: str | None = None, k: int = 5) -> ModelView:
    """Preprocess ``picture`` as ``loaded``'s weights expect, classify it and read every
    stage's maps."""
    cropped = loaded.preprocess.crop(picture)
    x = loaded.preprocess.tensor(cropped)
    layers = explainable_layers(loaded.name, tuple(loaded.input_size), loaded.model)
    specs = stage_specs(loaded.name, tuple(loaded.input_size), layers)
    scores, stages = logits_and_stages(loaded.model, x, specs)
    return ModelView(
        label=label or loaded.name,
        loaded=loaded,
        image=figures.rgb(np.asarray(cropped)),
        frame=frame(loaded.preprocess, picture.size),
        x=x,
        predictions=top_predictions(scores, loaded.class_names, k=k),
        layers=layers,
        stages=stages,
    )


def stride_rows(views: list[ModelView]) -> list[int | str]:
    """The rows of the side-by-side view: every stride any model has, smallest first,
    then the last-map row if some model needed one."""
    strides = sorted({s.spec.stride for v in views for s in v.stages if not s.spec.last})
    last = any(s.spec.last for v in views for s in v.stages)
    return [*strides, LAST] if last else strides


@dataclass
class Explanation:
    """One attribution of the model's own top-1 class. ``strength`` (H, W) is larger
    where the pixel matters more, in the model's input frame; ``picture`` is what to
    show; ``note`` names the layer or occluder used."""

    method: str
    target: int
    strength: np.ndarray
    picture: np.ndarray
    note: str


def explain(view: ModelView, method: str, target: int | None = None) -> Explanation:
    """``method`` (a key of METHODS) for ``target`` (default: the model's top-1)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    target = view.top1.index if target is None else target
    model, x, image = view.loaded.model, view.x, view.image
    if method == "occlusion":
        window = max(2, round(image.shape[0] * OCCLUDER))
        stride = max(1, window // 2)
        result = occlusion(model, x, target, window, stride)
        return Explanation(method, target, result.base - result.probability,
                           figures.occlusion_figure(result, image, 0.75),
                           f"{window}px occluder in steps of {stride}px; dark = the class probability falls")
    layer = None
    if method == "gradcam":
        spatial = gradcam_layers(view.layers)
        if not spatial:
            raise ValueError(f"{view.loaded.name} has no spatial layer for Grad-CAM")
        layer = spatial[-1]
    attr = attribute(model, x, method, target, layer=layer)
    strength = attr[0].numpy() if method == "gradcam" else magnitude(attr)
    opacity = 0.6 if method == "gradcam" else 1.0
    note = f"at {layer.name} ({layer.grid[0]}×{layer.grid[1]})" if layer else "through the whole network"
    return Explanation(method, target, strength, figures.attribution_figure(attr, method, image, opacity), note)
