"""The weights registry: every trained parameter set a model can load, with its provenance.

A :class:`WeightEntry` is data. It says where a file comes from (a library, its own model
name, a URL for torch hub's cache or a Hugging Face repo), what it was trained on, the
evaluation pipeline that must travel with it, the accuracy its source reports and the
licence, and the explicit steps (``convert``) that turn the file's parameter names into
ours. Family files declare their entries next to their builders with
:func:`register_weights`; torchvision's entries are derived from the cards
(:mod:`classifier.weights.torchvision_entries`). Pages and the CLI offer entries, never
sources.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Callable

import torch

from classifier.weights.preprocess import Preprocess

StateDict = dict[str, torch.Tensor]
Convert = Callable[[StateDict], StateDict]

DATASET_LABELS = {"ImageNet-1k": "imagenet", "CIFAR-10": "cifar10", "CIFAR-100": "cifar100"}


@dataclass(frozen=True)
class WeightEntry:
    """One trained parameter set for one registered model.

    ``source_model`` is the model's name in its source library (``timm.create_model``,
    pytorchcv's ``get_model``, torchvision's builder): the independent implementation the
    tests compare our logits against. Exactly one of ``url`` (a file kept in torch hub's
    ``checkpoints/`` folder; a pytorchcv ``.zip`` is unpacked there) and ``hf_repo`` (a
    Hugging Face repo, kept in the hub cache) says where the file lives. ``checksum`` is
    ``"sha256:<hex prefix>"`` or ``"sha1:<hex>"`` where the source publishes one.
    ``label_offset`` is 1 for TF ports whose classifier has a background class first.
    ``build`` are builder options these weights need (a BatchNorm epsilon, an input
    transform)."""

    model: str
    source: str
    source_model: str
    tag: str
    dataset: str
    num_classes: int
    preprocess: Preprocess
    url: str | None = None
    hf_repo: str | None = None
    hf_file: str = "model.safetensors"
    checksum: str | None = None
    top1: float | None = None
    top5: float | None = None
    metric_source: str = ""
    license: str = ""
    convert: tuple[Convert, ...] = ()
    build: dict = field(default_factory=dict, hash=False, compare=False)
    label_offset: int = 0
    notes: str = ""

    def __post_init__(self):
        if (self.url is None) == (self.hf_repo is None):
            raise ValueError(f"{self.id}: give exactly one of url and hf_repo")
        if self.dataset not in DATASET_LABELS:
            raise ValueError(f"{self.id}: unknown dataset {self.dataset!r}")

    @property
    def id(self) -> str:
        """``source/source_model.tag``, e.g. ``timm/inception_v4.tf_in1k``."""
        return f"{self.source}/{self.source_model}.{self.tag}"

    @property
    def label(self) -> str:
        """What a page or the CLI shows: data, source and id, reported top-1."""
        top1 = f" · top-1 {self.top1:.1f} %" if self.top1 is not None else ""
        return f"{self.dataset} · {self.source} {self.source_model}.{self.tag}{top1}"

    @property
    def labels(self) -> str:
        """The name of the label set (``imagenet``, ``cifar10``, ``cifar100``)."""
        return DATASET_LABELS[self.dataset]

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "model": self.model,
            "label": self.label,
            "source": self.source,
            "source_model": self.source_model,
            "url": self.url,
            "hf_repo": self.hf_repo,
            "hf_file": self.hf_file if self.hf_repo else None,
            "checksum": self.checksum,
            "dataset": self.dataset,
            "num_classes": self.num_classes,
            "label_offset": self.label_offset,
            "preprocess": self.preprocess.to_dict(),
            "top1": self.top1,
            "top5": self.top5,
            "metric_source": self.metric_source,
            "license": self.license,
            "build": dict(self.build),
            "notes": self.notes,
        }


# Why a family's nets have no entry, where the reason is more than "no library ships it"
# (from shared/research/weights-sources.md, checked against torchvision, timm and pytorchcv).
NO_PUBLIC_WEIGHTS = {
    "MSDNet": "the authors' trained MSDNets are on a Dropbox, not in a library with versioned files",
    "AmoebaNet": "trained AmoebaNets exist only as TF-Hub modules, which no PyTorch library ports",
    "NIN": "the authors' ImageNet Caffe model was never ported to PyTorch",
}
SEARCHED = "no weights from torchvision, timm or pytorchcv load into it"

_ENTRIES: dict[str, WeightEntry] = {}
_derived = False


def register_weights(*entries: WeightEntry) -> None:
    """Add entries to the registry (called at import time by the family files)."""
    for entry in entries:
        if entry.id in _ENTRIES:
            raise ValueError(f"weights {entry.id!r} are registered twice")
        _ENTRIES[entry.id] = entry


def _complete() -> dict[str, WeightEntry]:
    """Every entry: the family files' (imported with the registry) and torchvision's."""
    global _derived
    from classifier.registry import list_models

    list_models()  # imports every family file, whose register_weights calls run
    if not _derived:
        from classifier.weights.torchvision_entries import torchvision_entries

        register_weights(*torchvision_entries())
        _derived = True
    return _ENTRIES


def all_entries() -> list[WeightEntry]:
    """Every registered entry, in the zoo's order of models."""
    from classifier.registry import list_models

    entries = _complete()
    order = {name: i for i, name in enumerate(list_models())}
    return sorted(entries.values(), key=lambda e: (order.get(e.model, len(order)), e.id))


def weight_entries(model_name: str) -> list[WeightEntry]:
    """A model's entries: torchvision's first (they load without a mapping), then the
    rest by reported top-1, best first."""
    mine = [e for e in _complete().values() if e.model == model_name]
    return sorted(mine, key=lambda e: (e.source != "torchvision", -(e.top1 or 0.0), e.id))


def get_entry(entry_id: str) -> WeightEntry:
    entries = _complete()
    try:
        return entries[entry_id]
    except KeyError:
        close = difflib.get_close_matches(entry_id, entries, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see `python -m classifier weights`"
        raise KeyError(f"unknown weights {entry_id!r}{hint}") from None


def weights_summary(model_name: str) -> str:
    """One line for a model's card: its best entry and how many there are, or why there
    are none and what to do instead."""
    from classifier.registry import get_card

    mine = weight_entries(model_name)
    if mine:
        more = f" (+{len(mine) - 1} more)" if len(mine) > 1 else ""
        return f"Trained weights: {mine[0].label}{more}."
    family = get_card(model_name).family.name
    why = NO_PUBLIC_WEIGHTS.get(family, SEARCHED)
    return f"No public trained weights: {why}; train it on the Train page, or fine-tune a relative that has them."
