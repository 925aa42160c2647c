"""Stochastic depth — "Deep Networks with Stochastic Depth", Huang, Sun, Liu, Sedra and
Weinberger, 2016 (arXiv 1603.09382).

Train a very deep ResNet as if it were shallow: for every mini-batch, each residual
branch is kept with its survival probability and otherwise skipped, leaving only the
identity shortcut. Survival falls linearly from 1 at the input to p_L = 0.5 at the last
block, so early features are always computed. At test time every branch runs, scaled by
its survival probability, which averages the ensemble of shallower nets seen in training.
"""

from __future__ import annotations

import torch
from torch import nn

from classifier.models.resnet import BasicBlock, Bottleneck, CifarResNet, ResNet, imagenet_stages
from classifier.registry import Family, register_model

STOCHASTIC_DEPTH = Family(
    name="Stochastic Depth",
    year=2016,
    paper="Deep Networks with Stochastic Depth",
    arxiv="1603.09382",
    authors="Gao Huang, Yu Sun, Zhuang Liu, Daniel Sedra, Kilian Q. Weinberger",
    ideas=(
        "A ResNet whose residual branches are skipped, per mini-batch, with probability 1 − p_l in training.",
        "Survival p_l falls linearly with depth from 1 to p_L = 0.5: an ensemble of shallower ResNets.",
        "Shorter expected depth trains faster; at test time every branch runs, scaled by p_l.",
        "Dropping whole layers regularises like dropout does for units, and made a 1202-layer CIFAR ResNet work.",
    ),
)


class StochasticDepth(nn.Module):
    """Keep the residual branch with probability ``survival`` in training (one draw per
    mini-batch, as in the paper) and scale it by ``survival`` in eval, so its expected
    contribution is the same in both. (layers.DropPath, used by EfficientNet and ViT,
    draws per sample and rescales in training instead, leaving eval untouched.)
    Multiplying by a 0/1 draw keeps the graph the same in both modes, which fx and the
    gradient checks rely on."""

    def __init__(self, survival: float = 1.0):
        super().__init__()
        self.survival = survival

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            keep = torch.empty((1,) * x.dim(), dtype=x.dtype, device=x.device).bernoulli_(self.survival)
            return x * keep
        return x * self.survival

    def extra_repr(self) -> str:
        return f"survival={self.survival:.3f}"


class StochasticDepthMixin:
    """Wraps the branch of a resnet.py block (its ``residual``) in :class:`StochasticDepth`;
    the shortcut and the block's layers and names are untouched."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.drop = StochasticDepth()

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(super().residual(x))


class StochasticBasicBlock(StochasticDepthMixin, BasicBlock):
    """ResNet's basic block with a droppable branch."""


class StochasticBottleneck(StochasticDepthMixin, Bottleneck):
    """ResNet's bottleneck block with a droppable branch."""


def decay_survival(model: nn.Module, last: float = 0.5) -> nn.Module:
    """Set the linear decay rule p_l = 1 − (l / L)(1 − p_L) over the model's L blocks, in
    forward order."""
    drops = [m for m in model.modules() if isinstance(m, StochasticDepth)]
    for l, drop in enumerate(drops, start=1):
        drop.survival = 1.0 - l / len(drops) * (1.0 - last)
    return model


def build_sd_cifar(num_classes: int, depth: int, last_survival: float = 0.5) -> nn.Module:
    return decay_survival(CifarResNet(depth, num_classes=num_classes, block=StochasticBasicBlock), last_survival)


def build_sd_imagenet(num_classes: int, layers: tuple[int, int, int, int], last_survival: float = 0.5) -> nn.Module:
    return decay_survival(ResNet(StochasticBottleneck, layers, num_classes=num_classes), last_survival)


register_model(
    "sd_resnet110_cifar", family=STOCHASTIC_DEPTH, variant="ResNet-110 with stochastic depth (CIFAR)",
    input_size=(3, 32, 32), num_classes=10, small_input=True, paper_params=1_700_000,
    params_source="He et al. 2015, Table 6 (the ResNet-110 the paper trains)",
    stages=[("layer1", 16, 1), ("layer2", 32, 2), ("layer3", 64, 4)], block="layer1.0",
    notes="54 basic blocks; survival falls linearly to p_L = 0.5 at the last block.",
    depth=110,
)(build_sd_cifar)
register_model(
    "sd_resnet152", family=STOCHASTIC_DEPTH, variant="ResNet-152 with stochastic depth",
    paper_params=60_192_808, params_source="torchvision resnet152 (weights metadata): the same layers",
    stages=imagenet_stages(Bottleneck.expansion), block="layer1.0",
    notes="Parameter names are torchvision's resnet152's, so its weights load; eval then scales each branch "
    "by its survival, so the logits are not resnet152's.",
    layers=(3, 8, 36, 3),
)(build_sd_imagenet)
