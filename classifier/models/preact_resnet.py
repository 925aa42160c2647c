"""Pre-activation ResNet (ResNet v2) — "Identity Mappings in Deep Residual Networks", He,
Zhang, Ren and Sun, 2016 (arXiv 1603.05027).

Moving BatchNorm and ReLU in front of each convolution ("pre-activation") and dropping the
ReLU after the addition makes every shortcut a pure identity: any block's input reaches
any later block, and its gradient comes back, unchanged. That is what lets a 1001-layer
CIFAR net train, and it helps the ImageNet nets generalise.
"""

from __future__ import annotations

import torch
from torch import nn

from classifier.registry import Family, register_model
from classifier.weights.convert import by_order
from classifier.weights.entries import WeightEntry, register_weights
from classifier.weights.preprocess import CIFAR_MEAN, CIFAR_STD, Preprocess

PREACT_RESNET = Family(
    name="Pre-activation ResNet",
    year=2016,
    paper="Identity Mappings in Deep Residual Networks",
    arxiv="1603.05027",
    authors="Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun",
    ideas=(
        "BN and ReLU move before each conv and no ReLU follows the addition, so shortcuts are pure identities.",
        "Any feature is then an earlier feature plus a sum of residuals, and gradients return unmultiplied.",
        "Gated or 1×1 shortcuts train worse than the identity: an optimisation problem, not a lack of capacity.",
        "This trains a 1001-layer CIFAR net and improves ResNet-152/200 on ImageNet.",
    ),
)


def conv3x3(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)


class PreActBasicBlock(nn.Module):
    """BN-ReLU-conv 3×3 twice, added to the block's input (Fig. 4e of the paper).

    ``dropout`` between the two convolutions turns it into the Wide ResNet block. Where
    the shape changes, a strided 1×1 conv projects the *pre-activated* input for the
    shortcut, so the shortcut still never meets a ReLU of its own.
    """

    expansion = 1

    def __init__(self, in_ch: int, planes: int, stride: int = 1, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_ch)
        self.act1 = nn.ReLU()
        self.conv1 = conv3x3(in_ch, planes, stride)
        self.norm2 = nn.BatchNorm2d(planes)
        self.act2 = nn.ReLU()
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.conv2 = conv3x3(planes, planes)
        self.shortcut = (
            nn.Conv2d(in_ch, planes, 1, stride=stride, bias=False) if stride != 1 or in_ch != planes else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.act1(self.norm1(x))
        shortcut = x if self.shortcut is None else self.shortcut(pre)
        out = self.conv1(pre)
        out = self.conv2(self.dropout(self.act2(self.norm2(out))))
        return out + shortcut


class PreActBottleneck(nn.Module):
    """BN-ReLU-conv 1×1 (reduce), BN-ReLU-conv 3×3 (strided), BN-ReLU-conv 1×1 (expand
    ×4), added to the input; the projection shortcut, where needed, reads the
    pre-activated input as in :class:`PreActBasicBlock`."""

    expansion = 4

    def __init__(self, in_ch: int, planes: int, stride: int = 1):
        super().__init__()
        out_ch = planes * self.expansion
        self.norm1 = nn.BatchNorm2d(in_ch)
        self.act1 = nn.ReLU()
        self.conv1 = nn.Conv2d(in_ch, planes, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(planes)
        self.act2 = nn.ReLU()
        self.conv2 = conv3x3(planes, planes, stride)
        self.norm3 = nn.BatchNorm2d(planes)
        self.act3 = nn.ReLU()
        self.conv3 = nn.Conv2d(planes, out_ch, 1, bias=False)
        self.shortcut = (
            nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False) if stride != 1 or in_ch != out_ch else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.act1(self.norm1(x))
        shortcut = x if self.shortcut is None else self.shortcut(pre)
        out = self.conv1(pre)
        out = self.conv2(self.act2(self.norm2(out)))
        out = self.conv3(self.act3(self.norm3(out)))
        return out + shortcut


class PreActResNet(nn.Module):
    """Stem, pre-activation stages ``layer1``…, then the one BN-ReLU that the last block
    leaves out, global pooling and a linear classifier.

    The ImageNet stem is a 7×7/2 conv and a 3×3/2 max pool with no BN-ReLU of its own,
    since the first block pre-activates its input; ``cifar_stem`` uses a single 3×3 conv.
    ``stem_norm`` adds a BN-ReLU after the 7×7 conv (``bn1``, ``relu1``), as the ImageNet
    code of fb.resnet.torch and pytorchcv build it, the first block still pre-activating.
    ``widths`` are the ``planes`` of each stage (outputs are ``planes × expansion``).
    """

    def __init__(
        self,
        block_type: type[PreActBasicBlock] | type[PreActBottleneck],
        layers: tuple[int, ...],
        widths: tuple[int, ...] = (64, 128, 256, 512),
        stem_width: int = 64,
        cifar_stem: bool = False,
        num_classes: int = 1000,
        stem_norm: bool = False,
        **block_kwargs,
    ):
        super().__init__()
        self.stem_norm = stem_norm
        if cifar_stem:
            self.conv1 = conv3x3(3, stem_width)
            self.maxpool = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(3, stem_width, 7, stride=2, padding=3, bias=False)
        if stem_norm:
            self.bn1 = nn.BatchNorm2d(stem_width)
            self.relu1 = nn.ReLU()
        if not cifar_stem:
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        in_ch = stem_width
        self.stage_names = tuple(f"layer{i + 1}" for i in range(len(layers)))
        for i, (planes, blocks) in enumerate(zip(widths, layers)):
            stage = [block_type(in_ch, planes, 1 if i == 0 else 2, **block_kwargs)]
            in_ch = planes * block_type.expansion
            stage += [block_type(in_ch, planes, **block_kwargs) for _ in range(1, blocks)]
            self.add_module(self.stage_names[i], nn.Sequential(*stage))
        self.norm = nn.BatchNorm2d(in_ch)
        self.act = nn.ReLU()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_ch, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        if self.stem_norm:
            x = self.relu1(self.bn1(x))
        x = self.maxpool(x)
        for name in self.stage_names:
            x = getattr(self, name)(x)
        x = self.avgpool(self.act(self.norm(x)))
        return self.fc(torch.flatten(x, 1))


def preact_stages(
    widths: tuple[int, ...], expansion: int, stem_width: int = 64, cifar_stem: bool = False
) -> list[tuple[str, int, int]]:
    """The stem (ImageNet), every stage but the last, and the final BN-ReLU."""
    first = 1 if cifar_stem else 4
    stages = [] if cifar_stem else [("conv1", stem_width, 2)]
    stages += [(f"layer{i + 1}", w * expansion, first * 2**i) for i, w in enumerate(widths[:-1])]
    return stages + [("act", widths[-1] * expansion, first * 2 ** (len(widths) - 1))]


def build_preact_resnet(num_classes: int, **kwargs) -> PreActResNet:
    return PreActResNet(num_classes=num_classes, **kwargs)


# depth: (block, blocks per stage, reference count). The paper gives no ImageNet parameter
# counts; a pre-activation net has exactly the convolutions and classifier of the
# post-activation ResNet of the same depth (only BatchNorms move), so the reference is
# that net: torchvision's resnet18–152 (weights metadata) and, for 200 layers, the same
# ResNet built with [3, 24, 36, 3] bottlenecks (fb.resnet.torch's ResNet-200).
_IMAGENET = {
    18: (PreActBasicBlock, (2, 2, 2, 2), 11_689_512, "torchvision resnet18"),
    34: (PreActBasicBlock, (3, 4, 6, 3), 21_797_672, "torchvision resnet34"),
    50: (PreActBottleneck, (3, 4, 6, 3), 25_557_032, "torchvision resnet50"),
    101: (PreActBottleneck, (3, 4, 23, 3), 44_549_160, "torchvision resnet101"),
    152: (PreActBottleneck, (3, 8, 36, 3), 60_192_808, "torchvision resnet152"),
    200: (PreActBottleneck, (3, 24, 36, 3), 64_673_832, "ResNet-200 (torchvision's ResNet class, [3, 24, 36, 3])"),
}
for _depth, (_block, _layers, _params, _source) in _IMAGENET.items():
    register_model(
        f"preact_resnet{_depth}", family=PREACT_RESNET, variant=f"Pre-activation ResNet-{_depth}",
        paper_params=_params, params_source=f"{_source}: same convolutions, only the BatchNorms move",
        stages=preact_stages((64, 128, 256, 512), _block.expansion), block="layer1.0",
        block_type=_block, layers=_layers,
    )(build_preact_resnet)

# The paper's CIFAR nets (Table 3): bottleneck blocks, 16/32/64 planes, depth 9n + 2.
for _depth, _params in {164: 1_700_000, 1001: 10_200_000}.items():
    register_model(
        f"preact_resnet{_depth}_cifar", family=PREACT_RESNET, variant=f"Pre-activation ResNet-{_depth} (CIFAR)",
        input_size=(3, 32, 32), num_classes=10, small_input=True, paper_params=_params,
        params_source="He et al. 2016, Table 3 (weights of the convolutions and the classifier, BatchNorm aside)",
        stages=preact_stages((16, 32, 64), 4, 16, cifar_stem=True), block="layer1.0",
        notes=f"{(_depth - 2) // 9} bottleneck blocks per stage at 32, 16 and 8 pixels.",
        block_type=PreActBottleneck, layers=((_depth - 2) // 9,) * 3, widths=(16, 32, 64), stem_width=16,
        cifar_stem=True,
    )(build_preact_resnet)


# Trained weights: pytorchcv's PreResNets are ours parameter for parameter (stride on the
# 3×3 in the "b" bottleneck nets), so they map by order. Its ImageNet nets put a BN-ReLU
# after the stem conv (as fb.resnet.torch's preresnet.lua, with which the paper's ImageNet
# nets were trained), which ``stem_norm=True`` builds.
_RELEASES = "https://github.com/osmr/imgclsmob/releases/download"
# model: (pytorchcv name, release, file error, sha1, top-1 error, top-5 error, top-1 source)
_IMAGENET_WEIGHTS = {
    "preact_resnet18": ("preresnet18", "v0.0.140", "0972", "5651bc2dbb200382822a6b64375d240f747cc726", 28.43, 9.72),
    "preact_resnet50": ("preresnet50b", "v0.0.307", "0655", "8b60378ee3aed878d27a2b4a9ddc596a812c7649", 22.51, 6.55),
    "preact_resnet200": ("preresnet200b", "v0.0.529", "0468", "f82215f3a5616098e8172a85bb42071f1823a27d", 19.07, 4.68),
}
for _model, (_name, _release, _fe, _sha1, _err1, _err5) in _IMAGENET_WEIGHTS.items():
    register_weights(
        WeightEntry(
            model=_model, source="pytorchcv", source_model=_name, tag="in1k", dataset="ImageNet-1k", num_classes=1000,
            preprocess=Preprocess.imagenet(224, 0.875, "bilinear"),
            url=f"{_RELEASES}/{_release}/{_name}-{_fe}-{_sha1[:8]}.pth.zip", checksum=f"sha1:{_sha1}",
            top1=round(100 - _err1, 2), top5=round(100 - _err5, 2),
            metric_source=f"pytorchcv README (top-1 error {_err1}, top-5 error {_err5})", license="MIT",
            build={"stem_norm": True}, convert=(by_order(_model, stem_norm=True),),
            notes="pytorchcv's PreResNet with a BN-ReLU after the 7×7 stem conv (fb.resnet.torch's ImageNet "
            "preresnet.lua, which the paper's ImageNet nets were trained with, has it too): built with "
            "stem_norm=True, otherwise ours, so it maps by order."
            + (" pytorchcv's plain preresnet50 strides the first 1×1, which this network does not build; "
               "the \"b\" net strides the 3×3 as ours." if _name == "preresnet50b" else ""),
        ),
    )
# CIFAR-10 (top-1 errors from pytorchcv's metainfo / README).
for _model, (_name, _release, _fe, _sha1) in {
    "preact_resnet164_cifar": ("preresnet164bn_cifar10", "v0.0.196", "0364", "429012d412e82df7961fa071f97c938530e1b005"),
    "preact_resnet1001_cifar": ("preresnet1001_cifar10", "v0.0.209", "0265", "9fedfe5fd643e7355f1062a6db68da310c8962be"),
}.items():
    register_weights(
        WeightEntry(
            model=_model, source="pytorchcv", source_model=_name, tag="cifar10", dataset="CIFAR-10", num_classes=10,
            preprocess=Preprocess((32, 32), 32, CIFAR_MEAN, CIFAR_STD),
            url=f"{_RELEASES}/{_release}/{_name}-{_fe}-{_sha1[:8]}.pth.zip", checksum=f"sha1:{_sha1}",
            top1=round(100 - int(_fe) / 100, 2), metric_source=f"pytorchcv metainfo (top-1 error {int(_fe) / 100})",
            license="MIT", convert=(by_order(_model),),
            notes="pytorchcv's CIFAR PreResNet is the paper's net parameter for parameter, so it maps by order.",
        ),
    )
