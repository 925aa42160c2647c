"""GoogLeNet (Inception-v1) — "Going Deeper with Convolutions", Szegedy et al., 2014
(arXiv 1409.4842).

An Inception module runs 1×1, 3×3 and 5×5 convolutions and a pooling path side by side on
the same input and stacks their outputs, so each layer sees several scales at once; cheap
1×1 convolutions shrink the channels before the large kernels so nine such modules stay
within a small budget (about 1.5 G multiply-adds, 7 M parameters). Global average pooling
replaces the big fully connected layers, and two auxiliary classifiers on intermediate
layers add gradient signal during training only.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import torch
from torch import nn

from classifier.layers import BasicConv2d, Concat, ConvBNAct, Renormalize
from classifier.registry import Family, register_model

ConvFactory = Callable[..., nn.Module]

GOOGLENET = Family(
    name="GoogLeNet",
    year=2014,
    paper="Going Deeper with Convolutions",
    arxiv="1409.4842",
    authors="Christian Szegedy, Wei Liu, Yangqing Jia, Pierre Sermanet, Scott Reed, Dragomir Anguelov, "
    "Dumitru Erhan, Vincent Vanhoucke, Andrew Rabinovich",
    ideas=(
        "An Inception module runs 1×1, 3×3 and 5×5 convs and a max pool side by side and stacks their outputs.",
        "1×1 convolutions cut the channel count before the expensive kernels, which keeps 22 layers cheap.",
        "Global average pooling replaces the large fully connected layers of AlexNet and VGG.",
        "Two auxiliary classifiers on middle layers add gradient during training and are dropped at test time.",
    ),
)

# The paper's conv layers: a bias and a ReLU, no BatchNorm (which came the following year).
PlainConv = partial(ConvBNAct, norm=False)


class Inception(Concat):
    """Four parallel paths whose outputs are concatenated: 1×1; 1×1 then 3×3; 1×1 then a
    wide k×k (5×5 in the paper); 3×3 max pooling then a 1×1 projection. The 1×1 in front of
    each large kernel is what makes the width affordable.

    Branch names follow torchvision (``branch1``..``branch4``); torchvision's own GoogLeNet
    uses ``wide_kernel=3`` by mistake (pytorch/vision#906), which its weights depend on.
    """

    def __init__(
        self,
        in_ch: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch5x5red: int,
        ch5x5: int,
        pool_proj: int,
        conv: ConvFactory = BasicConv2d,
        wide_kernel: int = 5,
    ):
        super().__init__(
            branch1=conv(in_ch, ch1x1, kernel_size=1),
            branch2=nn.Sequential(
                conv(in_ch, ch3x3red, kernel_size=1),
                conv(ch3x3red, ch3x3, kernel_size=3, padding=1),
            ),
            branch3=nn.Sequential(
                conv(in_ch, ch5x5red, kernel_size=1),
                conv(ch5x5red, ch5x5, kernel_size=wide_kernel, padding=wide_kernel // 2),
            ),
            branch4=nn.Sequential(
                nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
                conv(in_ch, pool_proj, kernel_size=1),
            ),
        )


class InceptionAux(nn.Module):
    """Auxiliary classifier: pool to 4×4, 1×1 conv to 128 channels, a 1024-unit hidden
    layer with 70% dropout, then the classes. The paper pools with a 5×5/3 window, which
    gives 4×4 on the 14×14 map; an adaptive pool gives 4×4 at any input size."""

    def __init__(self, in_ch: int, num_classes: int, conv: ConvFactory = BasicConv2d, dropout: float = 0.7):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.conv = conv(in_ch, 128, kernel_size=1)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.conv(self.pool(x)), 1)
        return self.fc2(self.dropout(self.relu(self.fc1(x))))


class GoogLeNet(nn.Module):
    """The nine Inception modules of Table 1 (3a–5b) after a ``stem``, with global average
    pooling and one linear layer on top.

    ``stem`` is a list of (name, module) pairs registered at the top level, which keeps
    torchvision's names (``conv1``, ``maxpool1``, ...) while letting the paper version add
    its local response normalisation and the 32×32 version use a single conv. With
    ``aux_logits`` the net carries the two auxiliary classifiers (after 4a and 4d); in
    training mode ``forward`` then returns ``(logits, aux1, aux2)`` (the paper weighs each
    auxiliary loss by 0.3), in eval mode the logits alone.
    """

    def __init__(
        self,
        stem: list[tuple[str, nn.Module]],
        num_classes: int = 1000,
        conv: ConvFactory = BasicConv2d,
        wide_kernel: int = 5,
        last_pool_kernel: int = 3,
        aux_logits: bool = True,
        dropout: float = 0.4,
    ):
        super().__init__()
        for name, module in stem:
            self.add_module(name, module)
        self.stem_names = tuple(name for name, _ in stem)

        block = partial(Inception, conv=conv, wide_kernel=wide_kernel)
        # Table 1: in, #1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj.
        self.inception3a = block(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = block(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = block(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = block(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = block(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = block(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = block(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = nn.MaxPool2d(last_pool_kernel, stride=2, ceil_mode=True)
        self.inception5a = block(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = block(832, 384, 192, 384, 48, 128, 128)

        self.aux1 = InceptionAux(512, num_classes, conv) if aux_logits else None
        self.aux2 = InceptionAux(528, num_classes, conv) if aux_logits else None

        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        for name in self.stem_names:
            x = getattr(self, name)(x)
        x = self.inception3b(self.inception3a(x))
        x = self.inception4a(self.maxpool3(x))
        with_aux = self.training and self.aux1 is not None
        aux1 = self.aux1(x) if with_aux else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if with_aux else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        logits = self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))
        return (logits, aux1, aux2) if with_aux else logits


def imagenet_stem(conv: ConvFactory, lrn: bool) -> list[tuple[str, nn.Module]]:
    """7×7/2 conv, 3×3/2 max pool, 1×1 reduce, 3×3 conv to 192 channels, 3×3/2 max pool:
    224 → 28. The paper normalises (LRN) after the first pool and after the 3×3 conv."""

    def norm(name: str) -> list[tuple[str, nn.Module]]:
        return [(name, nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75))] if lrn else []

    return [
        ("conv1", conv(3, 64, kernel_size=7, stride=2, padding=3)),
        ("maxpool1", nn.MaxPool2d(3, stride=2, ceil_mode=True)),
        *norm("lrn1"),
        ("conv2", conv(64, 64, kernel_size=1)),
        ("conv3", conv(64, 192, kernel_size=3, padding=1)),
        *norm("lrn2"),
        ("maxpool2", nn.MaxPool2d(3, stride=2, ceil_mode=True)),
    ]


def small_stem(conv: ConvFactory) -> list[tuple[str, nn.Module]]:
    """The ImageNet stem's layers at stride 2 instead of 8: 3×3 conv, 3×3/2 max pool, 1×1
    reduce, 3×3 conv to 192 channels, 32 → 16. BN-Inception's 32×32 variant shares it."""
    return [
        ("conv1", conv(3, 64, kernel_size=3, padding=1)),
        ("maxpool1", nn.MaxPool2d(3, stride=2, ceil_mode=True)),
        ("conv2", conv(64, 64, kernel_size=1)),
        ("conv3", conv(64, 192, kernel_size=3, padding=1)),
    ]


IMAGENET_STAGES = [
    ("conv1", 64, 2),
    ("conv3", 192, 4),
    ("inception3b", 480, 8),
    ("inception4e", 832, 16),
    ("inception5b", 1024, 32),
]


@register_model(
    "googlenet",
    family=GOOGLENET,
    variant="GoogLeNet (paper: 5×5 branches, LRN, no BatchNorm)",
    # The BVLC Caffe release of this net, without its auxiliary heads. Table 1 of the paper
    # lists weights only, in units of 1024: its column sums to 6,797.7K (6.96 M).
    paper_params=6_998_552,
    params_source="BVLC GoogLeNet (Caffe model zoo reference), without auxiliary heads",
    stages=IMAGENET_STAGES,
    block="inception3a",
    notes="In training mode forward returns (logits, aux1, aux2); build with aux_logits=False to drop the heads.",
)
def googlenet(num_classes: int, aux_logits: bool = True, dropout: float = 0.4) -> GoogLeNet:
    """The network of Table 1 as the paper trained it (as in the BVLC Caffe release)."""
    return GoogLeNet(
        imagenet_stem(PlainConv, lrn=True), num_classes, conv=PlainConv, aux_logits=aux_logits, dropout=dropout
    )


@register_model(
    "googlenet_tv",
    family=GOOGLENET,
    variant="GoogLeNet, torchvision layout (BatchNorm, 3×3 in the '5×5' branch)",
    # torchvision's GoogLeNet_Weights.IMAGENET1K_V1.meta["num_params"] (without aux heads).
    paper_params=6_624_904,
    params_source="torchvision googlenet weights metadata (model without auxiliary classifiers)",
    stages=IMAGENET_STAGES,
    torchvision="googlenet",
    block="inception3a",
    notes=(
        "Loads torchvision's googlenet state dict strictly. With aux_logits=True (default) it matches "
        "torchvision's GoogLeNet(aux_logits=True) and the downloaded weight file, which holds the untrained "
        "aux heads; aux_logits=False matches googlenet(weights=...) as torchvision returns it. The ported "
        "weights expect transform_input=True (ImageNet-normalised input mapped to [-1, 1])."
    ),
)
def googlenet_tv(
    num_classes: int, aux_logits: bool = True, transform_input: bool = False, dropout: float = 0.2
) -> GoogLeNet:
    """torchvision's GoogLeNet: BatchNorm (eps 1e-3) in every conv, a 3×3 kernel in the
    branch the paper gives 5×5, and a 2×2 last max pool; the weights it ships depend on both."""
    stem = imagenet_stem(BasicConv2d, lrn=False)
    if transform_input:
        stem.insert(0, ("transform_input", Renormalize()))
    return GoogLeNet(
        stem, num_classes, wide_kernel=3, last_pool_kernel=2, aux_logits=aux_logits, dropout=dropout
    )


@register_model(
    "googlenet_cifar",
    family=GOOGLENET,
    variant="GoogLeNet for 32×32 inputs (stride-2 stem, BatchNorm, no auxiliary heads)",
    input_size=(3, 32, 32),
    num_classes=10,
    stages=[("conv1", 64, 1), ("inception3b", 480, 2), ("inception4e", 832, 4), ("inception5b", 1024, 8)],
    small_input=True,
    block="inception3a",
    notes=(
        "The paper has no CIFAR net: the stem keeps its conv1, pool, 1×1 and 3×3 layers but downsamples "
        "by 2 instead of 8, so the three Inception grids are 16, 8 and 4 (28, 14 and 7 at 224)."
    ),
)
def googlenet_cifar(num_classes: int, aux_logits: bool = False) -> GoogLeNet:
    """The paper's nine modules with 5×5 branches on a 32×32 input; BatchNorm replaces the
    auxiliary heads as the thing that lets it train from scratch."""
    return GoogLeNet(small_stem(BasicConv2d), num_classes, aux_logits=aux_logits, dropout=0.4)
