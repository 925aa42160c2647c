"""Wide ResNet — "Wide Residual Networks", Zagoruyko and Komodakis, 2016 (arXiv 1605.07146).

Rather than going ever deeper with thin blocks, widen them: a pre-activation ResNet whose
3×3 convs have k times the channels, with dropout between the two convs of each block.
A 28-layer net ten times wider than ResNet's CIFAR net beats the 1001-layer thin one and
trains several times faster, because wide convs use the GPU far better than long chains
of narrow ones. On ImageNet the same idea doubles the bottleneck width of ResNet-50/101.
"""

from __future__ import annotations

from torch import nn

from classifier.models.preact_resnet import PreActBasicBlock, PreActResNet, preact_stages
from classifier.models.resnet import Bottleneck, build_resnet, imagenet_stages
from classifier.registry import Family, register_model
from classifier.weights.convert import by_order
from classifier.weights.entries import WeightEntry, register_weights
from classifier.weights.preprocess import CIFAR_MEAN, CIFAR_STD, Preprocess

WIDE_RESNET = Family(
    name="Wide ResNet",
    year=2016,
    paper="Wide Residual Networks",
    arxiv="1605.07146",
    authors="Sergey Zagoruyko, Nikos Komodakis",
    ideas=(
        "A pre-activation ResNet with k times wider 3×3 convs and far fewer blocks (WRN-d-k).",
        "At equal parameters a wide, shallow net trains better and several times faster than a thin, very deep one.",
        "Dropout between the two convolutions of a block regularises the extra width.",
        "Suggests residual nets gain mostly from the capacity the shortcuts make trainable, not from depth alone.",
    ),
)

# The ImageNet nets: torchvision's ResNet-50/101 with bottlenecks twice as wide (inner
# width 128 per 64 planes); parameter counts from torchvision's weights metadata.
for _depth, _layers, _params in ((50, (3, 4, 6, 3), 68_883_240), (101, (3, 4, 23, 3), 126_886_696)):
    register_model(
        f"wide_resnet{_depth}_2", family=WIDE_RESNET, variant=f"WRN-{_depth}-2", torchvision=f"wide_resnet{_depth}_2",
        paper_params=_params, params_source="torchvision reference implementation (weights metadata num_params)",
        stages=imagenet_stages(Bottleneck.expansion), block="layer1.0",
        block_type=Bottleneck, layers=_layers, width_per_group=128,
    )(build_resnet)


def build_cifar_wrn(num_classes: int, depth: int, widen: int, dropout: float = 0.3) -> nn.Module:
    """WRN-``depth``-``widen``: (depth − 4) / 6 pre-activation basic blocks per stage, stage
    widths 16k, 32k and 64k after a 16-filter 3×3 stem."""
    if (depth - 4) % 6:
        raise ValueError(f"WRN depth must be 6n + 4, got {depth}")
    return PreActResNet(
        PreActBasicBlock, ((depth - 4) // 6,) * 3, widths=(16 * widen, 32 * widen, 64 * widen), stem_width=16,
        cifar_stem=True, num_classes=num_classes, dropout=dropout,
    )


# Parameters as printed in the paper's CIFAR results (WRN-28-10: 36.5M, WRN-40-4: 8.9M).
for _depth, _widen, _params in ((28, 10, 36_500_000), (40, 4, 8_900_000)):
    register_model(
        f"wrn{_depth}_{_widen}_cifar", family=WIDE_RESNET, variant=f"WRN-{_depth}-{_widen} (CIFAR)",
        input_size=(3, 32, 32), num_classes=10, small_input=True, paper_params=_params,
        params_source="Zagoruyko & Komodakis 2016, CIFAR results table",
        stages=preact_stages((16 * _widen, 32 * _widen, 64 * _widen), 1, 16, cifar_stem=True), block="layer1.0",
        notes="Dropout 0.3 between the two convolutions of each block, as in the paper's best CIFAR runs.",
        depth=_depth, widen=_widen,
    )(build_cifar_wrn)


# CIFAR-10 weights (pytorchcv).
register_weights(
    WeightEntry(
        model='wrn28_10_cifar', source="pytorchcv", source_model='wrn28_10_cifar10', tag="cifar10", dataset="CIFAR-10", num_classes=10,
        preprocess=Preprocess((32, 32), 32, CIFAR_MEAN, CIFAR_STD),
        url="https://github.com/osmr/imgclsmob/releases/download/v0.0.166/wrn28_10_cifar10-0239-fe97dcd6.pth.zip",
        checksum="sha1:fe97dcd6d0dd8dda8e9e38e6cfa320cffb9955ce", top1=97.61, metric_source="pytorchcv metainfo / README (top-1 error 2.39)",
        license="MIT",
        convert=(by_order('wrn28_10_cifar'),),
        notes="pytorchcv's WRN-28-10 is ours parameter for parameter, so it maps by order.",
    ),
)
