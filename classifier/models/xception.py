"""Xception — "Xception: Deep Learning with Depthwise Separable Convolutions", Chollet, 2016
(arXiv 1610.02357).

An Inception module splits channel mixing (1×1 convs) from spatial filtering (3×3 on a few
channel groups); Xception takes that to the limit, with one spatial filter per channel,
i.e. depthwise separable convolutions almost everywhere. Its 36 conv layers (34 of them
separable) form fourteen modules with residual connections around all but the first and
last, a net the size of Inception-v3 that beats it on ImageNet. No nonlinearity sits between the depthwise and the
pointwise halves: the paper found that an activation there hurts.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from classifier.layers import BasicConv2d, DepthwiseSeparableConv
from classifier.registry import Family, register_model
from classifier.weights.convert import rename
from classifier.weights.entries import WeightEntry, register_weights
from classifier.weights.preprocess import IMAGENET_MEAN, IMAGENET_STD, INCEPTION_MEAN, INCEPTION_STD, Preprocess

XCEPTION = Family(
    name="Xception",
    year=2016,
    paper="Xception: Deep Learning with Depthwise Separable Convolutions",
    arxiv="1610.02357",
    authors="François Chollet",
    ideas=(
        "An Inception module lies between a plain conv and a depthwise separable one; Xception goes all the way.",
        "Each 3×3 filters a single channel and a 1×1 then mixes channels: far fewer weights per layer.",
        "Residual connections wrap every block except the first convs and the last separable layers.",
        "No activation between the depthwise and pointwise halves: it trains better without one.",
    ),
)

BN_EPS = 1e-3  # the Keras reference's BatchNorm epsilon


def separable(in_ch: int, out_ch: int, bn_eps: float = BN_EPS) -> DepthwiseSeparableConv:
    """3×3 depthwise, 1×1 pointwise, then BatchNorm, with nothing in between."""
    return DepthwiseSeparableConv(in_ch, out_ch, 3, act=None, depthwise_norm=False, bn_eps=bn_eps)


class XceptionBlock(nn.Module):
    """ReLU → separable conv → BN, repeated once per entry of ``widths``, then a 3×3/2 max
    pool when ``stride=2``; the input is added back, through a strided 1×1 conv + BN when
    the shape changes. The ReLUs sit before the convs, so the shortcut carries the
    un-rectified sum of the previous block. The entry flow's first block starts without
    its ReLU (its input has just been through one)."""

    def __init__(
        self,
        in_ch: int,
        widths: tuple[int, ...],
        stride: int = 1,
        start_with_relu: bool = True,
        bn_eps: float = BN_EPS,
    ):
        super().__init__()
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        prev = in_ch
        for i, width in enumerate(widths, start=1):
            if i > 1 or start_with_relu:
                layers[f"relu{i}"] = nn.ReLU()
            layers[f"sepconv{i}"] = separable(prev, width, bn_eps)
            prev = width
        if stride == 2:
            layers["pool"] = nn.MaxPool2d(3, stride=2, padding=1)
        self.body = nn.Sequential(layers)
        if stride == 1 and in_ch == prev:
            self.skip = None
        else:
            self.skip = nn.Sequential(
                OrderedDict(
                    conv=nn.Conv2d(in_ch, prev, 1, stride=stride, bias=False),
                    bn=nn.BatchNorm2d(prev, eps=bn_eps),
                )
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.skip is None else self.skip(x)
        return self.body(x) + shortcut


class Xception(nn.Module):
    """Entry flow (two plain convs, three downsampling blocks to 728 channels), middle
    flow (eight identical 728-channel blocks of three separable convs), exit flow (a last
    downsampling block, separable convs to 1536 and 2048), global average pooling,
    dropout and a linear classifier (Figure 5 of the paper).

    ``small_input`` pads the two entry convs and keeps them at stride 1, so a 32×32 image
    reaches the middle flow at 4×4 instead of 299 reaching it at 19×19. ``bn_eps`` is every
    BatchNorm's epsilon: the Keras reference's 1e-3 by default; the PyTorch-ported weights
    were evaluated with PyTorch's 1e-5.
    """

    def __init__(self, num_classes: int = 1000, small_input: bool = False, dropout: float = 0.5, bn_eps: float = BN_EPS):
        super().__init__()
        stride, padding = (1, 1) if small_input else (2, 0)
        eps = bn_eps
        self.conv1 = BasicConv2d(3, 32, kernel_size=3, stride=stride, padding=padding, bn_eps=eps)
        self.conv2 = BasicConv2d(32, 64, kernel_size=3, padding=padding, bn_eps=eps)
        self.block1 = XceptionBlock(64, (128, 128), stride=2, start_with_relu=False, bn_eps=eps)
        self.block2 = XceptionBlock(128, (256, 256), stride=2, bn_eps=eps)
        self.block3 = XceptionBlock(256, (728, 728), stride=2, bn_eps=eps)
        self.middle = nn.Sequential(*(XceptionBlock(728, (728, 728, 728), bn_eps=eps) for _ in range(8)))
        self.block4 = XceptionBlock(728, (728, 1024), stride=2, bn_eps=eps)
        self.conv3 = separable(1024, 1536, eps)
        self.relu3 = nn.ReLU()
        self.conv4 = separable(1536, 2048, eps)
        self.relu4 = nn.ReLU()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2048, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv2(self.conv1(x))
        x = self.block3(self.block2(self.block1(x)))
        x = self.block4(self.middle(x))
        x = self.relu4(self.conv4(self.relu3(self.conv3(x))))
        return self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))


@register_model(
    "xception",
    family=XCEPTION,
    variant="Xception",
    input_size=(3, 299, 299),
    # Table 3 of the paper (also the Keras reference's trainable parameters).
    paper_params=22_855_952,
    params_source="Table 3 of arXiv 1610.02357 (the Keras reference model's trainable parameters)",
    stages=[
        ("conv2", 64, 2),
        ("block1", 128, 4),
        ("block2", 256, 8),
        ("middle", 728, 16),
        ("relu4", 2048, 32),
    ],
    block="middle.0",
)
def xception(num_classes: int, dropout: float = 0.5, bn_eps: float = BN_EPS) -> Xception:
    return Xception(num_classes, dropout=dropout, bn_eps=bn_eps)


@register_model(
    "xception_cifar",
    family=XCEPTION,
    variant="Xception for 32×32 inputs (padded, stride-1 entry convs)",
    input_size=(3, 32, 32),
    num_classes=10,
    stages=[("conv2", 64, 1), ("block1", 128, 2), ("block2", 256, 4), ("middle", 728, 8), ("relu4", 2048, 16)],
    small_input=True,
    block="middle.0",
    notes="The paper has no CIFAR net: the two entry convs keep 32×32, so the middle flow runs at 4×4.",
)
def xception_cifar(num_classes: int, dropout: float = 0.5) -> Xception:
    return Xception(num_classes, small_input=True, dropout=dropout)


# --- Trained weights ----------------------------------------------------------------------


def _separable_rules(block: str, steps: tuple[tuple[int, int], ...], ours: str | None = None) -> list[tuple[str, str]]:
    """timm's legacy ``rep`` list: the separable conv and the BatchNorm of step j sit at
    the given indices (the ReLUs between them hold no parameters)."""
    ours = ours or block
    rules = []
    for j, (sep, bn) in enumerate(steps, start=1):
        rules += [
            (rf"^{block}\.rep\.{sep}\.conv1\.", rf"{ours}.body.sepconv{j}.depthwise."),
            (rf"^{block}\.rep\.{sep}\.pointwise\.", rf"{ours}.body.sepconv{j}.pointwise.0."),
            (rf"^{block}\.rep\.{bn}\.", rf"{ours}.body.sepconv{j}.pointwise.1."),
        ]
    return rules


register_weights(
    WeightEntry(
        model="xception",
        source="timm",
        source_model="legacy_xception",
        tag="tf_in1k",
        dataset="ImageNet-1k",
        num_classes=1000,
        preprocess=Preprocess.imagenet(299, 0.8975, "bicubic", INCEPTION_MEAN, INCEPTION_STD),
        url="https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-cadene/xception-43020ad28.pth",
        checksum="sha256:43020ad28",
        top1=79.06,
        metric_source="timm results-imagenet.csv (via research notes)",
        license="Apache-2.0",
        build={"bn_eps": 1e-5},
        convert=(
            rename(
                *_separable_rules("block1", ((0, 1), (3, 4))),
                *_separable_rules(r"(block\d+)", ((1, 2), (4, 5), (7, 8)), ours=r"\1"),
                (r"^(block\d+)\.skip\.", r"\1.skip.conv."),
                (r"^(block\d+)\.skipbn\.", r"\1.skip.bn."),
                (r"^bn([12])\.", r"conv\1.bn."),
                (r"^conv([12])\.weight", r"conv\1.conv.weight"),
                (r"^conv([34])\.conv1\.", r"conv\1.depthwise."),
                (r"^conv([34])\.pointwise\.", r"conv\1.pointwise.0."),
                (r"^bn([34])\.", r"conv\1.pointwise.1."),
                *[(rf"^block{n}\.", f"middle.{n - 4}.") for n in range(4, 12)],
                (r"^block12\.", "block4."),
            ),
        ),
        notes=(
            "Cadene's port of the Keras reference weights; its BatchNorms were evaluated with PyTorch's "
            "eps 1e-5, so it is built with bn_eps=1e-5 (the paper's Keras 1e-3 stays the default)."
        ),
    ),
    WeightEntry(
        model="xception",
        source="pytorchcv",
        source_model="xception",
        tag="in1k",
        dataset="ImageNet-1k",
        num_classes=1000,
        # pytorchcv's ImageNet evaluation: ImageNet mean/std, bilinear, short side ceil(299 / 0.875).
        preprocess=Preprocess((299, 299), 342, IMAGENET_MEAN, IMAGENET_STD, "bilinear"),
        url="https://github.com/osmr/imgclsmob/releases/download/v0.0.544/xception-0516-a75b50ec.pth.zip",
        checksum="sha1:a75b50eceb5fdfb1e1bfaada6820a448ce40e593",
        top1=79.65,
        top5=94.84,
        metric_source="pytorchcv README (via research notes); top-5 from model_metainfos.csv",
        license="MIT",
        build={"bn_eps": 1e-5},
        convert=(
            rename(
                (r"^features\.init_block\.", ""),
                (r"^features\.stage1\.unit1\.", "block1."),
                (r"^features\.stage2\.unit1\.", "block2."),
                (r"^features\.stage3\.unit1\.", "block3."),
                *[(rf"^features\.stage3\.unit{n}\.", f"middle.{n - 2}.") for n in range(2, 10)],
                (r"^features\.stage4\.unit1\.", "block4."),
                (r"^features\.final_block\.conv1\.", "conv3."),
                (r"^features\.final_block\.conv2\.", "conv4."),
                (r"\.identity_conv\.", ".skip."),
                (r"\.body\.block(\d)\.", r".body.sepconv\1."),
                (r"^(conv[34])\.", r"\1.SEP."),
                (r"\.conv\.dw_conv\.", ".depthwise."),
                (r"\.conv\.pw_conv\.", ".pointwise.0."),
                (r"\.(sepconv\d|SEP)\.bn\.", r".\1.pointwise.1."),
                (r"\.SEP\.", "."),
                (r"^output\.", "fc."),
            ),
        ),
        notes="Trained by pytorchcv (Gluon, converted) with BatchNorm eps 1e-5, hence bn_eps=1e-5; explicit renames.",
    ),
)
