"""CliqueNet — "Convolutional Neural Networks with Alternately Updated Clique", Yang, Zhong,
Shen and Lin, 2018 (arXiv 1802.10419).

In a clique block every pair of layers is connected both ways. Stage I fills the layers
in order, each from the block input and the layers before it (a dense block). Stage II
then updates each layer again from the latest versions of all the others, so later,
more abstract layers feed back into earlier ones; the weights of each connection are the
same in both stages. Only the refined stage-II layers go on to the next block, which
keeps the width from growing, while every block's features reach the classifier.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from classifier.layers import NormActConv, SqueezeExcitation
from classifier.registry import Family, register_model

CLIQUENET = Family(
    name="CliqueNet",
    year=2018,
    paper="Convolutional Neural Networks with Alternately Updated Clique",
    arxiv="1802.10419",
    authors="Yibo Yang, Zhisheng Zhong, Tiancheng Shen, Zhouchen Lin",
    ideas=(
        "A dense block links each layer to later ones; a clique block links every pair of layers both ways.",
        "Stage I fills the layers in order; stage II recomputes each from the newest others with the same weights.",
        "Only the refined stage-II maps go on to the next block, so the width does not pile up as in DenseNet.",
        "Every block's features are pooled for the classifier: a multi-scale feature at little cost.",
    ),
)


class CliqueUpdate(nn.Module):
    """The parts of one layer update that are not shared between the stages: the BN-ReLU
    over the concatenated inputs and, with a bottleneck, the BN-ReLU before the layer's
    3×3 conv."""

    def __init__(self, in_ch: int, channels: int, bottleneck: bool):
        super().__init__()
        self.norm = nn.BatchNorm2d(in_ch)
        self.act = nn.ReLU()
        if bottleneck:
            self.norm2 = nn.BatchNorm2d(channels)
            self.act2 = nn.ReLU()


class CliqueBlock(nn.Module):
    """``layers`` layers of ``channels`` maps each, over a block input of ``in_ch`` maps.

    ``edges["j_i"]`` holds the weights of the connection from layer j to layer i (j = 0 is
    the block input). A layer is the sum of its incoming edges applied to the BN-ReLU of
    their sources, which equals one conv over the concatenated sources with the edges'
    weights stacked. Stage I uses the edges from the input and from earlier layers;
    stage II uses the edges from every other layer, including the ones running backwards.
    Without a bottleneck the edges are 3×3 convs; with one (the ImageNet nets) they are
    1×1 and each layer ends with its own 3×3 conv, shared by both stages.

    Returns the block feature (input and stage-II layers, for the classifier) and the
    stage-II layers alone (for the next block).
    """

    def __init__(self, in_ch: int, channels: int, layers: int, bottleneck: bool = False):
        super().__init__()
        self.in_ch, self.channels, self.layers, self.bottleneck = in_ch, channels, layers, bottleneck
        k = 1 if bottleneck else 3
        self.edges = nn.ModuleDict(
            {
                f"{j}_{i}": nn.Conv2d(in_ch if j == 0 else channels, channels, k, padding=k // 2, bias=False)
                for i in range(1, layers + 1)
                for j in range(layers + 1)
                if j != i
            }
        )
        if bottleneck:
            self.convs = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1, bias=False) for _ in range(layers))
        self.stage1 = nn.ModuleList(CliqueUpdate(in_ch + i * channels, channels, bottleneck) for i in range(layers))
        self.stage2 = nn.ModuleList(CliqueUpdate((layers - 1) * channels, channels, bottleneck) for _ in range(layers))

    def _update(self, update: CliqueUpdate, i: int, sources: list[tuple[int, torch.Tensor]]) -> torch.Tensor:
        x = update.act(update.norm(torch.cat([t for _, t in sources], 1)))
        out, start = None, 0
        for j, _ in sources:
            width = self.in_ch if j == 0 else self.channels
            y = self.edges[f"{j}_{i}"](x[:, start : start + width])
            out = y if out is None else out + y
            start += width
        if self.bottleneck:
            out = self.convs[i - 1](update.act2(update.norm2(out)))
        return out

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        layer: dict[int, torch.Tensor] = {}
        for i in range(1, self.layers + 1):
            sources = [(0, x)] + [(j, layer[j]) for j in range(1, i)]
            layer[i] = self._update(self.stage1[i - 1], i, sources)
        for i in range(1, self.layers + 1):
            sources = [(j, layer[j]) for j in range(1, self.layers + 1) if j != i]
            layer[i] = self._update(self.stage2[i - 1], i, sources)
        refined = torch.cat([layer[i] for i in range(1, self.layers + 1)], 1)
        return torch.cat([x, refined], 1), refined


class CliqueNet(nn.Module):
    """Stem, clique blocks joined by transitions (BN-ReLU-conv 1×1 keeping the width, 2×2
    average pool), and a classifier over the concatenated, globally pooled block features.

    The paper's extra techniques, used by its ImageNet nets: ``bottleneck`` (see
    :class:`CliqueBlock`), ``compression`` (halve each block feature with a BN-ReLU-conv
    1×1 before pooling) and ``attention`` (an attentional transition: a squeeze-and-
    excitation gate with a 2× reduction re-weights the channels before the pool).
    ``imagenet_stem`` is a 7×7/2 conv-BN-ReLU and a 3×3/2 max pool instead of the CIFAR
    nets' single 3×3 conv.
    """

    def __init__(
        self,
        channels: tuple[int, ...],
        layers: tuple[int, ...],
        stem_width: int = 64,
        bottleneck: bool = False,
        compression: bool = False,
        attention: bool = False,
        imagenet_stem: bool = False,
        num_classes: int = 1000,
    ):
        super().__init__()
        if imagenet_stem:
            self.stem = nn.Sequential(
                nn.Conv2d(3, stem_width, 7, stride=2, padding=3, bias=False),
                nn.BatchNorm2d(stem_width),
                nn.ReLU(),
                nn.MaxPool2d(3, stride=2, padding=1),
            )
        else:
            self.stem = nn.Sequential(nn.Conv2d(3, stem_width, 3, padding=1, bias=False))
        blocks, heads, transitions = [], [], []
        in_ch, pooled = stem_width, 0
        for b, (k, n) in enumerate(zip(channels, layers)):
            blocks.append(CliqueBlock(in_ch, k, n, bottleneck))
            feature = in_ch + k * n
            head: OrderedDict[str, nn.Module] = OrderedDict()
            if compression:
                head["compress"] = NormActConv(feature, feature // 2)
                feature //= 2
            head.update(norm=nn.BatchNorm2d(feature), act=nn.ReLU(), pool=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten())
            heads.append(nn.Sequential(head))
            pooled += feature
            in_ch = k * n
            if b != len(channels) - 1:
                transition: OrderedDict[str, nn.Module] = OrderedDict(unit=NormActConv(in_ch, in_ch))
                if attention:
                    transition["attention"] = SqueezeExcitation(in_ch, in_ch // 2)
                transition["pool"] = nn.AvgPool2d(2)
                transitions.append(nn.Sequential(transition))
        self.blocks = nn.ModuleList(blocks)
        self.heads = nn.ModuleList(heads)
        self.transitions = nn.ModuleList(transitions)
        self.fc = nn.Linear(pooled, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        pooled = []
        for b, (block, head) in enumerate(zip(self.blocks, self.heads)):
            feature, refined = block(x)
            pooled.append(head(feature))
            if b < len(self.transitions):
                x = self.transitions[b](refined)
        return self.fc(torch.cat(pooled, 1))


def clique_stages(
    channels: tuple[int, ...],
    layers: tuple[int, ...],
    stem_width: int = 64,
    compression: bool = False,
    first_stride: int = 1,
) -> list[tuple[str, int, int]]:
    """Each block's pooled feature (the head's ReLU): its input plus its stage-II maps,
    halved with compression."""
    stages, in_ch = [], stem_width
    for b, (k, n) in enumerate(zip(channels, layers)):
        feature = in_ch + k * n
        stages.append((f"heads.{b}.act", feature // 2 if compression else feature, first_stride * 2**b))
        in_ch = k * n
    return stages


def build_cliquenet(num_classes: int, **kwargs) -> CliqueNet:
    return CliqueNet(num_classes=num_classes, **kwargs)


# The paper's main CIFAR nets (no bottleneck, compression or attention; also Table 3 of
# the authors' README): T layers split over three blocks, k maps per layer.
for _t, _k, _params in ((12, 36, 940_000), (15, 64, 4_490_000), (15, 80, 6_940_000), (18, 80, 10_140_000)):
    _layers = (_t // 3,) * 3
    register_model(
        f"cliquenet_t{_t}_k{_k}_cifar", family=CLIQUENET, variant=f"CliqueNet (T={_t}, k={_k}, CIFAR)",
        input_size=(3, 32, 32), num_classes=10, small_input=True, paper_params=_params,
        params_source="Yang et al. 2018, CIFAR results table", stages=clique_stages((_k,) * 3, _layers),
        block="blocks.0", notes="A 64-filter 3×3 stem and three blocks at 32, 16 and 8 pixels.",
        channels=(_k,) * 3, layers=_layers,
    )(build_cliquenet)

# The largest ImageNet net: block layout of the authors' released PyTorch code
# (iboing/CliqueNet, imagenet_pytorch/cliquenet.py, cliquenet_s3), with the paper's three
# techniques; 14.38M parameters in the paper's ImageNet table.
register_model(
    "cliquenet_s3", family=CLIQUENET, variant="CliqueNet-S3 (ImageNet)", paper_params=14_380_000,
    params_source="Yang et al. 2018, ImageNet results table (CliqueNet-S3)",
    stages=clique_stages((40, 80, 160, 160), (6, 6, 6, 6), compression=True, first_stride=4), block="blocks.0",
    notes="Four blocks of 6 layers with 40/80/160/160 maps, with bottlenecks, compression and attentional "
    "transitions.",
    channels=(40, 80, 160, 160), layers=(6, 6, 6, 6), bottleneck=True, compression=True, attention=True,
    imagenet_stem=True,
)(build_cliquenet)
