"""Trained weights for the zoo: one registry of entries, the standard caches, safe reading.

- :mod:`~classifier.weights.entries`: :class:`WeightEntry` and the registry
  (:func:`weight_entries`, :func:`get_entry`, :func:`all_entries`);
- :mod:`~classifier.weights.preprocess`: the evaluation pipeline each entry carries;
- :mod:`~classifier.weights.convert`: rename and by-order steps from a source's names to ours;
- :mod:`~classifier.weights.files`: downloads into torch hub's and Hugging Face's caches;
- :mod:`~classifier.weights.checkpoint`: safe reading and strict loading of state dicts;
- :mod:`~classifier.weights.loading`: :func:`load_weights`, one call for entries,
  checkpoints and random weights.

Names are imported lazily: family files import the registry module while the zoo loads,
which must not pull in torchvision or the download code.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "WeightEntry": "entries",
    "register_weights": "entries",
    "weight_entries": "entries",
    "get_entry": "entries",
    "all_entries": "entries",
    "weights_summary": "entries",
    "Preprocess": "preprocess",
    "IMAGENET_MEAN": "preprocess",
    "IMAGENET_STD": "preprocess",
    "WeightsError": "files",
    "download": "files",
    "is_cached": "files",
    "cached_file": "files",
    "where": "files",
    "Checkpoint": "checkpoint",
    "read_checkpoint": "checkpoint",
    "LoadedModel": "loading",
    "load_weights": "loading",
    "load_entry": "loading",
    "imagenet_entry": "loading",
    "default_class_names": "labels",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
