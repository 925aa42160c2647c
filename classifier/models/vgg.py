"""VGG — "Very Deep Convolutional Networks for Large-Scale Image Recognition", Simonyan
and Zisserman, 2014 (arXiv 1409.1556).

Depth is the only thing that varies: every conv is 3×3 with stride 1, and five 2×2 max
pools halve the map while the width doubles from 64 to 512. A stack of small convs sees
as far as one large conv with fewer parameters and more non-linearities. Configurations
A, B, D, E of Table 1 are VGG-11/13/16/19; the ``_bn`` variants add BatchNorm (a later
addition, as in torchvision).
"""

from __future__ import annotations

import torch
from torch import nn

from classifier.registry import Family, register_model

VGG_FAMILY = Family(
    name="VGG",
    year=2014,
    paper="Very Deep Convolutional Networks for Large-Scale Image Recognition",
    arxiv="1409.1556",
    authors="Karen Simonyan, Andrew Zisserman",
    ideas=(
        "Only 3×3 convolutions: two of them see a 5×5 window, three a 7×7, with fewer weights and more ReLUs.",
        "A uniform design of five stages whose width doubles after each 2×2 max pool, from 64 to 512.",
        "Going from 11 to 19 weight layers keeps lowering the error, showing that depth matters.",
        "Deeper configurations were initialised from shallower trained ones; LRN was found not to help.",
    ),
)

# Table 1 of the paper: numbers are 3×3 conv widths, "M" a 2×2 max pool.
CONFIGS: dict[int, list[int | str]] = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def make_features(config: list[int | str], batch_norm: bool) -> nn.Sequential:
    """Conv(3×3, pad 1) [+ BatchNorm] + ReLU per number, MaxPool(2) per "M", in one flat
    Sequential numbered like torchvision's so its weights load."""
    layers: list[nn.Module] = []
    in_ch = 3
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(2, stride=2))
            continue
        layers.append(nn.Conv2d(in_ch, item, 3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(item))
        layers.append(nn.ReLU())
        in_ch = item
    return nn.Sequential(*layers)


def feature_stages(config: list[int | str], batch_norm: bool) -> list[tuple[str, int, int]]:
    """The last ReLU before each pool (strides 1–16) and the last pool (stride 32)."""
    stages, index, stride, channels = [], -1, 1, 3
    for item in config:
        if item == "M":
            stages.append((f"features.{index}", channels, stride))
            index += 1
            stride *= 2
        else:
            index += 3 if batch_norm else 2
            channels = item
    stages.append((f"features.{index}", channels, stride))
    return stages


class VGG(nn.Module):
    """The conv trunk, adaptive average pooling and a classifier: torchvision's three fully
    connected layers with dropout when ``hidden`` is set, else a single linear layer (the
    usual CIFAR head on the 1×1×512 output)."""

    def __init__(
        self,
        config: list[int | str],
        batch_norm: bool = False,
        num_classes: int = 1000,
        pool_size: int = 7,
        hidden: int | None = 4096,
        dropout: float = 0.5,
    ):
        super().__init__()
        self.features = make_features(config, batch_norm)
        channels = [c for c in config if c != "M"][-1] * pool_size * pool_size
        self.avgpool = nn.AdaptiveAvgPool2d((pool_size, pool_size))
        if hidden is None:
            self.classifier: nn.Module = nn.Linear(channels, num_classes)
        else:
            self.classifier = nn.Sequential(
                nn.Linear(channels, hidden),
                nn.ReLU(),
                nn.Dropout(dropout),
                nn.Linear(hidden, hidden),
                nn.ReLU(),
                nn.Dropout(dropout),
                nn.Linear(hidden, num_classes),
            )
        self._init_weights()

    def _init_weights(self) -> None:
        """torchvision's scheme: He-normal convs, unit BatchNorms, N(0, 0.01) linear layers."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def build_vgg(num_classes: int, depth: int, batch_norm: bool, **kwargs) -> VGG:
    return VGG(CONFIGS[depth], batch_norm=batch_norm, num_classes=num_classes, **kwargs)


# Table 2 of the paper, in millions: A 133, B 133, D 138, E 144 (BatchNorm adds ~0.01%).
_PAPER_PARAMS = {11: 133_000_000, 13: 133_000_000, 16: 138_000_000, 19: 144_000_000}
_LETTER = {11: "A", 13: "B", 16: "D", 19: "E"}

for _depth, _params in _PAPER_PARAMS.items():
    for _bn in (False, True):
        _name = f"vgg{_depth}{'_bn' if _bn else ''}"
        register_model(
            _name, family=VGG_FAMILY, variant=f"VGG-{_depth}{' BN' if _bn else ''} (config {_LETTER[_depth]})",
            torchvision=_name, paper_params=_params,
            params_source="Simonyan & Zisserman 2014, Table 2 (without BatchNorm)",
            stages=feature_stages(CONFIGS[_depth], _bn), depth=_depth, batch_norm=_bn,
        )(build_vgg)

for _bn in (False, True):
    register_model(
        f"vgg16{'_bn' if _bn else ''}_cifar", family=VGG_FAMILY, variant=f"VGG-16{' BN' if _bn else ''} (CIFAR)",
        input_size=(3, 32, 32), num_classes=10, small_input=True, stages=feature_stages(CONFIGS[16], _bn),
        notes=("The common CIFAR adaptation (e.g. kuangliu/pytorch-cifar): the paper's 13 conv layers "
               "unchanged, their 1×1×512 output fed to one linear layer instead of the three 4096-wide ones."),
        depth=16, batch_norm=_bn, pool_size=1, hidden=None,
    )(build_vgg)
