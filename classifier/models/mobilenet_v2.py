"""MobileNet v2 — "MobileNetV2: Inverted Residuals and Linear Bottlenecks", Sandler et al.,
2018, arXiv 1801.04381.

The residual block is turned inside out: narrow ends joined by the shortcut, a wide
middle (expanded 6×) where a cheap depthwise conv does the spatial work. The final 1×1
projection is linear, because a ReLU on the narrow bottleneck would discard information
that the few channels cannot afford to lose.
"""

from __future__ import annotations

from torch import nn

from classifier.layers import ConvBNAct, InvertedResidual, make_divisible
from classifier.registry import Family, register_model

MOBILENET_V2 = Family(
    name="MobileNet v2",
    year=2018,
    paper="MobileNetV2: Inverted Residuals and Linear Bottlenecks",
    arxiv="1801.04381",
    authors="Sandler, Howard, Zhu, Zhmoginov, Chen",
    ideas=(
        "Blocks are inverted residuals: thin in and out, six times wider in the middle.",
        "The wide middle is filtered by a cheap depthwise 3×3 convolution.",
        "The projection back to the thin output has no ReLU (a linear bottleneck).",
        "Shortcuts join the thin ends, so the memory carried between blocks stays small.",
    ),
)

# (expansion t, output channels c, repeats n, first stride s) per stage (paper, Table 2).
STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


class MobileNetV2(nn.Module):
    """Stem conv, 17 inverted residuals, a 1×1 conv to 1280 channels, pooling and a linear
    classifier; names follow torchvision's ``mobilenet_v2`` so its weights load.

    ``cifar_stem=True`` gives the stem and the 24-channel stage stride 1 (the common CIFAR
    adaptation), so 32×32 inputs end at 4×4 instead of 1×1.
    """

    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0, dropout: float = 0.2, cifar_stem: bool = False):
        super().__init__()
        in_ch = make_divisible(32 * width_mult)
        last_ch = make_divisible(1280 * max(1.0, width_mult))
        layers: list[nn.Module] = [ConvBNAct(3, in_ch, 3, 1 if cifar_stem else 2, act=nn.ReLU6)]
        for i, (t, c, n, s) in enumerate(STAGES):
            out_ch = make_divisible(c * width_mult)
            if cifar_stem and i == 1:
                s = 1
            for j in range(n):
                layers.append(InvertedResidual(in_ch, out_ch, in_ch * t, 3, s if j == 0 else 1, nn.ReLU6, layout="v2"))
                in_ch = out_ch
        layers.append(ConvBNAct(in_ch, last_ch, 1, act=nn.ReLU6))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last_ch, num_classes))

    def forward(self, x):
        return self.classifier(self.flatten(self.avgpool(self.features(x))))


@register_model(
    "mobilenet_v2",
    family=MOBILENET_V2,
    variant="1.0, 224",
    paper_params=3_504_872,
    params_source="torchvision mobilenet_v2 (paper Table 4: 3.4M)",
    stages=[("features.1", 16, 2), ("features.3", 24, 4), ("features.6", 32, 8), ("features.13", 96, 16),
            ("features.18", 1280, 32)],
    torchvision="mobilenet_v2",
    block="features.2",
)
@register_model(
    "mobilenet_v2_cifar",
    family=MOBILENET_V2,
    variant="1.0, 32×32 input (stride-1 stem and 24-channel stage)",
    input_size=(3, 32, 32),
    num_classes=10,
    stages=[("features.3", 24, 1), ("features.6", 32, 2), ("features.13", 96, 4), ("features.18", 1280, 8)],
    small_input=True,
    block="features.2",
    notes="The paper has no CIFAR network; two strides become 1 so 32×32 inputs end at 4×4.",
    cifar_stem=True,
)
def mobilenet_v2(num_classes: int, width_mult: float = 1.0, dropout: float = 0.2, cifar_stem: bool = False) -> MobileNetV2:
    return MobileNetV2(num_classes, width_mult, dropout, cifar_stem)
