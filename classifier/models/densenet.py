"""DenseNet — "Densely Connected Convolutional Networks", Huang, Liu, van der Maaten and
Weinberger, 2016 (arXiv 1608.06993).

Inside a dense block every layer reads the concatenation of all earlier feature maps and
contributes only ``growth_rate`` new ones, so features are reused rather than relearned
and each layer is a short path away from the loss. Transitions between blocks halve the
resolution; DenseNet-BC adds a 1×1 bottleneck in each layer and halves the channels at
each transition, which is how the ImageNet nets stay small.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from classifier.layers import NormActConv
from classifier.registry import Family, register_model
from classifier.weights.convert import by_order
from classifier.weights.entries import WeightEntry, register_weights
from classifier.weights.preprocess import CIFAR_MEAN, CIFAR_STD, Preprocess

DENSENET = Family(
    name="DenseNet",
    year=2016,
    paper="Densely Connected Convolutional Networks",
    arxiv="1608.06993",
    authors="Gao Huang, Zhuang Liu, Laurens van der Maaten, Kilian Q. Weinberger",
    ideas=(
        "Where ResNet adds a layer's output to its input, DenseNet concatenates: later layers see every earlier map.",
        "Each layer adds only k new maps (the growth rate) to the shared, growing stack.",
        "Reusing features instead of relearning them gives ResNet accuracy with a third to a half of the parameters.",
        "1×1 bottlenecks and halving the channels at transitions (DenseNet-BC) keep the growing input cheap.",
    ),
)


class DenseLayer(nn.Sequential):
    """BN-ReLU-conv 1×1 (to ``bn_size × growth_rate`` channels) then BN-ReLU-conv 3×3
    (to ``growth_rate``), applied to the concatenation of every earlier output of the
    block. ``bn_size=0`` drops the bottleneck: a single BN-ReLU-conv 3×3, the original
    DenseNet layer. Children are named as in torchvision's ``_DenseLayer``, whose forward
    uses functional ReLUs; here each ReLU is a module of its own."""

    def __init__(self, in_ch: int, growth_rate: int, bn_size: int):
        layers: OrderedDict[str, nn.Module] = OrderedDict(norm1=nn.BatchNorm2d(in_ch), relu1=nn.ReLU())
        if bn_size:
            mid = bn_size * growth_rate
            layers["conv1"] = nn.Conv2d(in_ch, mid, 1, bias=False)
            layers["norm2"] = nn.BatchNorm2d(mid)
            layers["relu2"] = nn.ReLU()
            layers["conv2"] = nn.Conv2d(mid, growth_rate, 3, padding=1, bias=False)
        else:
            layers["conv1"] = nn.Conv2d(in_ch, growth_rate, 3, padding=1, bias=False)
        super().__init__(layers)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return super().forward(torch.cat(features, 1))


class DenseBlock(nn.ModuleDict):
    """``num_layers`` dense layers; returns the input and every layer's output,
    concatenated (``in_ch + num_layers × growth_rate`` channels)."""

    def __init__(self, num_layers: int, in_ch: int, growth_rate: int, bn_size: int):
        super().__init__(
            {
                f"denselayer{i + 1}": DenseLayer(in_ch + i * growth_rate, growth_rate, bn_size)
                for i in range(num_layers)
            }
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


class Transition(NormActConv):
    """BN-ReLU-conv 1×1 (compressing the channels) and a 2×2 average pool between two
    dense blocks; the names (``norm``, ``conv``, ``pool``) are torchvision's."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__(in_ch, out_ch, 1)
        self.add_module("pool", nn.AvgPool2d(2, stride=2))


class DenseNet(nn.Module):
    """Stem, dense blocks joined by transitions, a final BN-ReLU, global pooling and a
    linear classifier. ``cifar_stem`` swaps the ImageNet stem (7×7/2 conv, max pool) for
    the CIFAR one (a single 3×3 conv), as in the paper's CIFAR nets.

    Parameter and buffer names follow torchvision's ``DenseNet`` (``features.conv0``,
    ``features.denseblock1.denselayer1.norm1``, ``features.transition1.conv``,
    ``features.norm5``, ``classifier``), so its state dicts load with ``strict=True``.
    """

    def __init__(
        self,
        growth_rate: int,
        block_config: tuple[int, ...],
        num_init_features: int,
        bn_size: int = 4,
        compression: float = 0.5,
        num_classes: int = 1000,
        cifar_stem: bool = False,
    ):
        super().__init__()
        features: OrderedDict[str, nn.Module] = OrderedDict()
        if cifar_stem:
            features["conv0"] = nn.Conv2d(3, num_init_features, 3, padding=1, bias=False)
        else:
            features["conv0"] = nn.Conv2d(3, num_init_features, 7, stride=2, padding=3, bias=False)
            features["norm0"] = nn.BatchNorm2d(num_init_features)
            features["relu0"] = nn.ReLU()
            features["pool0"] = nn.MaxPool2d(3, stride=2, padding=1)
        channels = num_init_features
        for i, num_layers in enumerate(block_config):
            features[f"denseblock{i + 1}"] = DenseBlock(num_layers, channels, growth_rate, bn_size)
            channels += num_layers * growth_rate
            if i != len(block_config) - 1:
                out = int(channels * compression)
                features[f"transition{i + 1}"] = Transition(channels, out)
                channels = out
        features["norm5"] = nn.BatchNorm2d(channels)
        features["relu5"] = nn.ReLU()
        self.features = nn.Sequential(features)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def dense_stages(
    growth_rate: int,
    block_config: tuple[int, ...],
    num_init_features: int,
    compression: float = 0.5,
    cifar_stem: bool = False,
) -> list[tuple[str, int, int]]:
    """(module, channels, stride) of each resolution's last feature map: the stem's ReLU
    (ImageNet only), every dense block but the last, and the final BN-ReLU."""
    stages = [] if cifar_stem else [("features.relu0", num_init_features, 2)]
    stride = 1 if cifar_stem else 4
    channels = num_init_features
    for i, num_layers in enumerate(block_config):
        channels += num_layers * growth_rate
        if i == len(block_config) - 1:
            stages.append(("features.relu5", channels, stride))
        else:
            stages.append((f"features.denseblock{i + 1}", channels, stride))
            channels = int(channels * compression)
            stride *= 2
    return stages


def build_densenet(num_classes: int, **kwargs) -> DenseNet:
    return DenseNet(num_classes=num_classes, **kwargs)


# name: (growth rate, layers per block, stem width, parameters of torchvision's weights
# metadata, the same as Table 1's nets).
_IMAGENET = {
    121: (32, (6, 12, 24, 16), 64, 7_978_856),
    161: (48, (6, 12, 36, 24), 96, 28_681_000),
    169: (32, (6, 12, 32, 32), 64, 14_149_480),
    201: (32, (6, 12, 48, 32), 64, 20_013_928),
}
for _depth, (_k, _blocks, _init, _params) in _IMAGENET.items():
    register_model(
        f"densenet{_depth}", family=DENSENET, variant=f"DenseNet-{_depth} (k={_k})", torchvision=f"densenet{_depth}",
        paper_params=_params, params_source="torchvision reference implementation (weights metadata num_params)",
        stages=dense_stages(_k, _blocks, _init), block="features.denseblock1.denselayer1",
        growth_rate=_k, block_config=_blocks, num_init_features=_init,
    )(build_densenet)

# The CIFAR nets of Table 2: three dense blocks of (L - 4) / 3 layers (halved again when
# each layer has a bottleneck) at 32, 16 and 8 pixels.
register_model(
    "densenet40_cifar", family=DENSENET, variant="DenseNet (L=40, k=12, CIFAR)", input_size=(3, 32, 32),
    num_classes=10, small_input=True, paper_params=1_000_000, params_source="Huang et al. 2016, Table 2",
    stages=dense_stages(12, (12, 12, 12), 16, compression=1.0, cifar_stem=True),
    block="features.denseblock1.denselayer1",
    notes="No bottleneck and no compression; the first conv has 16 filters, as the paper says. "
    "No public trained weights load into this network: the only public CIFAR DenseNet-40 (pytorchcv) has a "
    "24-filter first conv where the paper's has 16; train it on the Train page.",
    growth_rate=12, block_config=(12, 12, 12), num_init_features=16, bn_size=0, compression=1.0, cifar_stem=True,
)(build_densenet)
register_model(
    "densenet_bc100_cifar", family=DENSENET, variant="DenseNet-BC (L=100, k=12, CIFAR)", input_size=(3, 32, 32),
    num_classes=10, small_input=True, paper_params=800_000, params_source="Huang et al. 2016, Table 2",
    stages=dense_stages(12, (16, 16, 16), 24, cifar_stem=True), block="features.denseblock1.denselayer1",
    notes="Bottleneck layers and compression 0.5; the first conv has 2k = 24 filters.",
    growth_rate=12, block_config=(16, 16, 16), num_init_features=24, bn_size=4, compression=0.5, cifar_stem=True,
)(build_densenet)


# CIFAR-10 weights (pytorchcv). Its densenet40_k12_cifar10 starts with 2k = 24 filters where the
# paper's DenseNet (no BC) has 16, so it does not fit densenet40_cifar.
register_weights(
    WeightEntry(
        model='densenet_bc100_cifar', source="pytorchcv", source_model='densenet100_k12_bc_cifar10', tag="cifar10", dataset="CIFAR-10", num_classes=10,
        preprocess=Preprocess((32, 32), 32, CIFAR_MEAN, CIFAR_STD),
        url="https://github.com/osmr/imgclsmob/releases/download/v0.0.189/densenet100_k12_bc_cifar10-0416-b9232829.pth.zip",
        checksum="sha1:b9232829b13c3f3f2ea15f4be97f500b7912c3c2", top1=95.84, metric_source="pytorchcv metainfo / README (top-1 error 4.16)",
        license="MIT",
        convert=(by_order('densenet_bc100_cifar'),),
        notes="pytorchcv's DenseNet-BC (L=100, k=12) is ours parameter for parameter, so it maps by order.",
    ),
)
