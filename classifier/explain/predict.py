"""Top-k predictions: the first thing the Inspect page and ``predict`` show."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from classifier.explain.safety import exclusive
from classifier.outputs import main_logits


@dataclass(frozen=True)
class Prediction:
    index: int
    label: str
    probability: float


def device_of(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model's logits for a batch, without gradients (and without anyone's hooks)."""
    with exclusive(model), torch.no_grad():
        out = model(x.to(device_of(model)))
    return main_logits(out).float().cpu()


def predict(model: nn.Module, x: torch.Tensor, class_names: list[str], k: int = 5) -> list[Prediction]:
    """The ``k`` most probable classes for the first image of ``x``, best first."""
    return top_predictions(logits(model, x)[0], class_names, k)


def top_predictions(scores: torch.Tensor, class_names: list[str], k: int = 5) -> list[Prediction]:
    """The ``k`` most probable classes of one image's logits, best first."""
    probs = scores.float().softmax(0)
    top = probs.topk(min(k, probs.numel()))
    return [
        Prediction(int(i), class_names[int(i)] if int(i) < len(class_names) else f"class {int(i)}", float(p))
        for p, i in zip(top.values, top.indices)
    ]
