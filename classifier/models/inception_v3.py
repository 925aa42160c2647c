"""Inception-v3 — "Rethinking the Inception Architecture for Computer Vision", Szegedy,
Vanhoucke, Ioffe, Shlens and Wojna, 2015 (arXiv 1512.00567).

Large kernels are factorised: a 5×5 becomes two stacked 3×3, and an n×n becomes a 1×n
followed by an n×1, which keeps the receptive field at a fraction of the cost. The grid is
shrunk by strided convolutions and pooling running side by side, so no single path is a
representational bottleneck. Training adds label smoothing and one batch-normalised
auxiliary classifier, which the paper finds acts as a regulariser.

Parameter and buffer names are torchvision's, so its ``inception_v3`` state dict loads
strictly; pooling that torchvision calls functionally is a module here.
"""

from __future__ import annotations

import torch
from torch import nn

from classifier.layers import BasicConv2d, Renormalize
from classifier.registry import Family, register_model

INCEPTION_V3 = Family(
    name="Inception-v3",
    year=2015,
    paper="Rethinking the Inception Architecture for Computer Vision",
    arxiv="1512.00567",
    authors="Christian Szegedy, Vincent Vanhoucke, Sergey Ioffe, Jonathon Shlens, Zbigniew Wojna",
    ideas=(
        "A 5×5 conv becomes two 3×3 ones and an n×n a 1×n then an n×1: the same reach with fewer weights.",
        "Grid size is reduced by a strided convolution and a pooling branch in parallel, avoiding a bottleneck.",
        "The auxiliary classifier is kept, with BatchNorm, as a regulariser rather than a gradient booster.",
        "Label smoothing and a 299×299 input with 35/17/8 grids complete the recipe.",
    ),
)


class InceptionA(nn.Module):
    """35×35 module (Figure 5): 1×1 | 1×1→5×5 | 1×1→3×3→3×3 | avg pool→1×1. torchvision and
    the TensorFlow checkpoint keep a 5×5 in the second path where the paper's figure
    factorises it."""

    def __init__(self, in_ch: int, pool_features: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(in_ch, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_ch, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_ch, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.pool = nn.AvgPool2d(3, stride=1, padding=1)
        self.branch_pool = BasicConv2d(in_ch, pool_features, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b2 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        b4 = self.branch_pool(self.pool(x))
        return torch.cat([b1, b2, b3, b4], 1)


class InceptionB(nn.Module):
    """35 → 17 grid reduction (Figure 10): a stride-2 3×3, a stride-2 double 3×3 and a
    stride-2 max pool side by side, so the grid shrinks while the channels grow."""

    def __init__(self, in_ch: int):
        super().__init__()
        self.branch3x3 = BasicConv2d(in_ch, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_ch, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)
        self.pool = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch3x3(x)
        b2 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([b1, b2, self.pool(x)], 1)


class InceptionC(nn.Module):
    """17×17 module (Figure 6): 7×7 kernels factorised into 1×7 and 7×1, once and twice;
    ``c7`` is the width inside the factorised paths."""

    def __init__(self, in_ch: int, c7: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(in_ch, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_ch, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_ch, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.pool = nn.AvgPool2d(3, stride=1, padding=1)
        self.branch_pool = BasicConv2d(in_ch, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b2 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        b3 = self.branch7x7dbl_1(x)
        b3 = self.branch7x7dbl_3(self.branch7x7dbl_2(b3))
        b3 = self.branch7x7dbl_5(self.branch7x7dbl_4(b3))
        b4 = self.branch_pool(self.pool(x))
        return torch.cat([b1, b2, b3, b4], 1)


class InceptionD(nn.Module):
    """17 → 8 grid reduction: a stride-2 3×3 after a 1×1, a factorised 7×7 then a stride-2
    3×3, and a stride-2 max pool."""

    def __init__(self, in_ch: int):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_ch, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_ch, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)
        self.pool = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch3x3_2(self.branch3x3_1(x))
        b2 = self.branch7x7x3_2(self.branch7x7x3_1(x))
        b2 = self.branch7x7x3_4(self.branch7x7x3_3(b2))
        return torch.cat([b1, b2, self.pool(x)], 1)


class InceptionE(nn.Module):
    """8×8 module (Figure 7): the 3×3 paths split into a 1×3 and a 3×1 side by side instead
    of one after the other, widening the output to keep high-dimensional features at the
    coarsest grid."""

    def __init__(self, in_ch: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(in_ch, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_ch, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_ch, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.pool = nn.AvgPool2d(3, stride=1, padding=1)
        self.branch_pool = BasicConv2d(in_ch, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b2 = self.branch3x3_1(x)
        b2 = torch.cat([self.branch3x3_2a(b2), self.branch3x3_2b(b2)], 1)
        b3 = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        b3 = torch.cat([self.branch3x3dbl_3a(b3), self.branch3x3dbl_3b(b3)], 1)
        b4 = self.branch_pool(self.pool(x))
        return torch.cat([b1, b2, b3, b4], 1)


class InceptionAux(nn.Module):
    """Auxiliary classifier on the last 17×17 map: 5×5/3 average pool to 5×5, 1×1 conv to
    128, 5×5 conv to 768 (1×1 left), linear. It needs the full 17×17 map, i.e. a 299 input."""

    def __init__(self, in_ch: int, num_classes: int):
        super().__init__()
        self.pool = nn.AvgPool2d(5, stride=3)
        self.conv0 = BasicConv2d(in_ch, 128, kernel_size=1)
        self.conv1 = BasicConv2d(128, 768, kernel_size=5)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.gap(self.conv1(self.conv0(self.pool(x))))
        return self.fc(torch.flatten(x, 1))


def imagenet_stem() -> list[tuple[str, nn.Module]]:
    """Table 1's stem, 299 → 35: five unpadded or padded convs and two 3×3/2 max pools."""
    return [
        ("Conv2d_1a_3x3", BasicConv2d(3, 32, kernel_size=3, stride=2)),
        ("Conv2d_2a_3x3", BasicConv2d(32, 32, kernel_size=3)),
        ("Conv2d_2b_3x3", BasicConv2d(32, 64, kernel_size=3, padding=1)),
        ("maxpool1", nn.MaxPool2d(3, stride=2)),
        ("Conv2d_3b_1x1", BasicConv2d(64, 80, kernel_size=1)),
        ("Conv2d_4a_3x3", BasicConv2d(80, 192, kernel_size=3)),
        ("maxpool2", nn.MaxPool2d(3, stride=2)),
    ]


def small_stem() -> list[tuple[str, nn.Module]]:
    """The same five convs, padded, with one max pool: 32 → 16, so the three Inception
    grids run at 16, 7 and 3 instead of 35, 17 and 8."""
    return [
        ("Conv2d_1a_3x3", BasicConv2d(3, 32, kernel_size=3, padding=1)),
        ("Conv2d_2a_3x3", BasicConv2d(32, 32, kernel_size=3, padding=1)),
        ("Conv2d_2b_3x3", BasicConv2d(32, 64, kernel_size=3, padding=1)),
        ("maxpool1", nn.MaxPool2d(3, stride=2, padding=1)),
        ("Conv2d_3b_1x1", BasicConv2d(64, 80, kernel_size=1)),
        ("Conv2d_4a_3x3", BasicConv2d(80, 192, kernel_size=3, padding=1)),
    ]


class Inception3(nn.Module):
    """Stem, three 35×35 modules, a reduction, four 17×17 modules, a reduction, two 8×8
    modules, global pooling, dropout, linear.

    ``stem`` is a list of (name, module) pairs registered at the top level under
    torchvision's names. With ``aux_logits`` the auxiliary head sits on Mixed_6e; in
    training ``forward`` then returns ``(logits, aux)`` (the head wants a 299 input), in
    eval mode the logits alone.
    """

    def __init__(
        self,
        stem: list[tuple[str, nn.Module]],
        num_classes: int = 1000,
        aux_logits: bool = True,
        dropout: float = 0.5,
    ):
        super().__init__()
        for name, module in stem:
            self.add_module(name, module)
        self.stem_names = tuple(name for name, _ in stem)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, c7=128)
        self.Mixed_6c = InceptionC(768, c7=160)
        self.Mixed_6d = InceptionC(768, c7=160)
        self.Mixed_6e = InceptionC(768, c7=192)
        self.AuxLogits = InceptionAux(768, num_classes) if aux_logits else None
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280)
        self.Mixed_7c = InceptionE(2048)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2048, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        for name in self.stem_names:
            x = getattr(self, name)(x)
        x = self.Mixed_5d(self.Mixed_5c(self.Mixed_5b(x)))
        x = self.Mixed_6a(x)
        x = self.Mixed_6e(self.Mixed_6d(self.Mixed_6c(self.Mixed_6b(x))))
        with_aux = self.training and self.AuxLogits is not None
        aux = self.AuxLogits(x) if with_aux else None
        x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))
        logits = self.fc(torch.flatten(self.dropout(self.avgpool(x)), 1))
        return (logits, aux) if with_aux else logits


@register_model(
    "inception_v3",
    family=INCEPTION_V3,
    variant="Inception-v3 (torchvision / TF-slim layout)",
    input_size=(3, 299, 299),
    # torchvision's Inception_V3_Weights.IMAGENET1K_V1.meta["num_params"] counts the aux
    # head (27,161,264); without it the net has 23,834,568, the figure on this card.
    paper_params=23_834_568,
    params_source="torchvision inception_v3 without the auxiliary head (27,161,264 with it, per its weights metadata)",
    stages=[
        ("Conv2d_2b_3x3", 64, 2),
        ("Conv2d_4a_3x3", 192, 4),
        ("Mixed_5d", 288, 8),
        ("Mixed_6e", 768, 16),
        ("Mixed_7c", 2048, 32),
    ],
    torchvision="inception_v3",
    block="Mixed_5b",
    notes=(
        "Loads torchvision's inception_v3 state dict strictly: aux_logits=True (default) matches "
        "torchvision's Inception3(aux_logits=True) and the weight file; aux_logits=False matches a model "
        "built without the head. The ported weights expect transform_input=True (ImageNet-normalised "
        "input mapped to [-1, 1]). The auxiliary head only runs in training, on 299×299 inputs."
    ),
)
def inception_v3(
    num_classes: int, aux_logits: bool = True, transform_input: bool = False, dropout: float = 0.5
) -> Inception3:
    stem = imagenet_stem()
    if transform_input:
        stem.insert(0, ("transform_input", Renormalize()))
    return Inception3(stem, num_classes, aux_logits=aux_logits, dropout=dropout)


@register_model(
    "inception_v3_cifar",
    family=INCEPTION_V3,
    variant="Inception-v3 for 32×32 inputs (padded stem, one pooling, no auxiliary head)",
    input_size=(3, 32, 32),
    num_classes=10,
    stages=[("Conv2d_2b_3x3", 64, 1), ("Mixed_5d", 288, 2), ("Mixed_6e", 768, 4), ("Mixed_7c", 2048, 8)],
    small_input=True,
    block="Mixed_5b",
    notes="The paper has no CIFAR net: the 299 → 35 stem becomes a padded 32 → 16 one.",
)
def inception_v3_cifar(num_classes: int, dropout: float = 0.5) -> Inception3:
    return Inception3(small_stem(), num_classes, aux_logits=False, dropout=dropout)
