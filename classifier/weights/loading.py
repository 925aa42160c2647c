"""Weights for a registered model behind one call.

:func:`load_weights` returns a :class:`LoadedModel`: the network in eval mode with the
class names, the preprocessing its weights expect and a plain-words description, from

- a weights entry id (``timm/inception_v4.tf_in1k``, ``torchvision/resnet50.IMAGENET1K_V2``;
  see :mod:`classifier.weights.entries`), downloaded once into the standard cache, mapped
  by the entry's own steps and loaded into *our* module with ``strict=True``.
  ``"imagenet"`` names a model's best ImageNet entry;
- a checkpoint: a training run's file (a path) or one the user uploads (bytes), read
  with ``torch.load(weights_only=True)`` only, so a pickle that would run code is refused;
- ``"random"``: the untrained initialisation, which the description says plainly.

Training runs' checkpoints (:mod:`classifier.train.checkpoint`) carry the model name, class
names, input size and normalisation next to ``model_state``; a bare state dict (from
another tool, or ``torch.save(model.state_dict())``) is accepted too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from classifier.data.download import Progress
from classifier.registry import create_model, get_card
from classifier.weights.checkpoint import build_with, last_linear_outputs, normalise_keys, read_checkpoint
from classifier.weights.entries import WeightEntry, get_entry, weight_entries
from classifier.weights.files import WeightsError, download, read_file
from classifier.weights.labels import class_names, default_class_names
from classifier.weights.preprocess import Preprocess

RANDOM_SEED = 0
SOURCES = ("torchvision", "timm", "pytorchcv")  # an id's first part: "timm/…" is an entry, not a path


@dataclass
class LoadedModel:
    """A model ready to explain: weights loaded, eval mode, and everything needed to feed
    it an image and name its outputs."""

    name: str
    model: nn.Module
    class_names: list[str]
    preprocess: Preprocess
    input_size: tuple[int, int, int]
    description: str
    pretrained: bool
    source: str  # an entry id, "random" or "checkpoint"
    entry: WeightEntry | None = None


# --- registry entries ------------------------------------------------------------------


def imagenet_entry(model_name: str) -> WeightEntry | None:
    """The model's best ImageNet-1k entry (torchvision's first), or None."""
    return next((e for e in weight_entries(model_name) if e.dataset == "ImageNet-1k"), None)


def resolve(model_name: str | None, source: str) -> WeightEntry | None:
    """The entry a ``--weights`` value names, or None when it is not an entry (a path)."""
    if model_name:
        get_card(model_name)  # an unknown model is the registry's own one-line error
    if source == "imagenet":
        entry = imagenet_entry(model_name)
        if entry is None:
            raise WeightsError(f"{model_name} has no ImageNet weights in the registry; see `python -m classifier weights`.")
        return entry
    try:
        return get_entry(source)
    except KeyError as exc:
        if source.split("/", 1)[0] in SOURCES and not Path(source).exists():
            raise WeightsError(str(exc.args[0])) from None
    return None


def entry_state(entry: WeightEntry, progress: Progress | None = None) -> dict[str, torch.Tensor]:
    """The entry's file (downloaded when not cached) as a state dict in our names."""
    state = read_file(entry, download(entry, progress))
    for step in entry.convert:
        try:
            state = step(state)
        except (ValueError, KeyError) as exc:
            raise WeightsError(f"The weights {entry.id} do not map onto {entry.model}: {exc}.") from None
    state = normalise_keys(state)
    if entry.label_offset:
        state = _drop_background(entry, state)
    return state


def _drop_background(entry: WeightEntry, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """TF ports with 1001 outputs put a background class first; drop its row so output i
    is ImageNet class i."""
    rows = entry.num_classes + entry.label_offset
    return {
        k: v[entry.label_offset :] if v.dim() in (1, 2) and v.shape[0] == rows and k.endswith(("weight", "bias")) else v
        for k, v in state.items()
    }


def load_entry(entry: WeightEntry, progress: Progress | None = None) -> LoadedModel:
    state = entry_state(entry, progress)
    try:
        model = build_with(entry.model, state, num_classes=entry.num_classes, **entry.build)
    except WeightsError as exc:
        raise WeightsError(f"{str(exc).rstrip('.')} (weights {entry.id}).") from None
    top1 = f", reported top-1 {entry.top1:.1f} %" if entry.top1 is not None else ""
    return LoadedModel(
        name=entry.model,
        model=model,
        class_names=class_names(entry.labels),
        preprocess=entry.preprocess,
        input_size=(entry.preprocess.channels, *entry.preprocess.crop_size),
        description=f"{entry.dataset} weights from {entry.source} ({entry.source_model}.{entry.tag}{top1}).",
        pretrained=True,
        source=entry.id,
        entry=entry,
    )


# --- checkpoints ------------------------------------------------------------------------


def _load_checkpoint(model_name: str | None, source: str | Path | bytes) -> LoadedModel:
    ckpt = read_checkpoint(source)
    name = model_name or ckpt.model_name
    if name is None:
        raise WeightsError("The checkpoint does not say which model it is for; choose the model first.")
    if model_name and ckpt.model_name and ckpt.model_name != model_name:
        raise WeightsError(f"The checkpoint is for {ckpt.model_name}, not {model_name}.")
    card = get_card(name)
    num_classes = len(ckpt.class_names) if ckpt.class_names else last_linear_outputs(name, ckpt.state_dict)
    try:
        model = build_with(name, ckpt.state_dict, num_classes=num_classes, **ckpt.build)
    except TypeError:  # a file's own "build" entry naming options the builder does not take
        raise WeightsError(f"The checkpoint's build options {ckpt.build} do not fit {name}.") from None
    num_classes = num_classes or card.num_classes
    class_names = ckpt.class_names or default_class_names(num_classes)
    input_size = ckpt.input_size or card.input_size
    base = Preprocess.for_input(input_size, ckpt.mean, ckpt.std)
    origin = Path(source).name if not isinstance(source, bytes) else "an uploaded file"
    facts = ", ".join(
        f"{k.replace('_', ' ')} {v:.4g}" if isinstance(v, float) else f"{k.replace('_', ' ')} {v}"
        for k, v in ckpt.extra.items()
    )
    return LoadedModel(
        name=name,
        model=model,
        class_names=class_names,
        preprocess=base,
        input_size=tuple(input_size),
        description=f"Checkpoint from {origin}" + (f" ({facts})" if facts else "") + f": {len(class_names)} classes.",
        pretrained=True,
        source="checkpoint",
    )


# --- one entry point ----------------------------------------------------------------------


def _load_random(model_name: str) -> LoadedModel:
    card = get_card(model_name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_SEED)  # the same "untrained" net every time, so results repeat
        model = create_model(model_name)
    return LoadedModel(
        name=model_name,
        model=model,
        class_names=default_class_names(card.num_classes),
        preprocess=Preprocess.for_input(card.input_size),
        input_size=card.input_size,
        description=(
            f"Random initialisation (seed {RANDOM_SEED}): the network is untrained, so its predictions "
            "and explanations show the architecture, not anything learned."
        ),
        pretrained=False,
        source="random",
    )


def load_weights(
    model_name: str | None, source: str | Path | bytes = "random", progress: Progress | None = None
) -> LoadedModel:
    """Load ``model_name`` with weights from ``source``.

    ``source`` is a weights entry id, ``"imagenet"`` (the model's best ImageNet entry),
    ``"random"``, a checkpoint path (a training run's), or the bytes of an uploaded
    checkpoint; ``progress(name, done, total)`` hears about a download. ``model_name``
    may be None for a checkpoint that names its model. Raises :class:`WeightsError` with
    a message for the user when it cannot.
    """
    if source == "random":
        return _load_random(model_name)
    entry = resolve(model_name, source) if isinstance(source, str) else None
    if entry is not None:
        if model_name and entry.model != model_name:
            raise WeightsError(f"The weights {entry.id} are for {entry.model}, not {model_name}.")
        return load_entry(entry, progress)
    return _load_checkpoint(model_name, source)
