"""How a layer's features form during training, after ZFNet's Figure 4 (Zeiler and
Fergus, "Visualizing and Understanding Convolutional Networks", 2013, arXiv 1311.2901).

The paper follows a fixed handful of feature maps through training: at each chosen
epoch, each map is shown by its strongest activation over a set of images, projected
back to pixels with the deconvnet. Lower layers settle within a few epochs, upper ones
keep changing for dozens. Here the channels are picked once, as the strongest at the
last saved epoch (the features the training arrived at), and followed back through
every earlier checkpoint of the run.

A run keeps ``best.pt`` and ``last.pt``; checkpoints of other epochs are read from
``runs/<id>/epochs/epoch-NNN.pt`` (NNN: epochs completed) when the run saved them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from classifier.compare.export import text_image
from classifier.compare.image_sets import batch
from classifier.explain import LayerInfo, Projection, explainable_layers, find_layer, layer_output, neuron_deconvolution
from classifier.explain import figures
from classifier.explain.render import colormap, grid, resize
from classifier.train.runs import RunDir
from classifier.weights import load_weights, read_checkpoint

EPOCH_FILE = re.compile(r"epoch-(\d+)\.pt")


@dataclass(frozen=True)
class SavedEpoch:
    """A checkpoint of the run after ``epoch`` epochs; ``kind``: where it came from
    (``epoch`` for the per-epoch files, ``best`` or ``last``)."""

    epoch: int
    path: Path
    kind: str

    @property
    def label(self) -> str:
        return f"epoch {self.epoch}" + ("" if self.kind == "epoch" else f" ({self.kind}.pt)")


def saved_epochs(run: RunDir) -> list[SavedEpoch]:
    """The run's checkpoints, one per epoch, oldest first. best.pt and last.pt count
    for the epoch they record unless a per-epoch file covers it."""
    found: dict[int, SavedEpoch] = {}
    for path in sorted(run.epochs_dir.glob("epoch-*.pt")):
        m = EPOCH_FILE.fullmatch(path.name)
        if m:
            found[int(m.group(1))] = SavedEpoch(int(m.group(1)), path, "epoch")
    for kind, path in (("best", run.best_checkpoint), ("last", run.last_checkpoint)):
        if path.is_file():
            epoch = read_checkpoint(path).extra.get("epoch")
            if isinstance(epoch, int) and epoch not in found:
                found[epoch] = SavedEpoch(epoch, path, kind)
    return [found[e] for e in sorted(found)]


def describe_saved(run: RunDir, saved: list[SavedEpoch]) -> str:
    """One line naming the checkpoints a run has, and how to get one per epoch when the
    run did not keep them: so a short list is explained by the files, not guessed at."""
    files = ", ".join(s.path.relative_to(run.path).as_posix() for s in saved)
    text = f"{len(saved)} checkpoint{'' if len(saved) == 1 else 's'} saved: {files}."
    if not any(s.kind == "epoch" for s in saved):
        text += (" This run kept only best.pt and last.pt; train with “Keep every epoch's weights” "
                 "(--keep-epochs) to save one per epoch.")
    return text


def runs_with_two_checkpoints(runs: list[RunDir]) -> list[RunDir]:
    """The runs that can be compared with themselves: those with at least two epochs saved."""
    return [r for r in runs if len(saved_epochs(r)) >= 2]


@dataclass
class Feature:
    """One channel at one epoch: its strongest unit over the image set (``image``: which
    image), that unit's deconvnet projection, and the channel's map on that image."""

    image: int
    projection: Projection
    map: torch.Tensor


@dataclass
class Evolution:
    """The followed ``channels`` of ``layer`` at each saved epoch (``features[e][c]``).
    ``images``: the set as the network saw it, (H, W, 3) uint8 each."""

    layer: LayerInfo
    channels: list[int]
    epochs: list[SavedEpoch]
    features: list[list[Feature]]
    images: list[np.ndarray]


def strongest_channels(maps: torch.Tensor, k: int) -> list[int]:
    """The ``k`` channels of (B, C, H, W) ``maps`` with the largest activation anywhere."""
    strength = maps.amax(dim=(0, 2, 3))
    return [int(c) for c in strength.argsort(descending=True, stable=True)[:k]]


def features_at(model: torch.nn.Module, x: torch.Tensor, layer: LayerInfo, channels: list[int], maps: torch.Tensor | None = None) -> list[Feature]:
    """Each channel's strongest unit over the batch ``x``, projected to pixels."""
    maps = layer_output(model, x, layer) if maps is None else maps
    _, _, h, w = maps.shape
    out = []
    for c in channels:
        b, rest = divmod(int(maps[:, c].flatten().argmax()), h * w)
        unit = divmod(rest, w)
        projection = neuron_deconvolution(model, x[b:b + 1], layer, c, unit)
        out.append(Feature(b, Projection(c, unit, float(maps[b, c, unit[0], unit[1]]), layer.box(unit, tuple(x.shape[-2:])),
                                         projection), maps[b, c]))
    return out


def follow_features(
    model_name: str,
    epochs: list[SavedEpoch],
    layer_name: str,
    images: list[Image.Image],
    k: int = 6,
    progress: Callable[[int, int], None] | None = None,
) -> Evolution:
    """Load each saved epoch in turn and follow the ``k`` channels of ``layer_name`` that
    are strongest at the last one; ``progress(done, total)`` hears after each epoch."""
    if not epochs:
        raise ValueError("the run has no saved checkpoints")
    last = load_weights(model_name, epochs[-1].path)
    x = batch(images, last.preprocess)
    layer = find_layer(explainable_layers(model_name, tuple(last.input_size), last.model), layer_name)
    final_maps = layer_output(last.model, x, layer)
    channels = strongest_channels(final_maps, k)
    features = []
    for n, saved in enumerate(epochs, start=1):
        if saved is epochs[-1]:
            features.append(features_at(last.model, x, layer, channels, final_maps))
        else:
            features.append(features_at(load_weights(model_name, saved.path).model, x, layer, channels))
        if progress:
            progress(n, len(epochs))
    seen = [figures.rgb(np.asarray(last.preprocess.crop(im))) for im in images]
    return Evolution(layer, channels, list(epochs), features, seen)


def epoch_figure(evo: Evolution, index: int, tile: int = 96) -> np.ndarray:
    """One epoch: for each followed channel, its map on the image where it peaks, the
    projection of that peak, and the image patch under it."""
    rows = []
    gap = np.full((tile, 4, 3), 255, np.uint8)
    for f in evo.features[index]:
        heat = resize(colormap(f.map, lo=min(0.0, float(f.map.min()))), (tile, tile), smooth=False)
        crop = resize(f.projection.crop(), (tile, tile))
        patch = resize(f.projection.patch(evo.images[f.image]), (tile, tile))
        rows.append(np.concatenate([heat, gap, crop, gap, patch], axis=1))
    return grid(rows, columns=min(3, len(rows)), pad=10)


def evolution_sheet(evo: Evolution, tile: int = 64) -> np.ndarray:
    """ZFNet's Figure 4 layout: a row per saved epoch, a column per followed channel,
    each cell the channel's strongest unit projected to pixels; epochs named at left."""
    label_width = 110
    rows = []
    for saved, feats in zip(evo.epochs, evo.features):
        cells = grid([resize(f.projection.crop(), (tile, tile)) for f in feats], columns=len(feats), pad=3)
        name = text_image(saved.label, label_width - 8, 13)[:tile]
        label = np.full((tile, label_width, 3), 255, np.uint8)
        label[: name.shape[0], : name.shape[1]] = name
        rows.append(np.concatenate([label, cells], axis=1))
    return grid(rows, columns=1, pad=4)
