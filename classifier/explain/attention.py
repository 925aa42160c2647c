"""Where a Vision Transformer looks: its attention maps, per head and rolled out.

Dosovitskiy et al., "An Image is Worth 16x16 Words", 2020 (arXiv 2010.11929), classify
from a class token that attends over patch tokens. Each block's attention weights come
out of an ``nn.Softmax`` module in our ViT, so a forward hook reads them. One head's map
is the class token's row of its weights laid over the patch grid. Attention rollout
(Abnar and Zuidema, "Quantifying Attention Flow in Transformers", 2020, arXiv 2005.00928)
follows attention through all blocks: average the heads, add the identity for the
residual connection, renormalise and multiply the blocks' matrices in order.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from classifier.explain.layer_info import token_grid
from classifier.explain.predict import device_of
from classifier.explain.safety import exclusive


def attention_modules(model: nn.Module) -> list[str]:
    """Names of the softmax modules that produce attention weights, in model order."""
    return [name for name, m in model.named_modules() if isinstance(m, nn.Softmax)]


def has_attention(model: nn.Module) -> bool:
    return bool(attention_modules(model))


@dataclass
class Attention:
    """``weights``: (blocks, heads, T, T) attention of one image; ``grid``: patch grid."""

    weights: torch.Tensor
    grid: tuple[int, int]
    modules: list[str]

    def head_maps(self, block: int) -> torch.Tensor:
        """(heads, gh, gw): how much the class token attends to each patch, per head."""
        return self.weights[block, :, 0, 1:].reshape(-1, *self.grid)

    def rollout(self, residual: float = 0.5) -> torch.Tensor:
        """(gh, gw): the class token's attention to each patch through all blocks."""
        t = self.weights.shape[-1]
        eye = torch.eye(t, dtype=self.weights.dtype)
        flow = eye
        for block in self.weights:
            a = residual * eye + (1 - residual) * block.mean(0)
            flow = (a / a.sum(-1, keepdim=True)) @ flow
        return flow[0, 1:].reshape(self.grid)


def attention(model: nn.Module, x: torch.Tensor) -> Attention:
    """Run the first image of ``x`` and collect every block's attention weights."""
    names = attention_modules(model)
    if not names:
        raise ValueError("this model has no attention (no nn.Softmax modules)")
    captured: dict[str, torch.Tensor] = {}
    with exclusive(model), torch.no_grad():
        hooks = [
            model.get_submodule(n).register_forward_hook(lambda m, i, o, n=n: captured.__setitem__(n, o.detach()))
            for n in names
        ]
        try:
            model(x[:1].to(device_of(model)))
        finally:
            for h in hooks:
                h.remove()
    used = [n for n in names if n in captured and captured[n].dim() == 4]
    maps = [captured[n][0].float().cpu() for n in used]
    if not maps:
        raise ValueError("the softmax modules of this model did not produce attention weights")
    grid = token_grid(maps[0].shape[-1])
    if grid is None or maps[0].shape[-1] != maps[0].shape[-2]:
        raise ValueError(f"attention over {maps[0].shape[-1]} tokens is not a class token plus a square grid")
    return Attention(torch.stack(maps), grid, used)
