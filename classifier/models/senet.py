"""SENet — "Squeeze-and-Excitation Networks", Hu, Shen, Albanie, Sun and Wu, 2017
(arXiv 1709.01507).

A squeeze-and-excitation (SE) gate summarises each channel of a block's output by global
average pooling (squeeze), feeds the summary through a small bottleneck MLP ending in a
sigmoid (excitation), and multiplies each channel by its gate. It lets a block re-weight
its channels from global context at almost no cost, and drops into any existing block:
here it is added to the residual branch of ResNet, ResNeXt and the SENet-154 block.
"""

from __future__ import annotations

import torch
from torch import nn

from classifier.layers import ConvBNAct, SqueezeExcitation
from classifier.models.resnet import (
    BasicBlock,
    Bottleneck,
    CifarResNet,
    ResidualBlock,
    build_resnet,
    conv1x1,
    conv3x3,
    imagenet_stages,
    init_resnet_weights,
)
from classifier.registry import Family, register_model

SENET = Family(
    name="SENet",
    year=2017,
    paper="Squeeze-and-Excitation Networks",
    arxiv="1709.01507",
    authors="Jie Hu, Li Shen, Samuel Albanie, Gang Sun, Enhua Wu",
    ideas=(
        "An SE gate pools each channel to one number, runs a small MLP with a sigmoid and rescales the channels.",
        "It adds channel attention from global context to a ResNet or ResNeXt branch, which is otherwise unchanged.",
        "About 10% more weights and under 1% more compute; SENet-154 won ILSVRC 2017.",
    ),
)


class SEMixin:
    """Puts an SE gate (reduction ratio ``reduction``) at the end of a residual branch, so
    the block computes ``act(SE(branch(x)) + shortcut(x))``; everything else about the
    block is the base class's."""

    def __init__(self, inplanes: int, planes: int, *args, reduction: int = 16, **kwargs):
        super().__init__(inplanes, planes, *args, **kwargs)
        channels = planes * self.expansion
        self.se = SqueezeExcitation(channels, channels // reduction)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        return self.se(super().residual(x))


class SEBasicBlock(SEMixin, BasicBlock):
    """ResNet's basic block with an SE gate (the paper's CIFAR SE-ResNets)."""


class SEBottleneck(SEMixin, Bottleneck):
    """ResNet's (``groups=1``) or ResNeXt's (``groups>1``) bottleneck with an SE gate."""


class WideningBottleneck(ResidualBlock):
    """The bottleneck of SENet-154: 1×1 conv to ``2 × planes``, grouped 3×3 conv widening to
    ``4 × planes`` (64 groups), 1×1 conv to ``4 × planes``. The grouped conv is wider than
    ResNeXt's, which is where most of SENet-154's capacity sits."""

    expansion = 4

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None, groups: int = 64
    ):
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes * 2)
        self.bn1 = nn.BatchNorm2d(planes * 2)
        self.relu1 = nn.ReLU()
        self.conv2 = conv3x3(planes * 2, planes * 4, stride, groups)
        self.bn2 = nn.BatchNorm2d(planes * 4)
        self.relu2 = nn.ReLU()
        self.conv3 = conv1x1(planes * 4, planes * 4)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = downsample
        self.relu_out = nn.ReLU()

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.bn1(self.conv1(x)))
        x = self.relu2(self.bn2(self.conv2(x)))
        return self.bn3(self.conv3(x))


class SENet154Bottleneck(SEMixin, WideningBottleneck):
    """SENet-154's widening bottleneck with an SE gate."""


class SENet154(nn.Module):
    """SENet-154 (the ILSVRC 2017 entry): a stem of three 3×3 convs (the middle one keeps
    64 channels, the last gives 128), a 3×3/2 max pool, four stages of SE widening
    bottlenecks (3, 8, 36, 3 blocks), dropout 0.2 and a linear classifier. Where a stage
    halves the resolution, its shortcut projects with a strided 3×3 conv instead of 1×1."""

    def __init__(
        self,
        layers: tuple[int, int, int, int] = (3, 8, 36, 3),
        groups: int = 64,
        reduction: int = 16,
        dropout: float = 0.2,
        num_classes: int = 1000,
    ):
        super().__init__()
        self.stem = nn.Sequential(
            ConvBNAct(3, 64, 3, stride=2),
            ConvBNAct(64, 64, 3),
            ConvBNAct(64, 128, 3),
            nn.MaxPool2d(3, stride=2, ceil_mode=True),
        )
        inplanes = 128
        for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers)):
            stride = 1 if i == 0 else 2
            out = planes * SENet154Bottleneck.expansion
            k = 1 if i == 0 else 3
            downsample = nn.Sequential(nn.Conv2d(inplanes, out, k, stride, k // 2, bias=False), nn.BatchNorm2d(out))
            stage = [SENet154Bottleneck(inplanes, planes, stride, downsample, groups=groups, reduction=reduction)]
            stage += [SENet154Bottleneck(out, planes, groups=groups, reduction=reduction) for _ in range(1, blocks)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*stage))
            inplanes = out
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(inplanes, num_classes)
        init_resnet_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(self.dropout(x))


def build_senet154(num_classes: int, **kwargs) -> SENet154:
    return SENet154(num_classes=num_classes, **kwargs)


def build_se_cifar(num_classes: int, depth: int, reduction: int = 16) -> nn.Module:
    return CifarResNet(depth, num_classes=num_classes, block=SEBasicBlock, reduction=reduction)


# Parameter counts of Cadene's pretrainedmodels port of the authors' released Caffe
# models, the reference most PyTorch SENets are checked against.
_SOURCE = "Cadene's pretrainedmodels (port of the authors' released models)"
register_model(
    "se_resnet50", family=SENET, variant="SE-ResNet-50", paper_params=28_088_024, params_source=_SOURCE,
    stages=imagenet_stages(SEBottleneck.expansion), block="layer1.0",
    notes="torchvision layer names; the stride sits on the 3×3 conv, as in torchvision's ResNet-50.",
    block_type=SEBottleneck, layers=(3, 4, 6, 3), reduction=16,
)(build_resnet)
register_model(
    "se_resnext50_32x4d", family=SENET, variant="SE-ResNeXt-50 (32×4d)", paper_params=27_559_896,
    params_source=_SOURCE, stages=imagenet_stages(SEBottleneck.expansion), block="layer1.0",
    block_type=SEBottleneck, layers=(3, 4, 6, 3), groups=32, width_per_group=4, reduction=16,
)(build_resnet)
register_model(
    "senet154", family=SENET, variant="SENet-154", paper_params=115_088_984, params_source=_SOURCE,
    stages=[("stem.2", 128, 2)] + imagenet_stages(SENet154Bottleneck.expansion), block="layer1.0",
)(build_senet154)
register_model(
    "se_resnet110_cifar", family=SENET, variant="SE-ResNet-110 (CIFAR)", input_size=(3, 32, 32), num_classes=10,
    small_input=True, stages=[("layer1", 16, 1), ("layer2", 32, 2), ("layer3", 64, 4)], block="layer1.0",
    notes="He et al.'s CIFAR ResNet-110 with an SE gate (reduction 16) in every block, as in the paper's CIFAR table.",
    depth=110,
)(build_se_cifar)
