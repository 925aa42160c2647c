"""Dropout and DropPath (stochastic depth): what a training pass drops, and why eval
needs no mask.

Inverted dropout zeroes each unit with probability p in training and scales survivors by
1/(1−p), so the expected activation is unchanged and eval is the plain identity. DropPath
drops a whole residual branch for a whole sample, turning a deep net into an ensemble of
shallower ones; the original stochastic-depth paper scaled at eval instead of in training.
"""

from __future__ import annotations

import torch
from torch import nn

from classifier.layers import DropPath


def dropout_pass(x: torch.Tensor, p: float, training: bool, seed: int = 0) -> torch.Tensor:
    """One forward pass of ``nn.Dropout(p)`` in the chosen mode."""
    torch.manual_seed(seed)
    layer = nn.Dropout(p)
    layer.train(training)
    return layer(x)


def droppath_pass(batch: int, p: float, training: bool, seed: int = 0) -> list[float]:
    """The factor DropPath applies to each sample's residual branch (0 = branch dropped)."""
    torch.manual_seed(seed)
    layer = DropPath(p)
    layer.train(training)
    return layer(torch.ones(batch, 1, 1, 1)).flatten().tolist()


def expectation_check(p: float, units: int = 100_000, seed: int = 0) -> dict[str, float]:
    """Mean of a constant-one input after training-mode dropout: ≈1 thanks to the 1/(1−p) scaling."""
    out = dropout_pass(torch.ones(units), p, training=True, seed=seed)
    return {"kept_fraction": (out != 0).float().mean().item(), "mean": out.mean().item()}
