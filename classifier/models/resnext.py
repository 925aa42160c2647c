"""ResNeXt — "Aggregated Residual Transformations for Deep Neural Networks", Xie, Girshick,
Dollár, Tu and He, 2016 (arXiv 1611.05431).

A ResNeXt block splits the bottleneck into C parallel low-dimensional paths of the same
shape (split, transform, merge) and sums them; that equals one bottleneck whose 3×3 conv is
grouped into C groups. The number of paths, the cardinality, is a new knob next to depth
and width, and raising it buys more accuracy per parameter than either.
"""

from __future__ import annotations

from torch import nn

from classifier.models.resnet import Bottleneck, CifarResNet, build_resnet, imagenet_stages
from classifier.registry import Family, register_model
from classifier.weights.convert import by_order
from classifier.weights.entries import WeightEntry, register_weights
from classifier.weights.preprocess import CIFAR_MEAN, CIFAR_STD, Preprocess

RESNEXT = Family(
    name="ResNeXt",
    year=2016,
    paper="Aggregated Residual Transformations for Deep Neural Networks",
    arxiv="1611.05431",
    authors="Saining Xie, Ross Girshick, Piotr Dollár, Zhuowen Tu, Kaiming He",
    ideas=(
        "ResNet's bottleneck is split into C identical parallel paths whose outputs are summed.",
        "The C paths are one grouped 3×3 conv: a ResNet bottleneck with groups = C and a wider middle.",
        "Cardinality C is a third knob beside depth and width, and at equal cost it pays off more.",
    ),
)

# name: (depth, blocks per stage, cardinality, width per group, parameters from
# torchvision's weights metadata).
_IMAGENET = {
    "resnext50_32x4d": (50, (3, 4, 6, 3), 32, 4, 25_028_904),
    "resnext101_32x8d": (101, (3, 4, 23, 3), 32, 8, 88_791_336),
}
for _name, (_depth, _layers, _groups, _width, _params) in _IMAGENET.items():
    register_model(
        _name, family=RESNEXT, variant=f"ResNeXt-{_depth} ({_groups}×{_width}d)", torchvision=_name,
        paper_params=_params, params_source="torchvision reference implementation (weights metadata num_params)",
        stages=imagenet_stages(Bottleneck.expansion), block="layer1.0",
        block_type=Bottleneck, layers=_layers, groups=_groups, width_per_group=_width,
    )(build_resnet)


def build_resnext29(num_classes: int, cardinality: int, width: int = 64) -> nn.Module:
    """ResNeXt-29 C×``width``d (Sec. 5.3): a 64-filter 3×3 stem and three stages of three
    grouped bottlenecks, 256/512/1024 channels out, the grouped conv C × width × 2^stage
    wide. resnet.py's :class:`CifarResNet` counts depth as 6n + 2 (two convs per block);
    three blocks per stage is n = 3 there, whatever the block."""
    blocks = (29 - 2) // 9
    return CifarResNet(
        6 * blocks + 2, num_classes=num_classes, block=Bottleneck, widths=(64, 128, 256), shortcut="projection",
        groups=cardinality, base_width=width,
    )


# Parameters as printed in Table 7 of the paper (CIFAR-10).
for _c, _params in ((8, 34_400_000), (16, 68_100_000)):
    register_model(
        f"resnext29_{_c}x64d_cifar", family=RESNEXT, variant=f"ResNeXt-29 ({_c}×64d, CIFAR)", input_size=(3, 32, 32),
        num_classes=10, small_input=True, paper_params=_params, params_source="Xie et al. 2016, Table 7",
        stages=[("layer1", 256, 1), ("layer2", 512, 2), ("layer3", 1024, 4)], block="layer1.0",
        cardinality=_c,
    )(build_resnext29)


# CIFAR-10 weights (pytorchcv).
register_weights(
    WeightEntry(
        model='resnext29_16x64d_cifar', source="pytorchcv", source_model='resnext29_16x64d_cifar10', tag="cifar10", dataset="CIFAR-10", num_classes=10,
        preprocess=Preprocess((32, 32), 32, CIFAR_MEAN, CIFAR_STD),
        url="https://github.com/osmr/imgclsmob/releases/download/v0.0.176/resnext29_16x64d_cifar10-0241-4133d3d0.pth.zip",
        checksum="sha1:4133d3d04f9b10b132dcb959601d36f10123f8c2", top1=97.59, metric_source="pytorchcv metainfo / README (top-1 error 2.41)",
        license="MIT",
        convert=(by_order('resnext29_16x64d_cifar'),),
        notes="pytorchcv's ResNeXt-29 (16×64d) is ours parameter for parameter, so it maps by order.",
    ),
)
