"""NIN — "Network In Network", Lin, Chen and Yan, 2013 (arXiv 1312.4400).

A conv layer is a linear filter followed by a non-linearity; NIN replaces it with a small
MLP slid over the image ("mlpconv"), which is a conv followed by 1×1 convs. The last
mlpconv outputs one map per class and global average pooling turns each map into a
score, with no fully connected layers to overfit.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from classifier.models.init import he_uniform_init
from classifier.registry import Family, register_model
from classifier.weights.convert import by_order
from classifier.weights.entries import WeightEntry, register_weights
from classifier.weights.preprocess import CIFAR_MEAN, CIFAR_STD, Preprocess

NIN_FAMILY = Family(
    name="NIN",
    year=2013,
    paper="Network In Network",
    arxiv="1312.4400",
    authors="Min Lin, Qiang Chen, Shuicheng Yan",
    ideas=(
        "An mlpconv layer slides a small MLP over the input: a conv followed by 1×1 convs, each with a ReLU.",
        "1×1 convolutions mix channels at each position; later nets use them to cut widths cheaply.",
        "The last layer has one map per class and global average pooling turns each map into a score.",
        "Without fully connected layers there are far fewer parameters and less overfitting.",
    ),
)


class MLPConv(nn.Sequential):
    """One mlpconv layer: a k×k conv and two 1×1 convs (the MLP's hidden and output
    layers, "cccp" in the authors' Caffe files), each followed by its own ReLU."""

    def __init__(self, in_ch: int, widths: tuple[int, int, int], kernel_size: int, stride: int = 1, padding: int = 0):
        conv_w, hidden_w, out_w = widths
        super().__init__(
            OrderedDict(
                conv=nn.Conv2d(in_ch, conv_w, kernel_size, stride=stride, padding=padding),
                relu=nn.ReLU(),
                mlp1=nn.Conv2d(conv_w, hidden_w, 1),
                relu1=nn.ReLU(),
                mlp2=nn.Conv2d(hidden_w, out_w, 1),
                relu2=nn.ReLU(),
            )
        )


def _pool(kind: str) -> nn.Module:
    # 3×3 stride-2 pools rounding up, as Caffe does: 32 → 16 → 8 on CIFAR, 54 → 27 → 13 → 6 on ImageNet.
    # "max_pad"/"avg_pad": padded by one and rounding down instead (pytorchcv's trained CIFAR net).
    if kind.endswith("_pad"):
        return nn.MaxPool2d(3, stride=2, padding=1) if kind == "max_pad" else nn.AvgPool2d(3, stride=2, padding=1)
    return nn.MaxPool2d(3, stride=2, ceil_mode=True) if kind == "max" else nn.AvgPool2d(3, stride=2, ceil_mode=True)


class NIN(nn.Sequential):
    """mlpconv blocks separated by pools (and dropout where the authors put it), then
    global average pooling of the per-class maps.

    ``blocks`` holds ``(widths, kernel, stride, padding, after)`` per mlpconv, where
    ``after`` lists what follows it: ``"max"``/``"avg"`` pools and ``"drop"``. The last
    block's output width is replaced by ``num_classes``.
    """

    def __init__(self, blocks: list[tuple], num_classes: int, dropout: float = 0.5):
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        in_ch = 3
        for i, (widths, k, s, p, after) in enumerate(blocks, start=1):
            if i == len(blocks):
                widths = (*widths[:2], num_classes)
            layers[f"block{i}"] = MLPConv(in_ch, widths, k, s, p)
            in_ch = widths[-1]
            for kind in after:
                if kind == "drop":
                    layers[f"drop{i}"] = nn.Dropout(dropout)
                else:
                    layers[f"pool{i}"] = _pool(kind)
        layers["gap"] = nn.AdaptiveAvgPool2d(1)
        layers["flatten"] = nn.Flatten(1)
        super().__init__(layers)
        he_uniform_init(self)  # pytorchcv's, whose trained CIFAR-10 net loads here


# The authors' CIFAR-10 net (their released cuda-convnet/Caffe definition, the "NIN
# CIFAR10" entry of the Caffe Model Zoo): 192-160-96, 192-192-192, 192-192-10.
CIFAR_BLOCKS = [
    ((192, 160, 96), 5, 1, 2, ("max", "drop")),
    ((192, 192, 192), 5, 1, 2, ("avg", "drop")),
    ((192, 192, 10), 3, 1, 1, ()),
]
# pytorchcv's trained nin_cifar10: the same layers, its pools padded by one and rounding
# down (the authors' Caffe pools have no padding and round up; same 16 → 8 grid sizes).
PYTORCHCV_CIFAR_BLOCKS = [
    ((192, 160, 96), 5, 1, 2, ("max_pad", "drop")),
    ((192, 192, 192), 5, 1, 2, ("avg_pad", "drop")),
    ((192, 192, 10), 3, 1, 1, ()),
]
# The authors' ImageNet net ("NIN ImageNet" in the Caffe Model Zoo, nin_imagenet.prototxt):
# four mlpconv blocks, dropout before the last one.
IMAGENET_BLOCKS = [
    ((96, 96, 96), 11, 4, 0, ("max",)),
    ((256, 256, 256), 5, 1, 2, ("max",)),
    ((384, 384, 384), 3, 1, 1, ("max", "drop")),
    ((1024, 1024, 1000), 3, 1, 1, ()),
]


def build_nin(num_classes: int, blocks: list[tuple]) -> NIN:
    return NIN(blocks, num_classes)


register_model(
    "nin_cifar", family=NIN_FAMILY, variant="NIN (CIFAR-10)", input_size=(3, 32, 32), num_classes=10,
    small_input=True, paper_params=966_986,
    params_source="counted from the authors' CIFAR-10 net (Caffe Model Zoo 'NIN CIFAR10'); the paper prints none",
    stages=[("block1", 96, 1), ("block2", 192, 2), ("block3", 10, 4)], block="block1",
    notes=(
        "The paper's CIFAR-10 network: three mlpconv layers, dropout after the first two, global average pooling. "
        "The pools are the authors' Caffe ones (3×3/2, no padding, ceil mode); pytorchcv's trained nin_cifar10 "
        "pads its pools and rounds down, so its weights load with that as a builder option "
        "(blocks=PYTORCHCV_CIFAR_BLOCKS)."
    ),
    blocks=CIFAR_BLOCKS,
)(build_nin)
register_model(
    "nin", family=NIN_FAMILY, variant="NIN (ImageNet)", paper_params=7_595_176,
    params_source="counted from the authors' ImageNet net (Caffe Model Zoo 'NIN ImageNet', nin_imagenet.prototxt)",
    stages=[("block1", 96, 4), ("block2", 256, 8), ("block3", 384, 16), ("block4", 1000, 32)], block="block1",
    notes=(
        "The 4-block ImageNet net the authors released in the Caffe Model Zoo; the paper gives no ImageNet layout. "
        "No public trained weights load into this network: the authors' Caffe model was never ported to "
        "PyTorch and no library ships ImageNet NIN weights; train it on the Train page."
    ),
    blocks=IMAGENET_BLOCKS,
)(build_nin)


register_weights(
    WeightEntry(
        model="nin_cifar",
        source="pytorchcv",
        source_model="nin_cifar10",
        tag="cifar10",
        dataset="CIFAR-10",
        num_classes=10,
        preprocess=Preprocess((32, 32), 32, CIFAR_MEAN, CIFAR_STD),
        url="https://github.com/osmr/imgclsmob/releases/download/v0.0.175/nin_cifar10-0743-795b0824.pth.zip",
        checksum="sha1:795b082470b58c1aa94e2f861514b7914f6e2f58",
        top1=92.57,
        metric_source="pytorchcv model_metainfos.csv (error 7.43 %)",
        license="MIT",
        build={"blocks": PYTORCHCV_CIFAR_BLOCKS},
        convert=(by_order("nin_cifar", blocks=PYTORCHCV_CIFAR_BLOCKS),),
        notes=(
            "Trained by pytorchcv (Gluon, converted); its pools are padded and round down, unlike the authors' "
            "Caffe net, so it is built with blocks=PYTORCHCV_CIFAR_BLOCKS; mapped by order."
        ),
    ),
)
