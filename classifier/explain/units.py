"""What a unit detects: its dataset examples, as in Figure 2 of ZFNet (Zeiler and Fergus,
"Visualizing and Understanding Convolutional Networks", 2013, arXiv 1311.2901).

For one layer, every channel's *k* strongest responses over a whole image set are found
in one streamed pass: each image's map is reduced to its largest value per channel (the
unit that fires hardest, and where), and a running top-k per channel keeps the best
(image, position) pairs, so memory is (channels × k) whatever the set's size. The
forward pass stops at the layer (a hook raises once it has the output), so an early layer
costs a fraction of a full pass. The result is cached on disk, keyed by the model, its
weights, the layer, the set's fingerprint, k and the preprocessing: any change of these
is a new key, so a stale result is never read back.

Each example is then shown the paper's way: the image patch under the unit's theoretical
receptive field (clipped to the image), beside the unit's deconvnet projection cut to
the same box; a channel's k projections form one grid and its k patches another.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from captum.attr import NeuronDeconvolution
from torch import nn

from classifier.data.download import data_dir
from classifier.explain.figures import rgb
from classifier.explain.layer_info import LayerInfo, as_maps, output_up_to
from classifier.explain.predict import device_of
from classifier.explain.render import grid, png_bytes, resize, signed_image
from classifier.explain.safety import exclusive
from classifier.explain.unit_sets import ExampleSet
from classifier.weights.loading import RANDOM_SEED, LoadedModel
from classifier.weights.preprocess import Preprocess

BATCH = 16
CACHE_VERSION = 1  # bump when the stored result's meaning changes

Progress = Callable[[int, int], None]


def cache_dir(path: str | os.PathLike | None = None) -> Path:
    """Where results live: an explicit path, else $CLASSIFIER_UNITS_DIR, else a ``units``
    folder in the data cache (``data-cache/units``, ignored by git)."""
    return Path(path or os.environ.get("CLASSIFIER_UNITS_DIR") or data_dir() / "units")


def weights_key(loaded: LoadedModel, source) -> str:
    """What identifies the weights: the entry id, the random seed, or the SHA-256 of the
    checkpoint's bytes (a retrained file at the same path is other weights)."""
    if loaded.source == "random":
        return f"random:{RANDOM_SEED}"
    if loaded.source != "checkpoint":
        return loaded.source
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    return "checkpoint:" + hashlib.sha256(data).hexdigest()


def result_key(model: str, weights: str, layer: str, fingerprint: str, k: int, preprocess: Preprocess) -> str:
    text = json.dumps([CACHE_VERSION, model, weights, layer, fingerprint, k, preprocess.to_dict()])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass
class Examples:
    """The ``k`` strongest units of each channel over a set: ``values`` (C, k) from the
    strongest down, ``images`` (C, k) indices into the set, ``positions`` (C, k) flat
    indices into the layer's grid. ``cached`` says whether it was read from disk."""

    layer: LayerInfo
    values: torch.Tensor
    images: torch.Tensor
    positions: torch.Tensor
    count: int
    key: str
    cached: bool = False

    @property
    def k(self) -> int:
        return self.values.shape[1]

    def unit(self, channel: int, rank: int) -> tuple[int, int]:
        """(row, column) of the channel's ``rank``-th example in the layer's grid."""
        return divmod(int(self.positions[channel, rank]), self.layer.grid[1])

    def strongest_channels(self) -> list[int]:
        """Channels by their single strongest response over the set, strongest first."""
        return [int(c) for c in self.values[:, 0].argsort(descending=True, stable=True)]


def _layer_maps(model: nn.Module, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The layer's output for ``x`` as (B, C, H, W), running the net only up to it."""
    return as_maps(output_up_to(model, module, x)).float()


def _merge(best: tuple[torch.Tensor, ...], maps: torch.Tensor, first: int, k: int) -> tuple[torch.Tensor, ...]:
    """Fold one batch of maps (B, C, H, W) into the running top-k per channel."""
    values, positions = maps.flatten(2).max(2)  # each image's strongest unit per channel, (B, C)
    b, c = values.shape
    index = torch.arange(first, first + b).expand(c, b)
    v = torch.cat([best[0], values.T.cpu()], 1)
    i = torch.cat([best[1], index], 1)
    p = torch.cat([best[2], positions.T.cpu()], 1)
    top = v.topk(min(k, v.shape[1]), dim=1)
    return top.values, i.gather(1, top.indices), p.gather(1, top.indices)


def _batches(images: ExampleSet, preprocess: Preprocess, size: int):
    for first in range(0, len(images), size):
        stop = min(first + size, len(images))
        yield first, torch.cat([preprocess(images.image(i)) for i in range(first, stop)])


def search(
    model: nn.Module, layer: LayerInfo, images: ExampleSet, preprocess: Preprocess, k: int = 9,
    progress: Progress | None = None, batch: int = BATCH,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One pass over ``images``: (values, image indices, positions), each (C, min(k, n)).
    ``progress(done, total)`` hears after every batch."""
    if len(images) == 0:
        raise ValueError("the image set is empty")
    c = layer.channels
    best = (torch.empty(c, 0), torch.empty(c, 0, dtype=torch.long), torch.empty(c, 0, dtype=torch.long))
    device = device_of(model)
    with exclusive(model), torch.inference_mode():
        module = model.get_submodule(layer.name)
        for first, x in _batches(images, preprocess, batch):
            best = _merge(best, _layer_maps(model, module, x.to(device)), first, k)
            if progress:
                progress(first + len(x), len(images))
    return best


def cached_examples(
    loaded: LoadedModel, weights: str, layer: LayerInfo, images: ExampleSet, k: int = 9,
    root: str | os.PathLike | None = None,
) -> Examples | None:
    """The stored result for this (model, weights, layer, set, k), or None; a damaged
    file counts as none (it is searched again and rewritten)."""
    key = result_key(loaded.name, weights, layer.name, images.fingerprint, k, loaded.preprocess)
    stored = cache_dir(root) / key / "examples.pt"
    if not stored.is_file():
        return None
    try:
        saved = torch.load(stored, weights_only=True)
        return Examples(layer, saved["values"], saved["images"], saved["positions"], int(saved["count"]), key, True)
    except (OSError, RuntimeError, KeyError, ValueError, EOFError):
        return None


def dataset_examples(
    loaded: LoadedModel, weights: str, layer: LayerInfo, images: ExampleSet, k: int = 9,
    progress: Progress | None = None, root: str | os.PathLike | None = None,
) -> Examples:
    """The ``k`` strongest units of every channel of ``layer`` over ``images``, read from
    the cache when this (model, weights, layer, set, k) was searched before. ``weights``
    is :func:`weights_key` of the loaded weights."""
    found = cached_examples(loaded, weights, layer, images, k, root)
    if found is not None:
        return found
    key = result_key(loaded.name, weights, layer.name, images.fingerprint, k, loaded.preprocess)
    folder = cache_dir(root) / key
    values, index, positions = search(loaded.model, layer, images, loaded.preprocess, k, progress)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".examples-{os.getpid()}.pt"
    torch.save({"values": values, "images": index, "positions": positions, "count": len(images)}, tmp)
    os.replace(tmp, folder / "examples.pt")  # a reader never sees half a file
    (folder / "meta.json").write_text(json.dumps(
        {"model": loaded.name, "weights": weights, "layer": layer.name, "set": images.description,
         "fingerprint": images.fingerprint, "images": len(images), "k": k}, indent=2))
    return Examples(layer, values, index, positions, len(images), key)


# --- the examples as pictures ---------------------------------------------------------


@dataclass
class UnitView:
    """One example: which image, which unit, how strongly, its receptive-field ``box``
    (top, left, bottom, right) in the network's input, the image patch in that box and
    the unit's deconvnet projection cut to the same box (both (h, w, 3) uint8)."""

    image: int
    name: str
    unit: tuple[int, int]
    value: float
    box: tuple[int, int, int, int]
    patch: np.ndarray
    projection: np.ndarray


def _batch_selector(channel: int, units: list[tuple[int, int]]):
    """captum's neuron selector for a batch in which example b looks at ``units[b]``."""
    rows = torch.tensor([u[0] for u in units])
    cols = torch.tensor([u[1] for u in units])
    return lambda out: as_maps(out)[torch.arange(len(units)), channel, rows, cols]


def channel_views(loaded: LoadedModel, examples: Examples, images: ExampleSet, channel: int) -> list[UnitView]:
    """The channel's examples with their patches and projections (one batched deconvnet
    pass for all k: examples do not interact in eval mode)."""
    n = examples.k
    units = [examples.unit(channel, r) for r in range(n)]
    picked = [int(examples.images[channel, r]) for r in range(n)]
    crops = [loaded.preprocess.crop(images.image(i)) for i in picked]
    x = torch.cat([loaded.preprocess.tensor(c) for c in crops]).to(device_of(loaded.model))
    model = loaded.model
    with exclusive(model):
        attr = NeuronDeconvolution(model, model.get_submodule(examples.layer.name)).attribute(
            x.clone().requires_grad_(True), neuron_selector=_batch_selector(channel, units)
        ).detach().cpu()
    size = tuple(x.shape[-2:])
    views = []
    for r, (i, unit, crop) in enumerate(zip(picked, units, crops)):
        top, left, bottom, right = box = examples.layer.box(unit, size)
        patch = rgb(np.asarray(crop))[top:bottom, left:right]
        views.append(UnitView(i, images.names[i], unit, float(examples.values[channel, r]), box, patch,
                              signed_image(attr[r, :, top:bottom, left:right])))
    return views


def _tile(picture: np.ndarray, size: int, background: int = 255) -> np.ndarray:
    """``picture`` scaled to fit a ``size`` square without distortion (a field clipped at
    the image's edge is not square), centred on the background."""
    h, w = picture.shape[:2]
    scale = size / max(h, w)
    th, tw = max(1, round(h * scale)), max(1, round(w * scale))
    out = np.full((size, size, 3), background, np.uint8)
    top, left = (size - th) // 2, (size - tw) // 2
    out[top:top + th, left:left + tw] = resize(picture, (th, tw), smooth=scale < 1)  # small fields stay crisp
    return out


def channel_figure(views: list[UnitView], tile: int = 72) -> np.ndarray:
    """ZFNet's Figure 2 for one channel: its projections in a square grid on the left, the
    image patches they came from in the same places on the right."""
    columns = max(1, int(np.ceil(np.sqrt(len(views)))))
    projections = grid([_tile(v.projection, tile) for v in views], columns=columns, pad=3)
    patches = grid([_tile(v.patch, tile) for v in views], columns=columns, pad=3)
    gap = np.full((projections.shape[0], 12, 3), 255, np.uint8)
    return np.concatenate([projections, gap, patches], 1)


def channel_png(loaded: LoadedModel, examples: Examples, images: ExampleSet, channel: int,
                tile: int = 72, root: str | os.PathLike | None = None) -> bytes:
    """The channel's figure as PNG bytes, cached beside the search result."""
    path = cache_dir(root) / examples.key / f"channel-{channel}-{tile}.png"
    if path.is_file():
        return path.read_bytes()
    data = png_bytes(channel_figure(channel_views(loaded, examples, images, channel), tile))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return data
