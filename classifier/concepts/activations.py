"""Activation functions, their derivatives, and how gradients fare through deep stacks.

Sigmoid and tanh saturate: their derivative is at most 0.25 (sigmoid) and vanishes for
large inputs, so a deep stack multiplies many small factors. ReLU passes gradient 1 where
it is active but a unit whose input is negative for every example never recovers (it
"dies"). The demo measures both effects on a randomly initialised stack.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "ReLU": nn.ReLU,
    "Leaky ReLU": nn.LeakyReLU,
    "ELU": nn.ELU,
    "SELU": nn.SELU,
    "Softplus": nn.Softplus,
    "GELU": nn.GELU,
    "SiLU / Swish": nn.SiLU,
    "Hard-swish": nn.Hardswish,
}


def curve(name: str, lo: float = -6.0, hi: float = 6.0, points: int = 601) -> dict[str, list[float]]:
    """The function and its derivative (by autograd) on an even grid."""
    x = torch.linspace(lo, hi, points, dtype=torch.float64, requires_grad=True)
    y = ACTIVATIONS[name]()(x)
    (dy,) = torch.autograd.grad(y.sum(), x)
    return {"x": x.detach().tolist(), "y": y.detach().tolist(), "dy": dy.tolist()}


@dataclass
class StackReport:
    """Per layer of a deep stack: the gradient norm reaching its weights, and the share
    of dead units: those whose activation has zero derivative for every example of the
    batch, so no gradient can pass them whatever arrives from above. A vanishing gradient
    (sigmoid's) is small, not zero, and shows in ``grad_norm`` instead."""

    grad_norm: list[float]
    dead_fraction: list[float]


def gradient_through_stack(
    name: str, depth: int = 20, width: int = 64, bias_shift: float = 0.0, batch: int = 256, seed: int = 0
) -> StackReport:
    """Push a batch through ``depth`` Linear+activation layers and backpropagate a unit loss.

    ``bias_shift`` adds a constant to every bias: a negative shift pushes ReLU inputs below
    zero and shows units dying; sigmoid shows vanishing gradients even without it.
    """
    gen = torch.Generator().manual_seed(seed)
    layers, acts = [], []
    for _ in range(depth):
        # float64: sigmoid's gradient shrinks about 4× per layer and would underflow
        # float32 within a few dozen layers, drawing a vanishing gradient as zero
        lin = nn.Linear(width, width, dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(width, width, generator=gen, dtype=torch.float64) / width**0.5)
            lin.bias.fill_(bias_shift)
        layers.append(lin)
        acts.append(ACTIVATIONS[name]())
    h = torch.randn(batch, width, generator=gen, dtype=torch.float64)
    dead = []
    for lin, act in zip(layers, acts):
        pre = lin(h)
        h = act(pre)
        # the activation is elementwise, so the gradient of its sum is its own derivative
        (slope,) = torch.autograd.grad(h.sum(), pre, retain_graph=True)
        dead.append((slope == 0).all(dim=0).double().mean().item())
    h.sum().backward()
    grad_norm = [lin.weight.grad.norm().item() for lin in layers]
    return StackReport(grad_norm, dead)
