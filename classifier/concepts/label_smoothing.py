"""Label smoothing (Szegedy et al., Inception-v3, 2015): train against a target that puts
1−ε on the true class and spreads ε evenly over all K classes, so the net is never pushed
towards infinitely confident logits."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def smoothed_target(num_classes: int, true_class: int, eps: float) -> list[float]:
    target = torch.full((num_classes,), eps / num_classes)
    target[true_class] += 1.0 - eps
    return target.tolist()


def loss_by_hand(logits: torch.Tensor, true_class: int, eps: float) -> float:
    """Cross-entropy against the smoothed target: −Σ q_k log p_k."""
    target = torch.tensor(smoothed_target(logits.shape[-1], true_class, eps))
    return -(target * F.log_softmax(logits, dim=-1)).sum().item()


def loss_against_confidence(num_classes: int, eps: float, margins: list[float]) -> list[dict]:
    """The loss as the true class's logit pulls ahead of the others by a margin: with
    ε > 0 the loss has a minimum at a finite margin instead of falling forever."""
    rows = []
    for m in margins:
        logits = torch.zeros(num_classes)
        logits[0] = m
        rows.append({"margin": m, "loss": loss_by_hand(logits, 0, eps), "p_true": F.softmax(logits, -1)[0].item()})
    return rows
