"""Inception-v4 and Inception-ResNet — "Inception-v4, Inception-ResNet and the Impact of
Residual Connections on Learning", Szegedy, Ioffe, Vanhoucke and Alemi, 2016 (arXiv 1602.07261).

Inception-v4 makes the Inception design uniform: one stem, then fixed Inception-A/B/C
modules for the 35/17/8 grids with dedicated reduction modules between them. The
Inception-ResNet nets turn each module into a residual branch: its concatenated paths are
projected back to the input width by a linear 1×1 conv, scaled down by 0.1–0.3 so very
wide nets stay stable, and added to the input. Residuals mainly speed training; the final
accuracy follows model size.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from classifier.layers import BasicConv2d, Concat
from classifier.registry import Family, register_model
from classifier.weights.convert import by_order, rename
from classifier.weights.entries import WeightEntry, register_weights
from classifier.weights.preprocess import IMAGENET_MEAN, IMAGENET_STD, INCEPTION_MEAN, INCEPTION_STD, Preprocess

INCEPTION_V4 = Family(
    name="Inception-v4",
    year=2016,
    paper="Inception-v4, Inception-ResNet and the Impact of Residual Connections on Learning",
    arxiv="1602.07261",
    authors="Christian Szegedy, Sergey Ioffe, Vincent Vanhoucke, Alex Alemi",
    ideas=(
        "Inception-v4 is one uniform design: a stem, Inception-A/B/C modules, and reduction modules between grids.",
        "Inception-ResNet adds each module's output, projected by a linear 1×1 conv, back onto its input.",
        "Residual branches are scaled by 0.1–0.3 before the sum, which stops very wide nets from dying early on.",
        "Residual connections speed up training markedly; final accuracy depends mostly on model size.",
    ),
)


def conv(in_ch: int, out_ch: int, kernel_size: int | tuple[int, int]) -> BasicConv2d:
    """Conv-BN-ReLU with "same" padding; every strided conv here is a ``valid_conv``."""
    k = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    return BasicConv2d(in_ch, out_ch, k, padding=(k[0] // 2, k[1] // 2))


def valid_conv(in_ch: int, out_ch: int, stride: int = 1) -> BasicConv2d:
    """Unpadded 3×3 Conv-BN-ReLU (marked V in the paper's figures): the stems and the
    reductions shrink the grid with these."""
    return BasicConv2d(in_ch, out_ch, 3, stride)


def avg_pool() -> nn.AvgPool2d:
    # TensorFlow's "SAME" average pool ignores the padding, hence count_include_pad=False.
    return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)


# --- Inception-v4 modules (Figures 3-8) -------------------------------------------------


def inception_v4_stem() -> nn.Sequential:
    """Figure 3, 299 → 35×35×384: three convs, then three two-way concatenations; the
    first and the last put a stride-2 conv beside a stride-2 max pool to halve the grid."""
    return nn.Sequential(
        OrderedDict(
            conv1=valid_conv(3, 32, stride=2),
            conv2=valid_conv(32, 32),
            conv3=conv(32, 64, 3),
            mixed_3a=Concat(pool=nn.MaxPool2d(3, stride=2), conv=valid_conv(64, 96, stride=2)),
            mixed_4a=Concat(
                branch0=nn.Sequential(conv(160, 64, 1), valid_conv(64, 96)),
                # 1×7 before 7×1, as in the authors' TF-slim network (Mixed_4a) and its ports.
                branch1=nn.Sequential(conv(160, 64, 1), conv(64, 64, (1, 7)), conv(64, 64, (7, 1)), valid_conv(64, 96)),
            ),
            mixed_5a=Concat(conv=valid_conv(192, 192, stride=2), pool=nn.MaxPool2d(3, stride=2)),
        )
    )


class InceptionA(Concat):
    """35×35 module (Figure 4): 1×1 | 1×1→3×3 | 1×1→3×3→3×3 | avg pool→1×1, 384 channels."""

    def __init__(self, in_ch: int = 384):
        super().__init__(
            branch0=conv(in_ch, 96, 1),
            branch1=nn.Sequential(conv(in_ch, 64, 1), conv(64, 96, 3)),
            branch2=nn.Sequential(conv(in_ch, 64, 1), conv(64, 96, 3), conv(96, 96, 3)),
            branch3=nn.Sequential(avg_pool(), conv(in_ch, 96, 1)),
        )


class InceptionB(Concat):
    """17×17 module (Figure 5): 7×7 kernels factorised into 1×7 and 7×1, 1024 channels."""

    def __init__(self, in_ch: int = 1024):
        super().__init__(
            branch0=conv(in_ch, 384, 1),
            branch1=nn.Sequential(conv(in_ch, 192, 1), conv(192, 224, (1, 7)), conv(224, 256, (7, 1))),
            branch2=nn.Sequential(
                conv(in_ch, 192, 1),
                conv(192, 192, (7, 1)),
                conv(192, 224, (1, 7)),
                conv(224, 224, (7, 1)),
                conv(224, 256, (1, 7)),
            ),
            branch3=nn.Sequential(avg_pool(), conv(in_ch, 128, 1)),
        )


def split_1x3_3x1(in_ch: int, out_ch: int) -> Concat:
    """A 1×3 and a 3×1 side by side on the same input: the 8×8 grid's way of widening."""
    return Concat(conv_1x3=conv(in_ch, out_ch, (1, 3)), conv_3x1=conv(in_ch, out_ch, (3, 1)))


class InceptionC(Concat):
    """8×8 module (Figure 6): the 3×3 paths end in parallel 1×3/3×1 pairs, 1536 channels."""

    def __init__(self, in_ch: int = 1536):
        super().__init__(
            branch0=conv(in_ch, 256, 1),
            branch1=nn.Sequential(conv(in_ch, 384, 1), split_1x3_3x1(384, 256)),
            branch2=nn.Sequential(
                conv(in_ch, 384, 1), conv(384, 448, (3, 1)), conv(448, 512, (1, 3)), split_1x3_3x1(512, 256)
            ),
            branch3=nn.Sequential(avg_pool(), conv(in_ch, 256, 1)),
        )


class ReductionA(Concat):
    """35 → 17 reduction (Figure 7): a stride-2 3×3 with ``n`` filters, 1×1 (``k``) → 3×3
    (``l``) → stride-2 3×3 (``m``), and a stride-2 max pool. Table 1 of the paper gives
    k, l, m, n for each of the three nets."""

    def __init__(self, in_ch: int, k: int, l: int, m: int, n: int):
        super().__init__(
            branch0=valid_conv(in_ch, n, stride=2),
            branch1=nn.Sequential(conv(in_ch, k, 1), conv(k, l, 3), valid_conv(l, m, stride=2)),
            branch2=nn.MaxPool2d(3, stride=2),
        )


class ReductionB(Concat):
    """Inception-v4's 17 → 8 reduction (Figure 8): 1×1 → stride-2 3×3, 1×1 → 1×7 → 7×1 →
    stride-2 3×3, and a stride-2 max pool."""

    def __init__(self, in_ch: int = 1024):
        super().__init__(
            branch0=nn.Sequential(conv(in_ch, 192, 1), valid_conv(192, 192, stride=2)),
            branch1=nn.Sequential(
                conv(in_ch, 256, 1), conv(256, 256, (1, 7)), conv(256, 320, (7, 1)), valid_conv(320, 320, stride=2)
            ),
            branch2=nn.MaxPool2d(3, stride=2),
        )


# --- Inception-ResNet modules (Figures 9-20) --------------------------------------------


class InceptionResNetBlock(nn.Module):
    """``relu(x + scale · up(branches(x)))``. ``up`` is a linear 1×1 conv with a bias and no
    BatchNorm (the paper normalises only the ordinary layers, not the sums) that brings the
    concatenated branches back to the input width so the sum is possible. The last block of
    Inception-ResNet-v2 skips the ReLU (``relu=False``)."""

    def __init__(self, branches: Concat, branch_ch: int, channels: int, scale: float, relu: bool = True):
        super().__init__()
        self.branches = branches
        self.up = nn.Conv2d(branch_ch, channels, 1)
        self.scale = scale
        self.relu = nn.ReLU() if relu else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x + self.scale * self.up(self.branches(x))
        return self.relu(out) if self.relu is not None else out

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


def resnet_block_a(ch: int, mid: int, out: int, scale: float = 0.17) -> InceptionResNetBlock:
    """35×35 (Figures 10, 16): 1×1 32 | 1×1 32 → 3×3 32 | 1×1 32 → 3×3 ``mid`` → 3×3 ``out``."""
    branches = Concat(
        branch0=conv(ch, 32, 1),
        branch1=nn.Sequential(conv(ch, 32, 1), conv(32, 32, 3)),
        branch2=nn.Sequential(conv(ch, 32, 1), conv(32, mid, 3), conv(mid, out, 3)),
    )
    return InceptionResNetBlock(branches, 64 + out, ch, scale)


def resnet_block_b(ch: int, width: int, mid: int, scale: float = 0.10) -> InceptionResNetBlock:
    """17×17 (Figures 11, 17): 1×1 ``width`` | 1×1 128 → 1×7 ``mid`` → 7×1 ``width``."""
    branches = Concat(
        branch0=conv(ch, width, 1),
        branch1=nn.Sequential(conv(ch, 128, 1), conv(128, mid, (1, 7)), conv(mid, width, (7, 1))),
    )
    return InceptionResNetBlock(branches, 2 * width, ch, scale)


def resnet_block_c(ch: int, mid: int, out: int, scale: float = 0.20, relu: bool = True) -> InceptionResNetBlock:
    """8×8 (Figures 13, 19): 1×1 192 | 1×1 192 → 1×3 ``mid`` → 3×1 ``out``."""
    branches = Concat(
        branch0=conv(ch, 192, 1),
        branch1=nn.Sequential(conv(ch, 192, 1), conv(192, mid, (1, 3)), conv(mid, out, (3, 1))),
    )
    return InceptionResNetBlock(branches, 192 + out, ch, scale, relu)


class ResNetReductionB(Concat):
    """Inception-ResNet's 17 → 8 reduction (Figures 12, 18): three 1×1 → stride-2 3×3 paths
    (the third with an extra 3×3) and a stride-2 max pool."""

    def __init__(self, in_ch: int, a: int, b: int, c1: int, c2: int):
        super().__init__(
            branch0=nn.Sequential(conv(in_ch, 256, 1), valid_conv(256, a, stride=2)),
            branch1=nn.Sequential(conv(in_ch, 256, 1), valid_conv(256, b, stride=2)),
            branch2=nn.Sequential(conv(in_ch, 256, 1), conv(256, c1, 3), valid_conv(c1, c2, stride=2)),
            branch3=nn.MaxPool2d(3, stride=2),
        )


def resnet_v1_stem() -> nn.Sequential:
    """Figure 14, 299 → 35×35×256: plain convs and one max pool, no concatenations."""
    return nn.Sequential(
        OrderedDict(
            conv1=valid_conv(3, 32, stride=2),
            conv2=valid_conv(32, 32),
            conv3=conv(32, 64, 3),
            pool1=nn.MaxPool2d(3, stride=2),
            conv4=conv(64, 80, 1),
            conv5=valid_conv(80, 192),
            conv6=valid_conv(192, 256, stride=2),
        )
    )


def resnet_v2_stem() -> nn.Sequential:
    """The released Inception-ResNet-v2's stem (TF-slim, and the ports of its weights):
    Inception-v3's stem to 35×35×192, then a v3-style module (mixed_5b) to 320 channels.
    The paper's figures give it the Inception-v4 stem instead."""
    return nn.Sequential(
        OrderedDict(
            conv1=valid_conv(3, 32, stride=2),
            conv2=valid_conv(32, 32),
            conv3=conv(32, 64, 3),
            pool1=nn.MaxPool2d(3, stride=2),
            conv4=conv(64, 80, 1),
            conv5=valid_conv(80, 192),
            pool2=nn.MaxPool2d(3, stride=2),
            mixed_5b=Concat(
                branch0=conv(192, 96, 1),
                branch1=nn.Sequential(conv(192, 48, 1), conv(48, 64, 5)),
                branch2=nn.Sequential(conv(192, 64, 1), conv(64, 96, 3), conv(96, 96, 3)),
                branch3=nn.Sequential(avg_pool(), conv(192, 64, 1)),
            ),
        )
    )


def small_stem(out_ch: int) -> nn.Sequential:
    """For 32×32 inputs: padded 3×3 convs and one stride-2 pool, 32 → 16×16×``out_ch``, so
    the three grids run at 16, 7 and 3 instead of 35, 17 and 8."""
    return nn.Sequential(
        OrderedDict(
            conv1=conv(3, 32, 3),
            conv2=conv(32, 64, 3),
            pool1=nn.MaxPool2d(3, stride=2, padding=1),
            conv3=conv(64, out_ch, 3),
        )
    )


# --- The networks -----------------------------------------------------------------------


class InceptionV4(nn.Module):
    """Stem → blocks at 35×35 → reduction A → blocks at 17×17 → reduction B → blocks at 8×8
    → (optional 1×1 ``conv_head``) → global average pool → dropout (keep 0.8) → linear.
    All three nets of the paper have this outline; they differ in what fills it."""

    def __init__(
        self,
        stem: nn.Module,
        blocks_a: nn.Sequential,
        reduction_a: nn.Module,
        blocks_b: nn.Sequential,
        reduction_b: nn.Module,
        blocks_c: nn.Sequential,
        num_features: int,
        num_classes: int = 1000,
        conv_head: nn.Module | None = None,
        dropout: float = 0.2,
        pool_window: int | None = None,
        bottleneck: int | None = None,
    ):
        super().__init__()
        self.stem = stem
        self.blocks_a = blocks_a
        self.reduction_a = reduction_a
        self.blocks_b = blocks_b
        self.reduction_b = reduction_b
        self.blocks_c = blocks_c
        self.conv_head = conv_head
        # ``pool_window``: a fixed k×k average pool (TF-slim's and pytorchcv's 8×8 at 299)
        # instead of the adaptive one; the same function at 299, summed in another order.
        self.avgpool = nn.AvgPool2d(pool_window) if pool_window else nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        # ``bottleneck``: a bias-free Linear to that width and a BatchNorm before the
        # classifier (FaceNet's Inception-ResNet-v1 head, which pytorchcv's weights have).
        if bottleneck:
            self.bottleneck = nn.Sequential(nn.Linear(num_features, bottleneck, bias=False), nn.BatchNorm1d(bottleneck, eps=1e-3))
            num_features = bottleneck
        else:
            self.bottleneck = None
        self.fc = nn.Linear(num_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks_a(self.stem(x))
        x = self.blocks_b(self.reduction_a(x))
        x = self.blocks_c(self.reduction_b(x))
        if self.conv_head is not None:
            x = self.conv_head(x)
        x = self.dropout(torch.flatten(self.avgpool(x), 1))
        if self.bottleneck is not None:
            x = self.bottleneck(x)
        return self.fc(x)


def build_inception_v4(num_classes: int, stem: nn.Module, pool_window: int | None = None) -> InceptionV4:
    """4 × A, reduction A (k, l, m, n = 192, 224, 256, 384), 7 × B, reduction B, 3 × C."""
    return InceptionV4(
        stem,
        nn.Sequential(*(InceptionA() for _ in range(4))),
        ReductionA(384, 192, 224, 256, 384),
        nn.Sequential(*(InceptionB() for _ in range(7))),
        ReductionB(),
        nn.Sequential(*(InceptionC() for _ in range(3))),
        num_features=1536,
        num_classes=num_classes,
        pool_window=pool_window,
    )


def build_inception_resnet_v1(num_classes: int, stem: nn.Module, facenet: bool = False) -> InceptionV4:
    """Figure 15 with the v1 modules: 5 × A (256 channels), reduction A (192, 192, 256, 384),
    10 × B (896), reduction B, 5 × C (1792). About Inception-v3's cost.

    ``facenet``: FaceNet's variant instead (the layout of pytorchcv's trained weights): a
    sixth C block, unscaled and without ReLU, a fixed 8×8 final pool and a 512-wide
    bottleneck before the classifier. Not the paper's network."""
    blocks_c = [resnet_block_c(1792, 192, 192) for _ in range(5)]
    if facenet:
        blocks_c.append(resnet_block_c(1792, 192, 192, scale=1.0, relu=False))
    return InceptionV4(
        stem,
        nn.Sequential(*(resnet_block_a(256, 32, 32) for _ in range(5))),
        ReductionA(256, 192, 192, 256, 384),
        nn.Sequential(*(resnet_block_b(896, 128, 128) for _ in range(10))),
        ResNetReductionB(896, 384, 256, 256, 256),
        nn.Sequential(*blocks_c),
        num_features=1792,
        num_classes=num_classes,
        pool_window=8 if facenet else None,
        bottleneck=512 if facenet else None,
    )


def build_inception_resnet_v2(num_classes: int, stem: nn.Module) -> InceptionV4:
    """The released Inception-ResNet-v2 (TF-slim): 10 × A (320 channels), reduction A
    (256, 256, 384, 384), 20 × B (1088), reduction B, 9 × C (2080) and a tenth without
    ReLU or scaling, then a 1×1 conv to 1536. The paper's schema (Figure 15) draws 5/10/5
    blocks and its module figures other widths (1154 at 17×17); the released weights, and
    every port of them, use the numbers here."""
    blocks_c = [resnet_block_c(2080, 224, 256) for _ in range(9)]
    blocks_c.append(resnet_block_c(2080, 224, 256, scale=1.0, relu=False))
    return InceptionV4(
        stem,
        nn.Sequential(*(resnet_block_a(320, 48, 64) for _ in range(10))),
        ReductionA(320, 256, 256, 384, 384),
        nn.Sequential(*(resnet_block_b(1088, 192, 160) for _ in range(20))),
        ResNetReductionB(1088, 384, 288, 288, 320),
        nn.Sequential(*blocks_c),
        num_features=1536,
        num_classes=num_classes,
        conv_head=conv(2080, 1536, 1),
    )


@register_model(
    "inception_v4",
    family=INCEPTION_V4,
    variant="Inception-v4",
    input_size=(3, 299, 299),
    # Cadene's pretrainedmodels "inceptionv4" built for 1000 classes (its 1001-class
    # checkpoint, with a background class, has 1,537 more).
    paper_params=42_679_816,
    params_source="Cadene pretrainedmodels inceptionv4 (port of the TF-slim checkpoint), 1000 classes",
    stages=[
        ("stem.conv3", 64, 2),
        ("stem.mixed_3a", 160, 4),
        ("blocks_a", 384, 8),
        ("blocks_b", 1024, 16),
        ("blocks_c", 1536, 32),
    ],
    block="blocks_a.0",
    notes=(
        "Mixed_4a runs its 1×7 conv before the 7×1, as the authors' released TF-slim network and both "
        "ports of its weights do; the parameter count is the same either way, only the logits tell."
    ),
)
def inception_v4(num_classes: int, pool_window: int | None = None) -> InceptionV4:
    return build_inception_v4(num_classes, inception_v4_stem(), pool_window)


@register_model(
    "inception_resnet_v1",
    family=INCEPTION_V4,
    variant="Inception-ResNet-v1",
    input_size=(3, 299, 299),
    stages=[
        ("stem.conv3", 64, 2),
        ("stem.conv5", 192, 4),
        ("blocks_a", 256, 8),
        ("blocks_b", 896, 16),
        ("blocks_c", 1792, 32),
    ],
    block="blocks_a.0",
    notes=(
        "The paper gives no parameter count and the authors released no weights; built from Figures 10-15. "
        "pytorchcv's inceptionresnetv1 is FaceNet's variant (a sixth, unscaled Inception-ResNet-C block "
        "without ReLU and a 512-wide Linear+BatchNorm bottleneck before the classifier), not Figure 15's, "
        "so its weights load only into that layout, a builder option (facenet=True); the default stays Figure 15's."
    ),
)
def inception_resnet_v1(num_classes: int, facenet: bool = False) -> InceptionV4:
    return build_inception_resnet_v1(num_classes, resnet_v1_stem(), facenet)


@register_model(
    "inception_resnet_v2",
    family=INCEPTION_V4,
    variant="Inception-ResNet-v2 (released TF-slim layout)",
    input_size=(3, 299, 299),
    # Cadene's pretrainedmodels "inceptionresnetv2" built for 1000 classes (the
    # 1001-class checkpoint has 1,537 more); timm's inception_resnet_v2 is the same net.
    paper_params=55_843_464,
    params_source="Cadene pretrainedmodels inceptionresnetv2 (port of the TF-slim checkpoint), 1000 classes",
    stages=[
        ("stem.conv3", 64, 2),
        ("stem.conv5", 192, 4),
        ("blocks_a", 320, 8),
        ("blocks_b", 1088, 16),
        ("conv_head", 1536, 32),
    ],
    block="blocks_a.0",
    notes="Follows the released checkpoint (v3-style stem, 10/20/10 blocks, 1088/2080 channels), not the figures.",
)
def inception_resnet_v2(num_classes: int) -> InceptionV4:
    return build_inception_resnet_v2(num_classes, resnet_v2_stem())


@register_model(
    "inception_resnet_v1_cifar",
    family=INCEPTION_V4,
    variant="Inception-ResNet-v1 for 32×32 inputs (padded stem, grids 16/7/3)",
    input_size=(3, 32, 32),
    num_classes=10,
    stages=[("stem.conv2", 64, 1), ("blocks_a", 256, 2), ("blocks_b", 896, 4), ("blocks_c", 1792, 8)],
    small_input=True,
    block="blocks_a.0",
    notes=(
        "The paper has no CIFAR net: the 299 → 35 stem becomes a padded 32 → 16 one. Inception-ResNet-v1, "
        "the family's cheapest net (about Inception-v3's cost), keeps short training runs short."
    ),
)
def inception_resnet_v1_cifar(num_classes: int) -> InceptionV4:
    return build_inception_resnet_v1(num_classes, small_stem(256))


# --- Trained weights ----------------------------------------------------------------------

# pytorchcv's ImageNet evaluation: ImageNet mean/std, bilinear, short side ceil(299 / 0.875).
PYTORCHCV_299 = Preprocess((299, 299), 342, IMAGENET_MEAN, IMAGENET_STD, "bilinear")
TIMM_299 = Preprocess.imagenet(299, 0.875, "bicubic", INCEPTION_MEAN, INCEPTION_STD)


def _pytorchcv(model: str, name: str, release: str, error: str, sha1: str, top1: float, **fields) -> WeightEntry:
    return WeightEntry(
        model=model,
        source="pytorchcv",
        source_model=name,
        tag="in1k",
        dataset="ImageNet-1k",
        num_classes=1000,
        preprocess=fields.pop("preprocess", PYTORCHCV_299),
        url=f"https://github.com/osmr/imgclsmob/releases/download/{release}/{name}-{error}-{sha1[:8]}.pth.zip",
        checksum=f"sha1:{sha1}",
        top1=top1,
        top5=round(100 - int(error) / 100, 2),
        metric_source="pytorchcv README (via research notes); top-5 from model_metainfos.csv",
        license="MIT",
        convert=(by_order(model, **fields.get("build", {})),),
        **fields,
    )


def _blocks(prefix: str, ours: str, first: int, count: int) -> list[tuple[str, str]]:
    """``features.<first + i>.`` → ``<ours>.<i>.`` for a run of timm's numbered modules."""
    return [(rf"^{prefix}\.{first + i}\.", f"{ours}.{i}.") for i in range(count)]


register_weights(
    WeightEntry(
        model="inception_v4",
        source="timm",
        source_model="inception_v4",
        tag="tf_in1k",
        dataset="ImageNet-1k",
        num_classes=1000,
        preprocess=TIMM_299,
        hf_repo="timm/inception_v4.tf_in1k",
        top1=80.14,
        metric_source="timm results-imagenet.csv (via research notes)",
        license="Apache-2.0",
        convert=(
            rename(
                (r"^features\.0\.", "stem.conv1."),
                (r"^features\.1\.", "stem.conv2."),
                (r"^features\.2\.", "stem.conv3."),
                (r"^features\.3\.", "stem.mixed_3a."),
                (r"^features\.4\.", "stem.mixed_4a."),
                (r"^features\.5\.", "stem.mixed_5a."),
                *_blocks("features", "blocks_a", 6, 4),
                (r"^features\.10\.", "reduction_a."),
                *_blocks("features", "blocks_b", 11, 7),
                (r"^features\.18\.", "reduction_b."),
                *_blocks("features", "blocks_c", 19, 3),
                (r"\.branch(\d)_0\.", r".branch\1.0."),
                (r"\.branch1_1a\.", ".branch1.1.conv_1x3."),
                (r"\.branch1_1b\.", ".branch1.1.conv_3x1."),
                (r"\.branch2_1\.", ".branch2.1."),
                (r"\.branch2_2\.", ".branch2.2."),
                (r"\.branch2_3a\.", ".branch2.3.conv_1x3."),
                (r"\.branch2_3b\.", ".branch2.3.conv_3x1."),
                (r"^last_linear\.", "fc."),
            ),
        ),
        notes="Port of the authors' TF-slim checkpoint (Cadene's conversion), 1000 classes; explicit renames.",
    ),
    _pytorchcv(
        "inception_v4", "inceptionv4", "v0.0.543", "0488", "4ae4f331a5ff649e39626fc49cd5c24b8159cd8c", 80.17,
        build={"pool_window": 8},
        notes=(
            "Trained by pytorchcv (Gluon, converted); same layout as ours, mapped by order. Built with its "
            "fixed 8×8 final average pool, which sums in pytorchcv's order (the same function at 299)."
        ),
    ),
    WeightEntry(
        model="inception_resnet_v2",
        source="timm",
        source_model="inception_resnet_v2",
        tag="tf_in1k",
        dataset="ImageNet-1k",
        num_classes=1000,
        preprocess=Preprocess.imagenet(299, 0.8975, "bicubic", INCEPTION_MEAN, INCEPTION_STD),
        hf_repo="timm/inception_resnet_v2.tf_in1k",
        top1=80.43,
        metric_source="timm results-imagenet.csv (via research notes)",
        license="Apache-2.0",
        convert=(
            rename(
                (r"^conv2d_1a\.", "stem.conv1."),
                (r"^conv2d_2a\.", "stem.conv2."),
                (r"^conv2d_2b\.", "stem.conv3."),
                (r"^conv2d_3b\.", "stem.conv4."),
                (r"^conv2d_4a\.", "stem.conv5."),
                (r"^mixed_5b\.", "stem.mixed_5b."),
                (r"^repeat\.", "blocks_a."),
                (r"^repeat_1\.", "blocks_b."),
                (r"^repeat_2\.", "blocks_c."),
                (r"^block8\.", "blocks_c.9."),
                (r"^(blocks_[abc]\.\d+)\.conv2d\.", r"\1.up."),
                (r"^(blocks_[abc]\.\d+)\.branch", r"\1.branches.branch"),
                (r"^mixed_6a\.", "reduction_a."),
                (r"^mixed_7a\.", "reduction_b."),
                (r"^conv2d_7b\.", "conv_head."),
                (r"^classif\.", "fc."),
            ),
        ),
        notes="Port of the authors' TF-slim checkpoint, 1000 classes; explicit renames onto the same layout.",
    ),
    _pytorchcv(
        "inception_resnet_v1", "inceptionresnetv1", "v0.0.552", "0480", "f8b3e9e369ff38e28b4ae4def273ef78741e2e28", 80.37,
        build={"facenet": True},
        notes=(
            "Trained by pytorchcv (Gluon, converted) on FaceNet's Inception-ResNet-v1 (a sixth unscaled C block "
            "and a 512-wide bottleneck head), not Figure 15's net: built with facenet=True, mapped by order."
        ),
    ),
    _pytorchcv(
        "inception_resnet_v2", "inceptionresnetv2", "v0.0.547", "0474", "19f51781f8a454803207e319289f404d50e252cb", 80.60,
        notes="Trained by pytorchcv (Gluon, converted); same layout as ours, mapped by order.",
    ),
)
