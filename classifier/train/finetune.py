"""Starting a run from trained weights: transfer learning onto the user's own classes.

A run with ``init_weights`` (a weights entry id or a checkpoint) begins from those
weights instead of a random draw. Its images go through the weights' own input size and
normalisation, since that is the input the trunk learned from. When the run's class
count differs, the classifier head (the tensors whose shapes no longer fit) starts fresh
and everything else is copied. ``freeze_epochs`` trains the head alone for the first
epochs (trunk parameters frozen, its BatchNorm statistics fixed), the common recipe for
a small folder of images.
"""

from __future__ import annotations

from torch import nn

from classifier.weights import LoadedModel, load_weights


def starting_point(model_name: str, init_weights: str) -> LoadedModel:
    """The weights a run starts from, with a message when their input cannot be
    reproduced by the training transforms (Caffe-style 0–255 BGR input)."""
    start = load_weights(model_name, init_weights)
    pre = start.preprocess
    if pre.value_range != 1.0 or pre.channel_order != "RGB":
        raise ValueError(f"{start.source} expects {pre.channel_order} input in 0–{pre.value_range:g}, which the "
                         "training transforms do not produce; start from another entry")
    return start


def transfer(model: nn.Module, start: nn.Module) -> list[str]:
    """Copy ``start``'s tensors into ``model``; returns the names of the modules that
    keep their fresh initialisation because their shapes differ (the head)."""
    own, given = model.state_dict(), start.state_dict()
    fresh = sorted({k.rsplit(".", 1)[0] for k in own if k in given and given[k].shape != own[k].shape})
    missing = [k for k in own if k not in given]
    if missing:
        raise ValueError(f"the starting weights lack {', '.join(missing[:4])}")
    model.load_state_dict({k: v for k, v in given.items() if k.rsplit(".", 1)[0] not in fresh}, strict=False)
    return fresh


def head_modules(model: nn.Module, fresh: list[str]) -> list[str]:
    """The head: the re-initialised modules, or else the module of the last parameter."""
    return fresh or [[n for n, _ in model.named_parameters()][-1].rsplit(".", 1)[0]]


def freeze_trunk(model: nn.Module, head: list[str], frozen: bool) -> None:
    """(Un)freeze every parameter outside ``head``; frozen BatchNorms keep their
    statistics (eval mode) while the head trains."""
    def in_head(name: str) -> bool:
        return any(name == h or name.startswith(h + ".") for h in head)

    for name, p in model.named_parameters():
        p.requires_grad_(not frozen or in_head(name))
    if frozen:
        for name, m in model.named_modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and not in_head(name):
                m.eval()
