"""MobileNet v3 — "Searching for MobileNetV3", Howard et al., 2019, arXiv 1905.02244.

The layer table was found by platform-aware architecture search (MnasNet-style, then
NetAdapt trimming per layer) and tidied by hand: MobileNet v2's inverted residuals, some
with a squeeze-and-excitation gate, 5×5 depthwise kernels in places, and the
hard-swish activation (x·ReLU6(x+3)/6, a cheap stand-in for swish) in the deeper half,
where the maps are small and its cost is low. The head is also trimmed: pooling comes
before the last wide layer, so that layer runs on one pixel.
"""

from __future__ import annotations

from torch import nn

from classifier.layers import ConvBNAct, InvertedResidual, SqueezeExcitation, make_divisible
from classifier.registry import Family, register_model

MOBILENET_V3 = Family(
    name="MobileNet v3",
    year=2019,
    paper="Searching for MobileNetV3",
    arxiv="1905.02244",
    authors="Howard, Sandler, Chu, Chen, Chen, Tan, Wang, Zhu, Pang, Vasudevan, Le, Adam",
    ideas=(
        "The layer table comes from hardware-aware search, refined layer by layer with NetAdapt.",
        "Blocks are MobileNet v2 inverted residuals, some with a squeeze-and-excitation gate.",
        "Hard-swish, a piecewise-linear swish, replaces ReLU in the deeper layers.",
        "The expensive last layers are redesigned: pooling first, then a 1×1 layer on a single pixel.",
    ),
)

# (kernel, expanded channels, output channels, SE, hard-swish, stride) per block
# (paper, Tables 1 and 2).
LARGE = (
    (3, 16, 16, False, False, 1), (3, 64, 24, False, False, 2), (3, 72, 24, False, False, 1),
    (5, 72, 40, True, False, 2), (5, 120, 40, True, False, 1), (5, 120, 40, True, False, 1),
    (3, 240, 80, False, True, 2), (3, 200, 80, False, True, 1), (3, 184, 80, False, True, 1),
    (3, 184, 80, False, True, 1), (3, 480, 112, True, True, 1), (3, 672, 112, True, True, 1),
    (5, 672, 160, True, True, 2), (5, 960, 160, True, True, 1), (5, 960, 160, True, True, 1),
)
SMALL = (
    (3, 16, 16, True, False, 2), (3, 72, 24, False, False, 2), (3, 88, 24, False, False, 1),
    (5, 96, 40, True, True, 2), (5, 240, 40, True, True, 1), (5, 240, 40, True, True, 1),
    (5, 120, 48, True, True, 1), (5, 144, 48, True, True, 1), (5, 288, 96, True, True, 2),
    (5, 576, 96, True, True, 1), (5, 576, 96, True, True, 1),
)
CONFIGS = {"large": (LARGE, 1280), "small": (SMALL, 1024)}


def _hard_se(channels: int) -> nn.Module:
    """v3's gate squeezes to a quarter of the channels and uses a hard sigmoid."""
    return SqueezeExcitation(channels, make_divisible(channels // 4), gate=nn.Hardsigmoid)


class MobileNetV3(nn.Module):
    """Hard-swish stem, the searched inverted residuals, a 1×1 conv to 6× the last width,
    pooling, then a hidden linear layer and the classifier. Names follow torchvision's
    ``mobilenet_v3_large``/``_small`` so its weights load; BatchNorm uses the TF settings
    (eps 1e-3, momentum 0.01) as there.

    ``cifar_stem=True`` gives the stem and the first stride-2 block stride 1, so 32×32
    inputs end at 4×4 instead of 1×1.
    """

    def __init__(
        self, arch: str = "large", num_classes: int = 1000, width_mult: float = 1.0, dropout: float = 0.2,
        cifar_stem: bool = False,
    ):
        super().__init__()
        blocks, hidden = CONFIGS[arch]
        bn = dict(bn_eps=1e-3, bn_momentum=0.01)

        def width(channels: int) -> int:
            return make_divisible(channels * width_mult)

        in_ch = width(16)
        layers: list[nn.Module] = [ConvBNAct(3, in_ch, 3, 1 if cifar_stem else 2, act=nn.Hardswish, **bn)]
        first_reduction = next(i for i, b in enumerate(blocks) if b[5] == 2)
        for i, (k, mid, out, se, hs, stride) in enumerate(blocks):
            if cifar_stem and i == first_reduction:
                stride = 1
            act = nn.Hardswish if hs else nn.ReLU
            block = InvertedResidual(
                in_ch, width(out), width(mid), k, stride, act, se=_hard_se if se else None, **bn
            )
            layers.append(block)
            in_ch = width(out)
        last_conv = 6 * in_ch
        layers.append(ConvBNAct(in_ch, last_conv, 1, act=nn.Hardswish, **bn))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        hidden = width(hidden)
        self.classifier = nn.Sequential(
            nn.Linear(last_conv, hidden), nn.Hardswish(), nn.Dropout(dropout), nn.Linear(hidden, num_classes)
        )

    def forward(self, x):
        return self.classifier(self.flatten(self.avgpool(self.features(x))))


LARGE_STAGES = [("features.1", 16, 2), ("features.3", 24, 4), ("features.6", 40, 8), ("features.12", 112, 16),
                ("features.16", 960, 32)]
SMALL_STAGES = [("features.1", 16, 4), ("features.3", 24, 8), ("features.8", 48, 16), ("features.12", 576, 32)]


@register_model(
    "mobilenet_v3_large",
    family=MOBILENET_V3,
    variant="Large 1.0",
    paper_params=5_483_032,
    params_source="torchvision mobilenet_v3_large (paper Table 3: 5.4M)",
    stages=LARGE_STAGES,
    torchvision="mobilenet_v3_large",
    block="features.5",
    arch="large",
)
@register_model(
    "mobilenet_v3_small",
    family=MOBILENET_V3,
    variant="Small 1.0",
    paper_params=2_542_856,
    params_source="torchvision mobilenet_v3_small (paper Table 4: 2.5M)",
    stages=SMALL_STAGES,
    torchvision="mobilenet_v3_small",
    block="features.4",
    arch="small",
)
@register_model(
    "mobilenet_v3_large_cifar",
    family=MOBILENET_V3,
    variant="Large 1.0, 32×32 input (stride-1 stem and first reduction)",
    input_size=(3, 32, 32),
    num_classes=10,
    stages=[("features.3", 24, 1), ("features.6", 40, 2), ("features.12", 112, 4), ("features.16", 960, 8)],
    small_input=True,
    block="features.5",
    notes="The paper has no CIFAR network; two strides become 1 so 32×32 inputs end at 4×4.",
    arch="large",
    cifar_stem=True,
)
def mobilenet_v3(
    num_classes: int, arch: str = "large", width_mult: float = 1.0, dropout: float = 0.2, cifar_stem: bool = False
) -> MobileNetV3:
    return MobileNetV3(arch, num_classes, width_mult, dropout, cifar_stem)
