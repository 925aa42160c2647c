"""Steps that turn a source's state dict into ours, named so an entry reads as a recipe.

An entry's ``convert`` is a tuple of these: explicit rename rules where the layouts
differ in names only, or a mapping by order where the layouts match parameter for
parameter. After them the dict must load into our model with ``strict=True``; the tests
prove each entry by equal logits against the source library's own model.
"""

from __future__ import annotations

import re
from typing import Callable

import torch

from classifier.weights.entries import Convert, StateDict

BN_COUNTER = "num_batches_tracked"


def rename(*rules: tuple[str, str]) -> Convert:
    """Apply ``re.sub(pattern, replacement, key)`` rules in order to every key."""
    compiled = [(re.compile(p), r) for p, r in rules]

    def step(state: StateDict) -> StateDict:
        out = {}
        for key, value in state.items():
            for pattern, replacement in compiled:
                key = pattern.sub(replacement, key)
            out[key] = value
        return out

    step.__name__ = f"rename({len(rules)} rules)"
    return step


def drop(*patterns: str) -> Convert:
    """Remove keys that match any pattern (a source's extra buffers, say)."""
    compiled = [re.compile(p) for p in patterns]

    def step(state: StateDict) -> StateDict:
        return {k: v for k, v in state.items() if not any(p.search(k) for p in compiled)}

    step.__name__ = f"drop({', '.join(patterns)})"
    return step


def transform(pattern: str, fn: Callable[[torch.Tensor], torch.Tensor]) -> Convert:
    """Change the tensors whose key matches ``pattern`` (for example a 1×1 classifier
    conv's weight reshaped into a Linear's)."""
    compiled = re.compile(pattern)

    def step(state: StateDict) -> StateDict:
        return {k: fn(v) if compiled.search(k) else v for k, v in state.items()}

    step.__name__ = f"transform({pattern})"
    return step


def by_order(model_name: str, **build) -> Convert:
    """Give the file's tensors our names in order: the n-th tensor of the file (its
    registration order) becomes our n-th, BatchNorm step counters left out on both sides.
    Only for ``.pth`` files (pickles keep insertion order; safetensors files sort their
    keys, so they need :func:`rename`) whose layout matches ours parameter for parameter;
    every shape is checked, so a layout that drifts apart fails with the first pair that disagrees."""

    def step(state: StateDict) -> StateDict:
        from classifier.registry import create_meta_model

        ours = {k: v for k, v in create_meta_model(model_name, **build).state_dict().items() if not k.endswith(BN_COUNTER)}
        theirs = [(k, v) for k, v in state.items() if not k.endswith(BN_COUNTER)]
        if len(ours) != len(theirs):
            raise ValueError(f"the file has {len(theirs)} tensors where {model_name} has {len(ours)}")
        out = {}
        for (mine, like), (key, value) in zip(ours.items(), theirs):
            if tuple(like.shape) != tuple(value.shape):
                raise ValueError(
                    f"by order, the file's {key} {tuple(value.shape)} would become {mine} {tuple(like.shape)}"
                )
            out[mine] = value
        return out

    step.__name__ = f"by_order({model_name})"
    return step
