"""MobileNet v1 — "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
Applications", Howard et al., 2017, arXiv 1704.04861.

Every 3×3 convolution after the stem is factored into a depthwise 3×3 (filtering each
channel alone) and a pointwise 1×1 (mixing channels), which cuts the multiply-adds by
8–9× at a small cost in accuracy. Two global knobs then trade accuracy for cost: the
width multiplier α thins every layer (cost ~α²) and the resolution multiplier ρ shrinks
the input image (cost ~ρ²).
"""

from __future__ import annotations

from torch import nn

from classifier.layers import ConvBNAct, DepthwiseSeparableConv
from classifier.registry import Family, register_model
from classifier.weights.convert import by_order
from classifier.weights.entries import WeightEntry, register_weights
from classifier.weights.preprocess import Preprocess

MOBILENET_V1 = Family(
    name="MobileNet v1",
    year=2017,
    paper="MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications",
    arxiv="1704.04861",
    authors="Howard, Zhu, Chen, Kalenichenko, Wang, Weyand, Andreetto, Adam",
    ideas=(
        "Each standard convolution becomes a depthwise 3×3 followed by a pointwise 1×1.",
        "That split needs about 8 to 9 times fewer multiply-adds than a full 3×3 conv.",
        "A width multiplier thins all layers and a resolution multiplier shrinks the input.",
        "Almost all of the cost sits in the 1×1 convolutions, which run fast as matrix products.",
    ),
)

# (output channels, stride) of the 13 depthwise-separable layers (paper, Table 1).
SEPARABLE_LAYERS = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)


def _width(channels: int, width_mult: float) -> int:
    """Channels under the width multiplier α; like the TF-slim reference, truncate and
    keep at least 8."""
    return max(8, int(channels * width_mult))


class MobileNetV1(nn.Module):
    """A 3×3 stem conv, 13 depthwise-separable layers, global pooling and a linear
    classifier. ``width_mult`` is the paper's α. The resolution multiplier ρ changes the
    images, not the layers, so it only sets ``input_resolution``, the side the network is
    meant to see. ``stem_stride=1`` keeps 32×32 inputs from shrinking to a single pixel
    (final stride 16 instead of 32).
    """

    def __init__(
        self, num_classes: int = 1000, width_mult: float = 1.0, resolution_mult: float = 1.0, stem_stride: int = 2
    ):
        super().__init__()
        self.input_resolution = int(round(224 * resolution_mult))
        in_ch = _width(32, width_mult)
        layers: list[nn.Module] = [ConvBNAct(3, in_ch, 3, stem_stride)]
        for out, stride in SEPARABLE_LAYERS:
            layers.append(DepthwiseSeparableConv(in_ch, _width(out, width_mult), 3, stride))
            in_ch = _width(out, width_mult)
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.classifier = nn.Linear(in_ch, num_classes)

    def forward(self, x):
        return self.classifier(self.flatten(self.avgpool(self.features(x))))


def _stages(stem: int, width_mult: float = 1.0) -> list[tuple[str, int, int]]:
    """The last layer at each resolution, as (module, channels, stride)."""
    last = {"features.1": 64, "features.3": 128, "features.5": 256, "features.11": 512, "features.13": 1024}
    return [(name, _width(c, width_mult), stem * 2**i) for i, (name, c) in enumerate(last.items())]


@register_model(
    "mobilenet_v1",
    family=MOBILENET_V1,
    variant="1.0 MobileNet-224",
    paper_params=4_231_976,
    params_source="paper Table 6 (4.2M); the exact figure counts its Table 1 layers with a 1000-class classifier",
    stages=_stages(2),
    block="features.2",
    notes="The resolution multiplier ρ (builder argument resolution_mult) means feeding "
    "round(224·ρ)-pixel images (192, 160, 128 in the paper); the layers stay the same. "
    "timm's mobilenetv1_100 weights are not offered: that net uses ReLU6 where the paper "
    "(Section 3.2, Figure 3) puts a plain ReLU after every BatchNorm.",
)
@register_model(
    "mobilenet_v1_cifar",
    family=MOBILENET_V1,
    variant="1.0, 32×32 input (stride-1 stem)",
    input_size=(3, 32, 32),
    num_classes=10,
    stages=_stages(1),
    small_input=True,
    block="features.2",
    notes="The paper has no CIFAR network; the stem keeps stride 1 so 32×32 inputs end at 2×2.",
    stem_stride=1,
)
def mobilenet_v1(
    num_classes: int, width_mult: float = 1.0, resolution_mult: float = 1.0, stem_stride: int = 2
) -> MobileNetV1:
    return MobileNetV1(num_classes, width_mult, resolution_mult, stem_stride)


register_weights(
    WeightEntry(
        model="mobilenet_v1", source="pytorchcv", source_model="mobilenet_w1", tag="in1k",
        dataset="ImageNet-1k", num_classes=1000,
        preprocess=Preprocess.imagenet(224, 0.875, "bilinear"),
        url="https://github.com/osmr/imgclsmob/releases/download/v0.0.155/mobilenet_w1-0895-7e1d739f.pth.zip",
        checksum="sha1:7e1d739f0fd4b95c16eef077c5dc0a5bb1da8ad5",
        top1=73.39, top5=91.05, metric_source="pytorchcv README (top-1 error 26.61, top-5 error 8.95)",
        license="MIT",
        convert=(by_order("mobilenet_v1"),),
        notes="pytorchcv's MobileNet x1.0 is the paper's Table 1 network with BN and ReLU after every "
        "conv, parameter for parameter ours, so it maps by order.",
    ),
)
