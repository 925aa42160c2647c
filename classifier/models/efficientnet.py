"""EfficientNet — "EfficientNet: Rethinking Model Scaling for Convolutional Neural
Networks", Tan and Le, 2019, arXiv 1905.11946.

A small baseline (B0, found by architecture search, built from MBConv inverted residuals
with squeeze-and-excitation and swish) is grown by compound scaling: depth, width and
input resolution are scaled together as α^φ, β^φ, γ^φ with α·β²·γ² ≈ 2, so each step of
φ roughly doubles the multiply-adds. Scaling one dimension alone saturates quickly;
scaling all three in balance keeps paying off.

The registered B0–B7 use the per-variant coefficients published with the reference
implementation (and copied by torchvision, whose weights they load). They follow the
compound rule rounded by hand rather than exactly (B7: width 2.0, depth 3.1, 600 px where
φ = 7 gives 1.95, 3.58, 596 px): ``PUBLISHED`` and :func:`compound_scaling` set them side
by side, and the builder accepts any ``width_mult``/``depth_mult`` so any φ can be built
(``create_model("efficientnet_b0", **compound_scaling(phi).builder_kwargs)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

from torch import nn

from classifier.layers import ConvBNAct, InvertedResidual, SqueezeExcitation, make_divisible
from classifier.registry import Family, register_model

EFFICIENTNET = Family(
    name="EfficientNet",
    year=2019,
    paper="EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
    arxiv="1905.11946",
    authors="Tan, Le",
    ideas=(
        "Depth, width and input resolution are scaled together by one coefficient φ.",
        "Per step of φ: depth ×1.2, width ×1.1, resolution ×1.15, about twice the multiply-adds.",
        "The B0 baseline comes from a search over MBConv blocks with squeeze-and-excitation and swish.",
        "Scaling only one dimension saturates early; balanced scaling keeps improving accuracy.",
    ),
)

# Compound-scaling constants found by grid search on B0 (paper §3.3): depth α, width β,
# resolution γ, chosen so that α·β²·γ² ≈ 2.
ALPHA, BETA, GAMMA = 1.2, 1.1, 1.15
BASE_RESOLUTION = 224

# B0 stages (paper, Table 1): (expansion, kernel, first stride, input ch, output ch, layers).
BASELINE = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)

# Published coefficients per variant: (width, depth, resolution, dropout), from the
# reference implementation's efficientnet_params() (the same values torchvision uses).
PUBLISHED = {
    "b0": (1.0, 1.0, 224, 0.2),
    "b1": (1.0, 1.1, 240, 0.2),
    "b2": (1.1, 1.2, 260, 0.3),
    "b3": (1.2, 1.4, 300, 0.3),
    "b4": (1.4, 1.8, 380, 0.4),
    "b5": (1.6, 2.2, 456, 0.4),
    "b6": (1.8, 2.6, 528, 0.5),
    "b7": (2.0, 3.1, 600, 0.5),
}


@dataclass(frozen=True)
class Scaling:
    """Multipliers for one φ: pass ``width_mult``/``depth_mult`` to the builder and feed
    ``resolution``-pixel images."""

    phi: float
    depth_mult: float
    width_mult: float
    resolution: int

    @property
    def builder_kwargs(self) -> dict[str, float]:
        return {"width_mult": self.width_mult, "depth_mult": self.depth_mult}


def compound_scaling(phi: float, alpha: float = ALPHA, beta: float = BETA, gamma: float = GAMMA) -> Scaling:
    """The paper's rule (§3.3): depth α^φ, width β^φ, resolution γ^φ times B0's."""
    return Scaling(phi, alpha**phi, beta**phi, round(BASE_RESOLUTION * gamma**phi))


def stage_widths_depths(width_mult: float, depth_mult: float) -> list[tuple[int, int]]:
    """(output channels, blocks) of each stage after scaling: widths rounded to multiples
    of 8 (never down by more than 10%), depths rounded up, as the reference does."""
    return [(make_divisible(out * width_mult), math.ceil(n * depth_mult)) for *_, out, n in BASELINE]


def _se(channels: int, squeeze: int) -> nn.Module:
    return SqueezeExcitation(channels, squeeze, act=nn.SiLU)


class EfficientNet(nn.Module):
    """Swish stem, seven stages of MBConv blocks, a 1×1 conv to 4× the last width, pooling,
    dropout and the classifier; names follow torchvision's ``efficientnet_b*``.

    Each MBConv's squeeze-and-excitation squeezes to a quarter of the block's *input*
    channels, and stochastic depth grows linearly from 0 to ``stochastic_depth`` over the
    blocks. ``cifar_stem=True`` gives the stem and the second stage stride 1, so 32×32
    inputs end at 4×4.
    """

    def __init__(
        self,
        num_classes: int = 1000,
        width_mult: float = 1.0,
        depth_mult: float = 1.0,
        dropout: float = 0.2,
        stochastic_depth: float = 0.2,
        bn_eps: float = 1e-5,
        bn_momentum: float = 0.1,
        cifar_stem: bool = False,
    ):
        super().__init__()
        bn = dict(bn_eps=bn_eps, bn_momentum=bn_momentum)
        in_ch = make_divisible(BASELINE[0][3] * width_mult)
        layers: list[nn.Module] = [ConvBNAct(3, in_ch, 3, 1 if cifar_stem else 2, act=nn.SiLU, **bn)]
        scaled = stage_widths_depths(width_mult, depth_mult)
        total = sum(n for _, n in scaled)
        index = 0
        for i, ((expand, kernel, stride, *_), (out_ch, n)) in enumerate(zip(BASELINE, scaled)):
            if cifar_stem and i == 1:
                stride = 1
            stage = []
            for j in range(n):
                stage.append(
                    InvertedResidual(
                        in_ch, out_ch, make_divisible(in_ch * expand), kernel, stride if j == 0 else 1, nn.SiLU,
                        se=partial(_se, squeeze=max(1, in_ch // 4)), drop_path=stochastic_depth * index / total, **bn,
                    )
                )
                in_ch = out_ch
                index += 1
            layers.append(nn.Sequential(*stage))
        head = 4 * in_ch
        layers.append(ConvBNAct(in_ch, head, 1, act=nn.SiLU, **bn))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(head, num_classes))

    def forward(self, x):
        return self.classifier(self.flatten(self.avgpool(self.features(x))))


def _stages(width_mult: float, cifar: bool = False) -> list[tuple[str, int, int]]:
    """Last module at each resolution: stages 1, 2, 3, 5 and the head conv."""
    w = [c for c, _ in stage_widths_depths(width_mult, 1.0)]
    strides = (1, 1, 2, 4, 8) if cifar else (2, 4, 8, 16, 32)
    names = ("features.1", "features.2", "features.3", "features.5", "features.8")
    channels = (w[0], w[1], w[2], w[4], 4 * w[6])
    stages = list(zip(names, channels, strides))
    return stages[1:] if cifar else stages


# torchvision's parameter counts (its weights' metadata, num_params); the paper's Table 2
# rounds them to 5.3M, 7.8M, 9.2M, 12M, 19M, 30M, 43M and 66M.
TORCHVISION_PARAMS = {
    "b0": 5_288_548, "b1": 7_794_184, "b2": 9_109_994, "b3": 12_233_232,
    "b4": 19_341_616, "b5": 30_389_784, "b6": 43_040_704, "b7": 66_347_960,
}


def efficientnet(num_classes: int, **kwargs) -> EfficientNet:
    return EfficientNet(num_classes, **kwargs)


def _register_published() -> None:
    """Register B0–B7 with their published coefficients."""
    for variant, (width, depth, resolution, dropout) in PUBLISHED.items():
        # torchvision builds B5–B7 with TensorFlow's BatchNorm settings; match them so
        # its weights give its logits.
        bn = dict(bn_eps=1e-3, bn_momentum=0.01) if variant in ("b5", "b6", "b7") else {}
        register_model(
            f"efficientnet_{variant}",
            family=EFFICIENTNET,
            variant=f"{variant.upper()} (width {width}, depth {depth}, {resolution}px)",
            input_size=(3, resolution, resolution),
            paper_params=TORCHVISION_PARAMS[variant],
            params_source=f"torchvision efficientnet_{variant} weights metadata (paper Table 2 rounds it)",
            stages=_stages(width),
            torchvision=f"efficientnet_{variant}",
            block="features.2.1",
            width_mult=width,
            depth_mult=depth,
            dropout=dropout,
            **bn,
        )(efficientnet)


_register_published()
register_model(
    "efficientnet_b0_cifar",
    family=EFFICIENTNET,
    variant="B0, 32×32 input (stride-1 stem and second stage)",
    input_size=(3, 32, 32),
    num_classes=10,
    stages=_stages(1.0, cifar=True),
    small_input=True,
    block="features.2.1",
    notes="The paper fine-tunes ImageNet-sized inputs on CIFAR; here two strides become 1 "
    "so 32×32 images end at 4×4.",
    cifar_stem=True,
)(efficientnet)
