"""One convention for networks that return several logits, used by training, evaluation,
explanations and tests alike.

- A **tuple** is ``(main, *auxiliary)``: GoogLeNet's and Inception's auxiliary heads in
  training mode follow the main classifier.
- A **list** is a sequence of early exits, earliest first (MSDNet): the last exit is the
  full network's prediction.
"""

from __future__ import annotations

import torch


def split_outputs(out) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """(the network's prediction, the other heads' logits)."""
    if isinstance(out, torch.Tensor):
        return out, []
    if isinstance(out, list):
        return out[-1], list(out[:-1])
    if isinstance(out, tuple):
        return out[0], [o for o in out[1:] if o is not None]
    raise TypeError(f"a model returned {type(out).__name__}; expected a tensor, a tuple or a list of logits")


def main_logits(out) -> torch.Tensor:
    """The network's own prediction among its outputs."""
    return split_outputs(out)[0]


class PredictionOnly(torch.nn.Module):
    """A model seen through its prediction alone, for tools that need a single tensor of
    logits (captum's attributions) from a multi-output network."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return main_logits(self.model(x))
