"""MnasNet — "MnasNet: Platform-Aware Neural Architecture Search for Mobile", Tan, Chen,
Pang, Vasudevan, Sandler, Howard, Le, 2018, arXiv 1807.11626.

A reinforcement-learning controller searched a mobile network whose reward was accuracy
traded off against latency measured on a real phone, not FLOPs. The search space is
factorised: each stage picks its own block (kernel 3 or 5, expansion 3 or 6, repeats), so
the result is not one cell repeated but a stack of different inverted residuals. This is
the B1 network (no squeeze-and-excitation) that torchvision ships, with its names.
"""

from __future__ import annotations

from torch import nn

from classifier.layers import make_divisible
from classifier.registry import Family, register_model

MNASNET = Family(
    name="MnasNet",
    year=2018,
    paper="MnasNet: Platform-Aware Neural Architecture Search for Mobile",
    arxiv="1807.11626",
    authors="Tan, Chen, Pang, Vasudevan, Sandler, Howard, Le",
    ideas=(
        "The search rewards accuracy and penalises latency measured on a phone, not FLOPs.",
        "Each stage searches its own block, so stages differ in kernel, expansion and depth.",
        "The blocks are MobileNet v2's inverted residuals with linear bottlenecks.",
        "The network found mixes 3×3 and 5×5 depthwise kernels, expansions of 3 and 6.",
    ),
)

# TensorFlow's BatchNorm decay 0.9997 as PyTorch momentum, as torchvision sets it: the
# running statistics of its pretrained weights were accumulated with it.
BN_MOMENTUM = 1 - 0.9997

# Channels of the stem conv, the stem's separable output, and the six stacks (torchvision's
# ``_get_depths``, scaled by the width multiplier).
DEPTHS = (32, 16, 24, 40, 80, 96, 192, 320)
# (kernel, first stride, expansion, repeats) of the six stacks of inverted residuals.
STACKS = ((3, 2, 3, 3), (5, 2, 3, 3), (5, 2, 6, 3), (3, 1, 6, 2), (5, 2, 6, 4), (3, 1, 6, 1))


class MnasBlock(nn.Module):
    """An inverted residual with its eight modules in one flat ``layers`` sequence
    (expand 1×1, depthwise k×k, linear project 1×1, each with BatchNorm), named like
    torchvision's MNASNet block so its state dict loads; the shortcut joins equal shapes."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int, expansion: int):
        super().__init__()
        mid = in_ch * expansion
        self.apply_residual = in_ch == out_ch and stride == 1
        self.layers = nn.Sequential(
            nn.Conv2d(in_ch, mid, 1, bias=False),
            nn.BatchNorm2d(mid, momentum=BN_MOMENTUM),
            nn.ReLU(),
            nn.Conv2d(mid, mid, kernel_size, stride, kernel_size // 2, groups=mid, bias=False),
            nn.BatchNorm2d(mid, momentum=BN_MOMENTUM),
            nn.ReLU(),
            nn.Conv2d(mid, out_ch, 1, bias=False),
            nn.BatchNorm2d(out_ch, momentum=BN_MOMENTUM),
        )

    def forward(self, x):
        out = self.layers(x)
        return out + x if self.apply_residual else out


class MnasNet(nn.Module):
    """Stem conv, a depthwise-separable conv, six stacks of MnasBlocks, a 1×1 conv to 1280
    channels, global pooling and a linear classifier; ``layers.N`` indices and
    ``classifier.1`` follow torchvision's ``mnasnet*`` builders.

    ``cifar_stem=True`` gives the stem and the first stack stride 1 (as our MobileNet v2
    CIFAR variant does), so 32×32 inputs end at 4×4 instead of 1×1.
    """

    # torchvision reads this from a state dict's metadata: version 1 means the old
    # fixed-width stem, so a state dict of ours must say 2 to load into its model.
    _version = 2

    def __init__(self, num_classes: int = 1000, alpha: float = 1.0, dropout: float = 0.2, cifar_stem: bool = False):
        super().__init__()
        d = [make_divisible(c * alpha) for c in DEPTHS]
        layers: list[nn.Module] = [
            nn.Conv2d(3, d[0], 3, 1 if cifar_stem else 2, 1, bias=False),
            nn.BatchNorm2d(d[0], momentum=BN_MOMENTUM),
            nn.ReLU(),
            nn.Conv2d(d[0], d[0], 3, 1, 1, groups=d[0], bias=False),
            nn.BatchNorm2d(d[0], momentum=BN_MOMENTUM),
            nn.ReLU(),
            nn.Conv2d(d[0], d[1], 1, bias=False),
            nn.BatchNorm2d(d[1], momentum=BN_MOMENTUM),
        ]
        in_ch = d[1]
        for i, ((k, s, t, n), out_ch) in enumerate(zip(STACKS, d[2:])):
            s = 1 if cifar_stem and i == 0 else s
            layers.append(nn.Sequential(*(MnasBlock(in_ch if j == 0 else out_ch, out_ch, k, s if j == 0 else 1, t)
                                          for j in range(n))))
            in_ch = out_ch
        layers += [nn.Conv2d(in_ch, 1280, 1, bias=False), nn.BatchNorm2d(1280, momentum=BN_MOMENTUM), nn.ReLU()]
        self.layers = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(1280, num_classes))
        # torchvision's initialisation, so a net trained from scratch here starts as its did.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.kaiming_uniform_(m.weight, mode="fan_out", nonlinearity="sigmoid")
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.classifier(self.flatten(self.avgpool(self.layers(x))))


def _stages(alpha: float, cifar: bool = False) -> list[tuple[str, int, int]]:
    """The stem's output, the stacks where the resolution halves, and the last conv."""
    d = [make_divisible(c * alpha) for c in DEPTHS]
    stages = [("layers.7", d[1], 2), ("layers.8", d[2], 4), ("layers.9", d[3], 8), ("layers.11", d[5], 16),
              ("layers.16", 1280, 32)]
    if cifar:  # stem and first stack at stride 1: the two first stages merge at stride 1
        return [("layers.8", d[2], 1)] + [(m, c, s // 4) for m, c, s in stages[2:]]
    return stages


# The parameter counts are torchvision's weights metadata (``num_params``) for its
# mnasnet0_5 and mnasnet1_0 ImageNet weights; the paper reports its A1 net (with SE).
# Decorators run bottom-up: registered as 0.5, 1.0, then the CIFAR variant.
@register_model(
    "mnasnet1_0_cifar",
    family=MNASNET,
    variant="B1, 1.0, 32×32 input (stride-1 stem and first stack)",
    input_size=(3, 32, 32),
    num_classes=10,
    stages=_stages(1.0, cifar=True),
    small_input=True,
    block="layers.9.1",
    notes="The paper has no CIFAR network; two strides become 1 so 32×32 inputs end at 4×4.",
    alpha=1.0,
    cifar_stem=True,
)
@register_model(
    "mnasnet1_0",
    family=MNASNET,
    variant="B1, depth multiplier 1.0, 224",
    paper_params=4_383_312,
    params_source="torchvision mnasnet1_0 weights metadata (num_params)",
    stages=_stages(1.0),
    torchvision="mnasnet1_0",
    block="layers.9.1",
    alpha=1.0,
)
@register_model(
    "mnasnet0_5",
    family=MNASNET,
    variant="B1, depth multiplier 0.5, 224",
    paper_params=2_218_512,
    params_source="torchvision mnasnet0_5 weights metadata (num_params)",
    stages=_stages(0.5),
    torchvision="mnasnet0_5",
    block="layers.9.1",
    alpha=0.5,
)
def mnasnet(num_classes: int, alpha: float = 1.0, dropout: float = 0.2, cifar_stem: bool = False) -> MnasNet:
    return MnasNet(num_classes, alpha, dropout, cifar_stem)
