"""ResNet — "Deep Residual Learning for Image Recognition", He, Zhang, Ren and Sun, 2015
(arXiv 1512.03385).

Each block learns a residual F(x) that is added to its input, so a block that has nothing
to add can fall back to the identity; that is what lets 100+ layer nets train better than
their shallower versions instead of worse. Shortcuts are free identities inside a stage
and a strided 1×1 projection (ImageNet) or a zero-padded subsampling (CIFAR, option A)
where the shape changes.

The block classes and :func:`make_layer` are public: ResNeXt, Wide ResNet, SE-ResNet and
stochastic depth reuse them with other numbers, or through block subclasses that
override ``residual`` (the branch) and keep the shared ``forward``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from classifier.registry import Family, register_model
from classifier.weights.convert import by_order
from classifier.weights.entries import WeightEntry, register_weights
from classifier.weights.preprocess import CIFAR_MEAN, CIFAR_STD, Preprocess

RESNET = Family(
    name="ResNet",
    year=2015,
    paper="Deep Residual Learning for Image Recognition",
    arxiv="1512.03385",
    authors="Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun",
    ideas=(
        "Layers fit a residual F(x) and the block outputs F(x) + x, so extra depth can default to the identity.",
        "Plain nets get worse with depth (degradation); the same nets with shortcuts keep improving up to 152 layers.",
        "Bottleneck blocks (1×1 reduce, 3×3, 1×1 expand) keep very deep ImageNet nets affordable.",
        "Shortcuts cost nothing inside a stage; where the shape changes a 1×1 projection or zero padding matches it.",
    ),
)


def conv3x3(in_ch: int, out_ch: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, groups=groups, bias=False)


def conv1x1(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False)


class ZeroPadShortcut(nn.Module):
    """The paper's option A shortcut: keep every ``stride``-th pixel and append zero
    channels, so the shortcut stays parameter-free when a stage widens (the CIFAR nets of
    Table 6 use it to keep their parameter counts). The subsampling is written as a 1×1
    max pool with that stride, which is exactly that and reads as a window to the
    receptive-field analysis."""

    def __init__(self, extra_channels: int, stride: int):
        super().__init__()
        self.extra_channels = extra_channels
        self.subsample = nn.MaxPool2d(kernel_size=1, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(self.subsample(x), (0, 0, 0, 0, 0, self.extra_channels))

    def extra_repr(self) -> str:
        return f"extra_channels={self.extra_channels}"


class ResidualBlock(nn.Module):
    """What every residual block shares: ``relu_out(residual(x) + shortcut(x))``.

    Subclasses define ``residual(x)`` (the branch) from their own layers plus the
    ``downsample`` and ``relu_out`` modules; variants that change only the branch
    (squeeze-excitation, dropped paths) override ``residual`` and call
    ``super().residual(x)``.
    """

    expansion = 1
    downsample: nn.Module | None
    relu_out: nn.Module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu_out(self.residual(x) + shortcut)


class BasicBlock(ResidualBlock):
    """Two 3×3 convs (ResNet-18/34 and the CIFAR nets). Names match torchvision's
    ``BasicBlock``; ``groups`` and ``base_width`` are accepted for a common signature with
    :class:`Bottleneck` but, as in torchvision, only their defaults make sense here."""

    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
    ):
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock has no inner width to group or widen; use Bottleneck")
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.relu_out = nn.ReLU()

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))


class PlainBlock(BasicBlock):
    """The same two 3×3 convs with no shortcut: the paper's "plain" baseline (Sec. 4.2,
    Fig. 6), whose training error grows with depth while the residual nets' falls."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu_out(self.residual(x))


class Bottleneck(ResidualBlock):
    """1×1 reduce → 3×3 → 1×1 expand (×4), stride on the 3×3 as in torchvision ("ResNet
    v1.5"). The inner width is ``planes * base_width / 64 * groups``: ResNeXt sets
    ``groups`` (cardinality) and Wide ResNet-50-2 doubles ``base_width``."""

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
    ):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu1 = nn.ReLU()
        self.conv2 = conv3x3(width, width, stride, groups)
        self.bn2 = nn.BatchNorm2d(width)
        self.relu2 = nn.ReLU()
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.downsample = downsample
        self.relu_out = nn.ReLU()

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.bn1(self.conv1(x)))
        x = self.relu2(self.bn2(self.conv2(x)))
        return self.bn3(self.conv3(x))


def make_layer(
    block: type[ResidualBlock],
    inplanes: int,
    planes: int,
    blocks: int,
    stride: int = 1,
    shortcut: str = "projection",
    **block_kwargs,
) -> nn.Sequential:
    """One stage: the first block changes stride/width, the rest keep it.

    ``shortcut`` is ``"projection"`` (1×1 conv + BN, torchvision's ``downsample``) or
    ``"zero_pad"`` (option A). Extra keyword arguments go to every block.
    """
    out_ch = planes * block.expansion
    downsample: nn.Module | None = None
    if stride != 1 or inplanes != out_ch:
        if shortcut == "projection":
            downsample = nn.Sequential(conv1x1(inplanes, out_ch, stride), nn.BatchNorm2d(out_ch))
        elif shortcut == "zero_pad":
            downsample = ZeroPadShortcut(out_ch - inplanes, stride)
        else:
            raise ValueError(f"unknown shortcut {shortcut!r}")
    layers = [block(inplanes, planes, stride, downsample, **block_kwargs)]
    layers += [block(out_ch, planes, **block_kwargs) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


def init_resnet_weights(model: nn.Module) -> None:
    """He-normal convs (fan-out) and unit BatchNorms, as the paper and torchvision do."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class ResNet(nn.Module):
    """The ImageNet ResNet: 7×7/2 stem, 3×3/2 max pool, four stages at strides 4–32,
    global average pool and one linear layer. Parameter and buffer names are
    torchvision's, so its state dicts load with ``strict=True``."""

    def __init__(
        self,
        block: type[ResidualBlock],
        layers: tuple[int, int, int, int],
        num_classes: int = 1000,
        groups: int = 1,
        width_per_group: int = 64,
        **block_kwargs,
    ):
        super().__init__()
        block_kwargs = {"groups": groups, "base_width": width_per_group, **block_kwargs}
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        inplanes = 64
        for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers)):
            stage = make_layer(block, inplanes, planes, blocks, stride=1 if i == 0 else 2, **block_kwargs)
            self.add_module(f"layer{i + 1}", stage)
            inplanes = planes * block.expansion
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(inplanes, num_classes)
        init_resnet_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class CifarResNet(nn.Module):
    """The paper's CIFAR-10 nets (Sec. 4.2): a 3×3 conv with 16 filters, three stages of
    ``n`` basic blocks at 32×32, 16×16 and 8×8 with 16/32/64 filters (6n+2 weighted layers),
    global average pooling and a linear layer. Option A shortcuts keep every shortcut free."""

    def __init__(
        self,
        depth: int,
        num_classes: int = 10,
        block: type[ResidualBlock] = BasicBlock,
        widths: tuple[int, int, int] = (16, 32, 64),
        shortcut: str = "zero_pad",
        **block_kwargs,
    ):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
        n = (depth - 2) // 6
        self.conv1 = conv3x3(3, widths[0])
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU()
        inplanes = widths[0]
        for i, planes in enumerate(widths):
            stage = make_layer(block, inplanes, planes, n, stride=1 if i == 0 else 2, shortcut=shortcut, **block_kwargs)
            self.add_module(f"layer{i + 1}", stage)
            inplanes = planes * block.expansion
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(inplanes, num_classes)
        init_resnet_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def imagenet_stages(expansion: int) -> list[tuple[str, int, int]]:
    """Stage outputs of the four-stage ImageNet layout (also used by ResNeXt/WRN)."""
    return [(f"layer{i + 1}", planes * expansion, 4 * 2**i) for i, planes in enumerate((64, 128, 256, 512))]


CIFAR_STAGES = [("layer1", 16, 1), ("layer2", 32, 2), ("layer3", 64, 4)]


def build_resnet(
    num_classes: int, block_type: type[ResidualBlock], layers: tuple[int, int, int, int], **kwargs
) -> ResNet:
    return ResNet(block_type, layers, num_classes=num_classes, **kwargs)


def build_cifar_resnet(
    num_classes: int, depth: int, block_type: type[ResidualBlock] = BasicBlock, **kwargs
) -> CifarResNet:
    return CifarResNet(depth, num_classes=num_classes, block=block_type, **kwargs)


# depth: (block, blocks per stage, parameters). The paper reports FLOPs, not parameter
# counts, for its ImageNet nets; the figures are torchvision's (weights metadata num_params).
_IMAGENET = {
    18: (BasicBlock, (2, 2, 2, 2), 11_689_512),
    34: (BasicBlock, (3, 4, 6, 3), 21_797_672),
    50: (Bottleneck, (3, 4, 6, 3), 25_557_032),
    101: (Bottleneck, (3, 4, 23, 3), 44_549_160),
    152: (Bottleneck, (3, 8, 36, 3), 60_192_808),
}
for _depth, (_block, _layers, _params) in _IMAGENET.items():
    register_model(
        f"resnet{_depth}", family=RESNET, variant=f"ResNet-{_depth}", torchvision=f"resnet{_depth}",
        paper_params=_params, params_source="torchvision reference implementation (the paper gives FLOPs only)",
        stages=imagenet_stages(_block.expansion), block="layer1.0", block_type=_block, layers=_layers,
    )(build_resnet)

# depth: parameters as printed in Table 6 of the paper (CIFAR-10, option A shortcuts).
_CIFAR = {20: 270_000, 32: 460_000, 44: 660_000, 56: 850_000, 110: 1_700_000}
for _depth, _params in _CIFAR.items():
    register_model(
        f"resnet{_depth}_cifar", family=RESNET, variant=f"ResNet-{_depth} (CIFAR)", input_size=(3, 32, 32),
        num_classes=10, small_input=True, paper_params=_params, params_source="He et al. 2015, Table 6",
        stages=CIFAR_STAGES, block="layer1.0", depth=_depth,
        notes="The paper's CIFAR-10 net: 6n+2 layers, 16/32/64 filters, zero-padding (option A) shortcuts. "
        "pytorchcv's CIFAR-10 weights use 1×1 projection shortcuts (option B), so they load with "
        "shortcut='projection'.",
    )(build_cifar_resnet)

# The plain baselines of Fig. 6: same layers as ResNet-20/56, no shortcuts (the
# downsampling shortcut module exists but is unused; it has no parameters).
for _depth in (20, 56):
    register_model(
        f"plain{_depth}_cifar", family=RESNET, variant=f"Plain-{_depth} (CIFAR)", input_size=(3, 32, 32),
        num_classes=10, small_input=True, stages=CIFAR_STAGES, block="layer1.0", depth=_depth, block_type=PlainBlock,
        notes="The paper's plain baseline (Fig. 6): ResNet's layers without the shortcuts; deeper plain nets train worse.",
    )(build_cifar_resnet)


# CIFAR-10 weights (pytorchcv). The paper's nets use option A shortcuts, which stay the
# default; these files need the option B projections, a builder option.
_PYTORCHCV_CIFAR = {  # depth: (file error = top-1 error in hundredths of a percent, sha1)
    20: ("0597", "9b0024ac4c2f374cde2c5052e0d0344a75871cdb"),
    56: ("0452", "628c42a26fe347b84060136212e018df2bb35e0f"),
    110: ("0369", "4d6ca1fc02eaeed724f4f596011e391528536049"),
}
for _depth, (_error, _sha1) in _PYTORCHCV_CIFAR.items():
    register_weights(
        WeightEntry(
            model=f"resnet{_depth}_cifar", source="pytorchcv", source_model=f"resnet{_depth}_cifar10", tag="cifar10",
            dataset="CIFAR-10", num_classes=10, preprocess=Preprocess((32, 32), 32, CIFAR_MEAN, CIFAR_STD),
            url="https://github.com/osmr/imgclsmob/releases/download/v0.0.163/"
            f"resnet{_depth}_cifar10-{_error}-{_sha1[:8]}.pth.zip",
            checksum=f"sha1:{_sha1}", top1=round(100 - int(_error) / 100, 2),
            metric_source=f"pytorchcv metainfo / README (top-1 error {int(_error) / 100})", license="MIT",
            build={"shortcut": "projection"}, convert=(by_order(f"resnet{_depth}_cifar", shortcut="projection"),),
            notes="pytorchcv's CIFAR ResNets were trained with 1×1 projection shortcuts (the paper's option B) where "
            "a stage widens; built with shortcut='projection' they are ours parameter for parameter.",
        ),
    )
