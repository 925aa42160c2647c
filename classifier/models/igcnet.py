"""Interleaved group convolutions (IGCNets), three papers from Microsoft Research:

- IGCV1: "Interleaved Group Convolutions for Deep Neural Networks", Zhang, Qi, Xiao and
  Wang, 2017 (arXiv 1707.02725).
- IGCV2: "IGCV2: Interleaved Structured Sparse Convolutional Neural Networks", Xie, Wang,
  Zhang, Lai, Hong and Qi, 2018 (arXiv 1804.06202).
- IGCV3: "IGCV3: Interleaved Low-Rank Group Convolutions for Efficient Deep Neural
  Networks", Sun, Li, Liu and Wang, 2018 (arXiv 1806.00178).

One idea runs through all three: a dense convolution is replaced by a product of sparse
(grouped) ones, with a channel permutation between them so that every output channel is
still reached from every input channel by exactly one path. V1 pairs a spatial group conv
with a 1×1 group conv, V2 makes the chain longer and each group thinner, V3 puts the chain
into MobileNet v2's inverted bottleneck.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
from torch import nn

from classifier.layers import ChannelShuffle, ConvBNAct
from classifier.registry import Family, register_model
from classifier.weights.convert import by_order
from classifier.weights.entries import WeightEntry, register_weights
from classifier.weights.preprocess import Preprocess

IGCV1 = Family(
    name="IGCV1",
    year=2017,
    paper="Interleaved Group Convolutions for Deep Neural Networks",
    arxiv="1707.02725",
    authors="Ting Zhang, Guo-Jun Qi, Bin Xiao, Jingdong Wang",
    ideas=(
        "A primary group convolution (L groups, spatial) is followed by a secondary one "
        "(M groups, 1×1) over permuted channels, so each secondary group mixes one channel "
        "from every primary group.",
        "The pair is as connected as a dense convolution but much sparser, so at equal "
        "parameters the layer can be far wider.",
        "Regular convolutions and Xception blocks are special cases (M=1 or L=1 groups per side).",
    ),
)

IGCV2 = Family(
    name="IGCV2",
    year=2018,
    paper="IGCV2: Interleaved Structured Sparse Convolutional Neural Networks",
    arxiv="1804.06202",
    authors="Guotian Xie, Jingdong Wang, Ting Zhang, Jianhuang Lai, Richang Hong, Guo-Jun Qi",
    ideas=(
        "The secondary group convolution of IGCV1 is itself dense inside each group, so it "
        "can be factored again: a chain of several thin group convolutions.",
        "Complementary condition: between any input and output channel there is exactly one path.",
        "Balance condition: the chain is cheapest when every group convolution has about the "
        "same number of channels per group.",
    ),
)

IGCV3 = Family(
    name="IGCV3",
    year=2018,
    paper="IGCV3: Interleaved Low-Rank Group Convolutions for Efficient Deep Neural Networks",
    arxiv="1806.00178",
    authors="Ke Sun, Mingjie Li, Dong Liu, Jingdong Wang",
    ideas=(
        "MobileNet v2's expanding and projecting 1×1 convolutions become 1×1 group "
        "convolutions (two groups each), with a permutation between them.",
        "Grouping is a low-rank structure that halves their cost, which pays for a deeper "
        "network (IGCV3-D) at MobileNet v2's size.",
        "Only the depthwise convolution is followed by a ReLU; both group convolutions stay linear.",
    ),
)


# ---------------------------------------------------------------------------------------
# Blocks


class InterleavedGroupConv(nn.Sequential):
    """A k×k group convolution followed by 1×1 group convolutions, one per extra entry of
    ``groups``, with a channel shuffle before each 1×1 so that its groups draw one channel
    from every group of the convolution before; then BatchNorm and (optionally) ReLU.

    The convolutions multiply into one structured-sparse kernel, which is why there is no
    normalisation or activation between them. ``permute_back`` adds IGCV1's final
    permutation, which restores the channel order of the primary partitions.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        groups: Sequence[int],
        kernel_size: int = 3,
        stride: int = 1,
        permute_back: bool = False,
        act: bool = True,
    ):
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        layers["conv1"] = nn.Conv2d(in_ch, out_ch, kernel_size, stride, kernel_size // 2, groups=groups[0], bias=False)
        for i, g in enumerate(groups[1:], start=2):
            if 1 < groups[i - 2] < out_ch:  # shuffling after a depthwise or dense conv changes nothing
                layers[f"shuffle{i - 1}"] = ChannelShuffle(groups[i - 2])
            layers[f"conv{i}"] = nn.Conv2d(out_ch, out_ch, 1, groups=g, bias=False)
        if permute_back:
            layers["shuffle_back"] = ChannelShuffle(groups[-1])
        layers["bn"] = nn.BatchNorm2d(out_ch)
        if act:
            layers["relu"] = nn.ReLU()
        super().__init__(layers)


class IGCResidualBlock(nn.Module):
    """Two interleaved group convolutions and a shortcut, as in ResNet's basic block. The
    shortcut is a strided 1×1 group convolution (``shortcut_groups``) when the width changes."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        stride: int,
        groups1: Sequence[int],
        groups2: Sequence[int],
        shortcut_groups: int,
        permute_back: bool,
    ):
        super().__init__()
        self.igc1 = InterleavedGroupConv(in_ch, out_ch, groups1, stride=stride, permute_back=permute_back)
        self.igc2 = InterleavedGroupConv(out_ch, out_ch, groups2, permute_back=permute_back, act=False)
        if in_ch != out_ch or stride != 1:
            self.shortcut: nn.Module = ConvBNAct(in_ch, out_ch, 1, stride, groups=shortcut_groups, act=None)
        else:
            self.shortcut = nn.Identity()
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.igc2(self.igc1(x)) + self.shortcut(x))


class IGCV3Block(nn.Module):
    """IGCV3's inverted bottleneck: 1×1 group conv expanding ``expansion`` times (linear),
    shuffle, depthwise 3×3 with ReLU6, 1×1 group conv projecting back (linear); a shortcut
    when ``residual``. As in the authors' MXNet code (symbols/igcv3.py), the first block of
    a stage never has a shortcut, even when its stride is 1, and there is no shuffle after
    the projecting group conv: the paper's second permutation is commented out there, so
    the released IGCV3-D and its ImageNet figures come without it."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, expansion: int, residual: bool, groups: int = 2):
        super().__init__()
        mid = in_ch * expansion
        self.expand = ConvBNAct(in_ch, mid, 1, groups=groups, act=None)
        self.shuffle1 = ChannelShuffle(groups)
        self.depthwise = ConvBNAct(mid, mid, 3, stride, groups=mid, act=nn.ReLU6)
        self.project = ConvBNAct(mid, out_ch, 1, groups=groups, act=None)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.depthwise(self.shuffle1(self.expand(x))))
        return out + x if self.residual else out


# ---------------------------------------------------------------------------------------
# Networks


class IGCNet(nn.Sequential):
    """stem → stages (``layer1``…) → global average pool → linear classifier."""

    def __init__(self, stem: nn.Module, stages: Sequence[nn.Module], width: int, num_classes: int):
        layers: OrderedDict[str, nn.Module] = OrderedDict(stem=stem)
        for i, stage in enumerate(stages, start=1):
            layers[f"layer{i}"] = stage
        layers["avgpool"] = nn.AdaptiveAvgPool2d(1)
        layers["flatten"] = nn.Flatten(1)
        layers["fc"] = nn.Linear(width, num_classes)
        super().__init__(layers)


def _igc_stage(
    in_ch: int, out_ch: int, blocks: int, stride: int, groups_of, shortcut_groups: int, permute_back: bool
) -> nn.Sequential:
    """``blocks`` residual IGC blocks; ``groups_of(cin, cout)`` gives the groups of each
    interleaved convolution's chain (the k×k first, then the 1×1s)."""
    stage = []
    for i in range(blocks):
        cin = in_ch if i == 0 else out_ch
        stage.append(
            IGCResidualBlock(
                cin, out_ch, stride if i == 0 else 1,
                groups1=groups_of(cin, out_ch),
                groups2=groups_of(out_ch, out_ch),
                shortcut_groups=shortcut_groups,
                permute_back=permute_back,
            )
        )
    return nn.Sequential(*stage)


# ---------------------------------------------------------------------------------------
# Builders


@register_model(
    "igcv1_l32m26_cifar",
    family=IGCV1,
    variant="IGC-L32M26+Ident., depth 20, CIFAR-10",
    input_size=(3, 32, 32),
    num_classes=10,
    small_input=True,
    paper_params=24_100_000,
    params_source="Zhang et al. 2017, comparison with the state of the art on CIFAR: IGC-L32M26+Ident., 24.1M",
    stages=[("layer1", 832, 1), ("layer2", 1664, 2), ("layer3", 3328, 4)],
    block="layer1.1",
    notes="L=32 primary partitions of M=26 channels; M doubles with each stage, as in the authors' resnet_igc.py.",
    primary=32, secondary=26, depth=20,
)
def igcv1_cifar(num_classes: int, primary: int, secondary: int, depth: int) -> IGCNet:
    """IGCV1 on CIFAR: ResNet-(6n+2) whose 3×3 convs are interleaved group convolutions.

    The primary convolution keeps ``primary`` (L) groups, so doubling the width doubles M.
    The secondary 1×1 of a block's first convolution takes its groups from the block's
    input width (the authors' code does this, and the parameter count depends on it).
    Shortcuts that change width are 1×1 convolutions with L groups."""
    width = primary * secondary
    n = (depth - 2) // 6

    def groups_of(ci: int, co: int) -> tuple[int, int]:
        return primary, ci // primary

    stem = ConvBNAct(3, width, 3)
    stages, cin = [], width
    for i in range(3):
        cout = width * 2**i
        stages.append(_igc_stage(cin, cout, n, 1 if i == 0 else 2, groups_of, primary, True))
        cin = cout
    return IGCNet(stem, stages, cin, num_classes)


@register_model(
    "igcv1_l100m2",
    family=IGCV1,
    variant="IGC-L100M2+Ident., ResNet-18 layout, ImageNet",
    paper_params=8_610_000,
    params_source="Authors' repository (hellozting/InterleavedGroupConvolutions) README, ImageNet table: 8.61M",
    stages=[("stem", 100, 4), ("layer1", 200, 4), ("layer2", 400, 8), ("layer3", 800, 16), ("layer4", 1600, 32)],
    block="layer2.1",
    notes="Here the width doubles by doubling L (100, 200, 400, 800) with M=2, as in resnet_igc_imgnet_d18.py.",
    primary=100, secondary=2,
)
def igcv1_imagenet(num_classes: int, primary: int, secondary: int) -> IGCNet:
    """IGCV1 in ResNet-18's layout: a 7×7 stem of L channels, four stages of two blocks."""
    stem = nn.Sequential(ConvBNAct(3, primary, 7, 2), nn.MaxPool2d(3, 2, 1))
    stages, cin = [], primary
    for i in range(4):
        l = primary * 2**i
        cout = l * secondary
        stages.append(_igc_stage(cin, cout, 2, 1 if i == 0 else 2, lambda ci, co, l=l: (l, co // l), l, True))
        cin = cout
    return IGCNet(stem, stages, cin, num_classes)


@register_model(
    "igcv2_c64_cifar",
    family=IGCV2,
    variant="IGCV2 block (channel-wise 3×3 + two 1×1 group convs), ResNet-20 layout, CIFAR-10",
    input_size=(3, 32, 32),
    num_classes=10,
    small_input=True,
    stages=[("layer1", 64, 1), ("layer2", 128, 2), ("layer3", 256, 4)],
    block="layer1.1",
    notes=(
        "An IGCV2 block with L = 3: a channel-wise 3×3, then 1×1 group convolutions with 8 and "
        "C/8 channels per group, so K1·K2·K3 = C and each output channel is reached from each "
        "input channel by exactly one path (balanced at 64 channels). The widths 64/128/256 and "
        "IGCV1's ResNet-20 layout are ours: the paper defines its CIFAR networks in tables that "
        "could not be read here, so no paper count is claimed."
    ),
    width=64, depth=20, group_width=8,
)
def igcv2_cifar(num_classes: int, width: int, depth: int, group_width: int) -> IGCNet:
    """IGCV2* in IGCV1's CIFAR layout: each 3×3 is a channel-wise conv followed by two
    1×1 group convolutions with ``group_width`` and ``C / group_width`` channels per group.
    Shortcuts that change width are plain 1×1 convolutions."""
    n = (depth - 2) // 6

    def groups_of(ci: int, co: int) -> tuple[int, int, int]:
        return ci, co // group_width, group_width

    stem = ConvBNAct(3, width, 3)
    stages, cin = [], width
    for i in range(3):
        cout = width * 2**i
        stages.append(_igc_stage(cin, cout, n, 1 if i == 0 else 2, groups_of, 1, False))
        cin = cout
    return IGCNet(stem, stages, cin, num_classes)


# IGCV3-D: MobileNet v2's (expansion, channels, blocks, stride) table, made deeper.
IGCV3_D = ((1, 16, 1, 1), (6, 24, 4, 2), (6, 32, 6, 2), (6, 64, 8, 2), (6, 96, 6, 1), (6, 160, 6, 2), (6, 320, 1, 1))


@register_model(
    "igcv3_d",
    family=IGCV3,
    variant="IGCV3-D 1.0×, ImageNet",
    paper_params=3_500_000,
    params_source="Sun et al. 2018, ImageNet comparison with MobileNet v2: IGCV3-D, 3.5M (also the authors' README)",
    stages=[("features.1", 16, 2), ("features.5", 24, 4), ("features.11", 32, 8), ("features.25", 96, 16),
            ("features.33", 1280, 32)],
    block="features.3",
    notes="No channel shuffle follows a block's projecting group conv: the paper writes a second "
    "permutation there, but the authors' released MXNet code (symbols/igcv3.py) has it commented out, "
    "and their released network and pytorchcv's igcv3_w1 weights are that one.",
    first_stride=2, second_stride=2,
)
@register_model(
    "igcv3_d_cifar",
    family=IGCV3,
    variant="IGCV3-D 1.0×, CIFAR (stride-1 stem and second stage)",
    input_size=(3, 32, 32),
    num_classes=10,
    small_input=True,
    stages=[("features.5", 24, 1), ("features.11", 32, 2), ("features.25", 96, 4), ("features.33", 1280, 8)],
    block="features.3",
    notes=(
        "The ImageNet network with the stem's and second stage's strides removed, as CIFAR ports "
        "of the authors' code do (same weights but the classifier). The authors' README lists "
        "2.4M for IGCV3-D on CIFAR without the layout; this network has 2,223,498 parameters with "
        "10 classes and 2,338,788 with 100, or 2,403,332 when BatchNorm's running statistics are "
        "counted too, as MXNet checkpoints store them."
    ),
    first_stride=1, second_stride=1,
)
def igcv3(num_classes: int, first_stride: int, second_stride: int) -> nn.Module:
    """IGCV3-D: stem, 32 IGCV3 blocks, a 1×1 conv to 1280 channels, pooling, classifier."""
    features: list[nn.Module] = [ConvBNAct(3, 32, 3, first_stride, act=nn.ReLU6)]
    cin = 32
    for i, (t, c, n, s) in enumerate(IGCV3_D):
        stride = second_stride if i == 1 else s
        for j in range(n):
            features.append(IGCV3Block(cin, c, stride if j == 0 else 1, t, residual=j > 0))
            cin = c
    features.append(ConvBNAct(cin, 1280, 1, act=nn.ReLU6))
    return nn.Sequential(
        OrderedDict(
            features=nn.Sequential(*features),
            avgpool=nn.AdaptiveAvgPool2d(1),
            flatten=nn.Flatten(1),
            classifier=nn.Linear(1280, num_classes),
        )
    )


register_weights(
    WeightEntry(
        model="igcv3_d", source="pytorchcv", source_model="igcv3_w1", tag="in1k",
        dataset="ImageNet-1k", num_classes=1000,
        preprocess=Preprocess.imagenet(224, 0.875, "bilinear"),
        url="https://github.com/osmr/imgclsmob/releases/download/v0.0.243/igcv3_w1-0920-12385791.pth.zip",
        checksum="sha1:12385791681f09adb3a08926c95471f332f538b6",
        top1=72.09, top5=90.80, metric_source="pytorchcv README (top-1 error 27.91, top-5 error 9.20)",
        license="MIT",
        convert=(by_order("igcv3_d"),),
        notes="pytorchcv's IGCV3 x1.0 is IGCV3-D as the authors' MXNet code builds it (no shuffle after "
        "the projecting group conv), parameter for parameter ours, so it maps by order.",
    ),
)
