"""SENet — "Squeeze-and-Excitation Networks", Hu, Shen, Albanie, Sun and Wu, 2017
(arXiv 1709.01507).

A squeeze-and-excitation (SE) gate summarises each channel of a block's output by global
average pooling (squeeze), feeds the summary through a small bottleneck MLP ending in a
sigmoid (excitation), and multiplies each channel by its gate. It lets a block re-weight
its channels from global context at almost no cost, and drops into any existing block:
here it is added to the residual branch of ResNet, ResNeXt and the SENet-154 block.
"""

from __future__ import annotations

import torch
from torch import nn

from classifier.layers import ConvBNAct, SqueezeExcitation
from classifier.models.resnet import (
    BasicBlock,
    Bottleneck,
    CifarResNet,
    ResidualBlock,
    build_resnet,
    conv1x1,
    conv3x3,
    imagenet_stages,
    init_resnet_weights,
)
from classifier.registry import Family, register_model
from classifier.weights.convert import rename
from classifier.weights.entries import WeightEntry, register_weights
from classifier.weights.preprocess import Preprocess

SENET = Family(
    name="SENet",
    year=2017,
    paper="Squeeze-and-Excitation Networks",
    arxiv="1709.01507",
    authors="Jie Hu, Li Shen, Samuel Albanie, Gang Sun, Enhua Wu",
    ideas=(
        "An SE gate pools each channel to one number, runs a small MLP with a sigmoid and rescales the channels.",
        "It adds channel attention from global context to a ResNet or ResNeXt branch, which is otherwise unchanged.",
        "About 10% more weights and under 1% more compute; SENet-154 won ILSVRC 2017.",
    ),
)


class SEMixin:
    """Puts an SE gate (reduction ratio ``reduction``) at the end of a residual branch, so
    the block computes ``act(SE(branch(x)) + shortcut(x))``; everything else about the
    block is the base class's."""

    def __init__(self, inplanes: int, planes: int, *args, reduction: int = 16, **kwargs):
        super().__init__(inplanes, planes, *args, **kwargs)
        channels = planes * self.expansion
        self.se = SqueezeExcitation(channels, channels // reduction)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        return self.se(super().residual(x))


class SEBasicBlock(SEMixin, BasicBlock):
    """ResNet's basic block with an SE gate (the paper's CIFAR SE-ResNets)."""


class SEBottleneck(SEMixin, Bottleneck):
    """ResNet's (``groups=1``) or ResNeXt's (``groups>1``) bottleneck with an SE gate."""


class WideningBottleneck(ResidualBlock):
    """The bottleneck of SENet-154: 1×1 conv to ``2 × planes``, grouped 3×3 conv widening to
    ``4 × planes`` (64 groups), 1×1 conv to ``4 × planes``. The grouped conv is wider than
    ResNeXt's, which is where most of SENet-154's capacity sits."""

    expansion = 4

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None, groups: int = 64
    ):
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes * 2)
        self.bn1 = nn.BatchNorm2d(planes * 2)
        self.relu1 = nn.ReLU()
        self.conv2 = conv3x3(planes * 2, planes * 4, stride, groups)
        self.bn2 = nn.BatchNorm2d(planes * 4)
        self.relu2 = nn.ReLU()
        self.conv3 = conv1x1(planes * 4, planes * 4)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = downsample
        self.relu_out = nn.ReLU()

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.bn1(self.conv1(x)))
        x = self.relu2(self.bn2(self.conv2(x)))
        return self.bn3(self.conv3(x))


class SENet154Bottleneck(SEMixin, WideningBottleneck):
    """SENet-154's widening bottleneck with an SE gate."""


class SENet154(nn.Module):
    """SENet-154 (the ILSVRC 2017 entry): a stem of three 3×3 convs (the middle one keeps
    64 channels, the last gives 128), a 3×3/2 max pool, four stages of SE widening
    bottlenecks (3, 8, 36, 3 blocks), dropout 0.2 and a linear classifier. Where a stage
    halves the resolution, its shortcut projects with a strided 3×3 conv instead of 1×1."""

    def __init__(
        self,
        layers: tuple[int, int, int, int] = (3, 8, 36, 3),
        groups: int = 64,
        reduction: int = 16,
        dropout: float = 0.2,
        num_classes: int = 1000,
    ):
        super().__init__()
        self.stem = nn.Sequential(
            ConvBNAct(3, 64, 3, stride=2),
            ConvBNAct(64, 64, 3),
            ConvBNAct(64, 128, 3),
            nn.MaxPool2d(3, stride=2, ceil_mode=True),
        )
        inplanes = 128
        for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers)):
            stride = 1 if i == 0 else 2
            out = planes * SENet154Bottleneck.expansion
            k = 1 if i == 0 else 3
            downsample = nn.Sequential(nn.Conv2d(inplanes, out, k, stride, k // 2, bias=False), nn.BatchNorm2d(out))
            stage = [SENet154Bottleneck(inplanes, planes, stride, downsample, groups=groups, reduction=reduction)]
            stage += [SENet154Bottleneck(out, planes, groups=groups, reduction=reduction) for _ in range(1, blocks)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*stage))
            inplanes = out
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(inplanes, num_classes)
        init_resnet_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(self.dropout(x))


def build_senet154(num_classes: int, **kwargs) -> SENet154:
    return SENet154(num_classes=num_classes, **kwargs)


def build_se_cifar(num_classes: int, depth: int, reduction: int = 16) -> nn.Module:
    return CifarResNet(depth, num_classes=num_classes, block=SEBasicBlock, reduction=reduction)


# Parameter counts of Cadene's pretrainedmodels port of the authors' released Caffe
# models, the reference most PyTorch SENets are checked against.
_SOURCE = "Cadene's pretrainedmodels (port of the authors' released models)"
register_model(
    "se_resnet50", family=SENET, variant="SE-ResNet-50", paper_params=28_088_024, params_source=_SOURCE,
    stages=imagenet_stages(SEBottleneck.expansion), block="layer1.0",
    notes="torchvision layer names; the stride sits on the 3×3 conv, as in torchvision's ResNet-50. "
    "The authors' Caffe SE-ResNet-50 (timm legacy_seresnet50, pytorchcv seresnet50) strides the first 1×1 "
    "and so does not load; pytorchcv's seresnet50b has this layout.",
    block_type=SEBottleneck, layers=(3, 4, 6, 3), reduction=16,
)(build_resnet)
register_model(
    "se_resnext50_32x4d", family=SENET, variant="SE-ResNeXt-50 (32×4d)", paper_params=27_559_896,
    params_source=_SOURCE, stages=imagenet_stages(SEBottleneck.expansion), block="layer1.0",
    notes="torchvision's layout (padded 3×3/2 stem pool): the authors' Caffe weights (timm "
    "legacy_seresnext50_32x4d) pool unpadded in ceil mode and do not load; pytorchcv's and timm's own do.",
    block_type=SEBottleneck, layers=(3, 4, 6, 3), groups=32, width_per_group=4, reduction=16,
)(build_resnet)
register_model(
    "senet154", family=SENET, variant="SENet-154", paper_params=115_088_984, params_source=_SOURCE,
    stages=[("stem.2", 128, 2)] + imagenet_stages(SENet154Bottleneck.expansion), block="layer1.0",
    notes="The stem pool is the authors' Caffe ceil-mode 3×3/2 without padding, as in their released model "
    "(timm legacy_senet154); pytorchcv's senet154 pads that pool instead, so its weights do not fit this network.",
)(build_senet154)
register_model(
    "se_resnet110_cifar", family=SENET, variant="SE-ResNet-110 (CIFAR)", input_size=(3, 32, 32), num_classes=10,
    small_input=True, stages=[("layer1", 16, 1), ("layer2", 32, 2), ("layer3", 64, 4)], block="layer1.0",
    notes="He et al.'s CIFAR ResNet-110 with an SE gate (reduction 16) in every block, as in the paper's CIFAR table.",
    depth=110,
)(build_se_cifar)


# Trained weights. Ours follow torchvision's layout (stride on the 3×3, a padded 3×3/2 stem
# pool); SENet-154 keeps the authors' ceil-mode stem pool. The sources register the SE gate
# before the shortcut, so every mapping is by name: pytorchcv's stageS.unitU (1-based) →
# layerS.(U-1).
_PYTORCHCV_RULES = (
    (r"^features\.init_block\.conv\.conv\.", "conv1."),
    (r"^features\.init_block\.conv\.bn\.", "bn1."),
    *((rf"^features\.init_block\.conv{i}\.conv\.", f"stem.{i - 1}.0.") for i in (1, 2, 3)),
    *((rf"^features\.init_block\.conv{i}\.bn\.", f"stem.{i - 1}.1.") for i in (1, 2, 3)),
    *((rf"^features\.stage(\d)\.unit{u}\.", rf"layer\g<1>.{u - 1}.") for u in range(1, 37)),
    (r"\.body\.conv(\d)\.conv\.", r".conv\1."),
    (r"\.body\.conv(\d)\.bn\.", r".bn\1."),
    (r"\.se\.conv(\d)\.", r".se.fc\1."),
    (r"\.identity_conv\.conv\.", ".downsample.0."),
    (r"\.identity_conv\.bn\.", ".downsample.1."),
    (r"^output\.(fc\.)?", "fc."),
)
_TIMM_LEGACY_RULES = (
    *((rf"^layer0\.conv{i}\.", f"stem.{i - 1}.0.") for i in (1, 2, 3)),
    *((rf"^layer0\.bn{i}\.", f"stem.{i - 1}.1.") for i in (1, 2, 3)),
    (r"\.se_module\.", ".se."),
    (r"^last_linear\.", "fc."),
)


def _pytorchcv(model, name, release, err5_file, sha1, err1, err5, notes):
    return WeightEntry(
        model=model, source="pytorchcv", source_model=name, tag="in1k", dataset="ImageNet-1k", num_classes=1000,
        preprocess=Preprocess.imagenet(224, 0.875, "bilinear"),
        url=f"https://github.com/osmr/imgclsmob/releases/download/{release}/{name}-{err5_file}-{sha1[:8]}.pth.zip",
        checksum=f"sha1:{sha1}", top1=round(100 - err1, 2), top5=round(100 - err5, 2),
        metric_source=f"pytorchcv README (top-1 error {err1}, top-5 error {err5})", license="MIT",
        convert=(rename(*_PYTORCHCV_RULES),), notes=notes,
    )


register_weights(
    _pytorchcv(
        "se_resnet50", "seresnet50b", "v0.0.387", "0539", "459e6871e944d1c7102ee9c055ea428b8d9a168c", 20.79, 5.39,
        "pytorchcv's SE-ResNet-50b puts the stride on the 3×3 as ours (its plain seresnet50 follows the authors' "
        "Caffe layout, stride on the first 1×1, which this network does not build).",
    ),
    _pytorchcv(
        "se_resnext50_32x4d", "seresnext50_32x4d", "v0.0.505", "0451", "52029a7f6170873b2d50a7016fba053e98183f7b",
        18.94, 4.51, "pytorchcv's SE-ResNeXt-50 (32×4d) is ours block for block (stride on the grouped 3×3, padded "
        "stem pool).",
    ),
    WeightEntry(
        model="se_resnext50_32x4d", source="timm", source_model="seresnext50_32x4d", tag="racm_in1k",
        dataset="ImageNet-1k", num_classes=1000, preprocess=Preprocess.imagenet(224, 0.875, "bicubic"),
        hf_repo="timm/seresnext50_32x4d.racm_in1k", checksum=None, top1=None,
        metric_source="not recorded in the research notes", license="Apache-2.0",
        notes="timm's own SE-ResNeXt-50 has torchvision's layout and names, as ours. timm's legacy_seresnext50_32x4d "
        "(the authors' Caffe weights) is not offered: its stem pool is Caffe's unpadded ceil-mode 3×3/2, which this "
        "network does not build.",
    ),
    WeightEntry(
        model="senet154", source="timm", source_model="legacy_senet154", tag="in1k", dataset="ImageNet-1k",
        num_classes=1000, preprocess=Preprocess.imagenet(224, 0.875, "bilinear"),
        url="https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-weights/legacy_senet154-e9eb9fe6.pth",
        checksum="sha256:e9eb9fe6", top1=81.32, metric_source="timm results-imagenet.csv (via research notes)",
        license="Apache-2.0", convert=(rename(*_TIMM_LEGACY_RULES),),
        notes="The authors' released SENet-154 (Caffe, via Cadene and timm): our layout, ceil-mode stem pool included.",
    ),
)
