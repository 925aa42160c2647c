"""AlexNet and ZFNet, which share one network class because ZFNet is AlexNet re-tuned.

AlexNet — "ImageNet Classification with Deep Convolutional Neural Networks", Krizhevsky,
Sutskever and Hinton, 2012 (NeurIPS; no arXiv id): five conv layers and three fully
connected ones trained on GPUs with ReLUs, dropout and data augmentation, winning
ILSVRC-2012 by a wide margin. The registered ``alexnet`` is torchvision's single-tower
version ("One weird trick...", Krizhevsky 2014, arXiv 1404.5997): no LRN, no groups.

ZFNet — "Visualizing and Understanding Convolutional Networks", Zeiler and Fergus, 2013
(arXiv 1311.2901): deconvnet projections of AlexNet's features showed dead and aliased
first-layer filters, so the first layer shrinks to 7×7 with stride 2 and the second conv
gets stride 2; layers 3–5 are dense instead of split across two GPUs.
"""

from __future__ import annotations

import torch
from torch import nn

from classifier.registry import Family, register_model
from classifier.weights.convert import by_order
from classifier.weights.entries import WeightEntry, register_weights
from classifier.weights.preprocess import IMAGENET_MEAN, IMAGENET_STD, Preprocess

ALEXNET = Family(
    name="AlexNet",
    year=2012,
    paper="ImageNet Classification with Deep Convolutional Neural Networks",
    arxiv=None,
    authors="Alex Krizhevsky, Ilya Sutskever, Geoffrey E. Hinton",
    ideas=(
        "ReLUs instead of saturating tanh units make a deep CNN train several times faster.",
        "Dropout in the two large fully connected layers and heavy data augmentation fight overfitting.",
        "Overlapping max pooling (3×3 windows, stride 2) and training split across two GPUs.",
        "It won ILSVRC-2012 by about ten points of top-5 error and brought CNNs back to vision.",
    ),
)

ZFNET = Family(
    name="ZFNet",
    year=2013,
    paper="Visualizing and Understanding Convolutional Networks",
    arxiv="1311.2901",
    authors="Matthew D. Zeiler, Rob Fergus",
    ideas=(
        "A deconvnet maps a unit's activation back to pixels, showing what each layer responds to.",
        "The pictures exposed AlexNet's first-layer problems: dead filters and aliasing from its stride of 4.",
        "Hence a 7×7 stride-2 first layer and a stride-2 second conv, which improved accuracy.",
        "Occlusion experiments check that the net looks at the object rather than its context.",
    ),
)


def make_features(layers: list[tuple], in_ch: int = 3) -> nn.Sequential:
    """The conv trunk from a list of ``("conv", out, kernel, stride, padding)`` (conv + its
    own ReLU), ``("pool", kernel, stride, padding)`` (max pool) and ``("lrn",)`` entries,
    numbered in order like torchvision's ``features``."""
    modules: list[nn.Module] = []
    for kind, *args in layers:
        if kind == "conv":
            out_ch, k, s, p = args
            modules += [nn.Conv2d(in_ch, out_ch, k, stride=s, padding=p), nn.ReLU()]
            in_ch = out_ch
        elif kind == "pool":
            k, s, p, *ceil = args  # an optional fourth value: ceil mode
            modules.append(nn.MaxPool2d(k, stride=s, padding=p, ceil_mode=bool(ceil and ceil[0])))
        elif kind == "lrn":
            # AlexNet's constants (n=5, α=1e-4, β=0.75, k=2); PyTorch divides α by n. An
            # optional value is PyTorch's α itself.
            alpha = args[0] if args else 5e-4
            modules.append(nn.LocalResponseNorm(5, alpha=alpha, beta=0.75, k=2.0))
        else:
            raise ValueError(f"unknown layer kind {kind!r}")
    return nn.Sequential(*modules)


class AlexNet(nn.Module):
    """A conv trunk, adaptive average pooling to ``pool_size``² and AlexNet's classifier
    (dropout, two ReLU fully connected layers, output). Names are torchvision's."""

    def __init__(
        self,
        layers: list[tuple],
        num_classes: int = 1000,
        pool_size: int = 6,
        hidden: int = 4096,
        dropout: float = 0.5,
    ):
        super().__init__()
        self.features = make_features(layers)
        channels = [args[0] for kind, *args in layers if kind == "conv"][-1]
        self.avgpool = nn.AdaptiveAvgPool2d((pool_size, pool_size))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(channels * pool_size * pool_size, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


# torchvision's AlexNet: 224 → 55 → 27 → 13 → 6.
ALEXNET_LAYERS = [
    ("conv", 64, 11, 4, 2), ("pool", 3, 2, 0),
    ("conv", 192, 5, 1, 2), ("pool", 3, 2, 0),
    ("conv", 384, 3, 1, 1), ("conv", 256, 3, 1, 1), ("conv", 256, 3, 1, 1), ("pool", 3, 2, 0),
]
# 32×32: a 3×3 stride-1 first conv instead of 11×11 stride 4; 32 → 15 → 7 → 3.
ALEXNET_CIFAR_LAYERS = [("conv", 64, 3, 1, 1)] + ALEXNET_LAYERS[1:]

# Fig. 3 of Zeiler & Fergus: 224 → 110 → 55 → 26 → 13 → 6; each of the first two
# layers is conv, ReLU, 3×3/2 max pool, then contrast normalisation across maps. The
# pools pad by one to give the figure's 55 and 13.
ZFNET_LAYERS = [
    ("conv", 96, 7, 2, 1), ("pool", 3, 2, 1), ("lrn",),
    ("conv", 256, 5, 2, 0), ("pool", 3, 2, 1), ("lrn",),
    ("conv", 384, 3, 1, 1), ("conv", 384, 3, 1, 1), ("conv", 256, 3, 1, 1), ("pool", 3, 2, 0),
]
# pytorchcv's trained ZFNet (the layer order of AlexNet's paper, not of Fig. 3): conv,
# ReLU, LRN (PyTorch's default α = 1e-4), then a 3×3/2 pool without padding in ceil mode.
# The convs keep their indices (0, 4, 8, 10, 12), so the weights' names do not change.
ZFNET_NORM_FIRST_LAYERS = [
    ("conv", 96, 7, 2, 1), ("lrn", 1e-4), ("pool", 3, 2, 0, True),
    ("conv", 256, 5, 2, 0), ("lrn", 1e-4), ("pool", 3, 2, 0, True),
    ("conv", 384, 3, 1, 1), ("conv", 384, 3, 1, 1), ("conv", 256, 3, 1, 1), ("pool", 3, 2, 0, True),
]
# 32×32: stride-1 3×3 first conv and stride-1 second conv; 32 → 16 → 8 → 3.
ZFNET_CIFAR_LAYERS = [("conv", 96, 3, 1, 1), *ZFNET_LAYERS[1:3], ("conv", 256, 5, 1, 2), *ZFNET_LAYERS[4:]]


def build_alexnet(num_classes: int, layers: list[tuple], **kwargs) -> AlexNet:
    return AlexNet(layers, num_classes=num_classes, **kwargs)


_CIFAR_HEAD = "The fully connected layers are narrowed to 1024 units for 10 classes."

register_model(
    "alexnet", family=ALEXNET, variant="AlexNet (torchvision, single tower)", torchvision="alexnet",
    paper_params=61_100_840,
    params_source="torchvision reference implementation; the 2012 paper quotes 60 million for its two-tower net",
    stages=[("features.1", 64, 4), ("features.4", 192, 8), ("features.11", 256, 16), ("features.12", 256, 32)],
    notes="torchvision's version from arXiv 1404.5997: 64/192 filters in the first two layers, no LRN, no groups.",
    layers=ALEXNET_LAYERS,
)(build_alexnet)
register_model(
    "alexnet_cifar", family=ALEXNET, variant="AlexNet (32×32)", input_size=(3, 32, 32), num_classes=10,
    small_input=True,
    stages=[("features.1", 64, 1), ("features.4", 192, 2), ("features.11", 256, 4), ("features.12", 256, 8)],
    notes=("Adapted stem: an 11×11 stride-4 first conv would leave a 32×32 image 8×8 after one layer, so it "
           "becomes 3×3 stride 1; the rest of the trunk is torchvision's. " + _CIFAR_HEAD),
    layers=ALEXNET_CIFAR_LAYERS, pool_size=3, hidden=1024,
)(build_alexnet)
register_model(
    "zfnet", family=ZFNET, variant="ZFNet", paper_params=62_357_608,
    params_source="computed from the layer sizes of Fig. 3 of Zeiler & Fergus 2013 (the paper prints no total)",
    stages=[("features.1", 96, 2), ("features.3", 96, 4), ("features.5", 256, 8), ("features.13", 256, 16),
            ("features.14", 256, 32)],
    notes=(
        "Contrast normalisation is AlexNet's LRN (the paper does not give its constants). Fig. 3 pools before "
        "normalising; pytorchcv's trained ZFNet normalises first (AlexNet's order) and pools in ceil mode, so "
        "its weights load with that layout as a builder option (layers=ZFNET_NORM_FIRST_LAYERS); the default "
        "stays the paper's."
    ),
    layers=ZFNET_LAYERS,
)(build_alexnet)
register_model(
    "zfnet_cifar", family=ZFNET, variant="ZFNet (32×32)", input_size=(3, 32, 32), num_classes=10,
    small_input=True,
    stages=[("features.1", 96, 1), ("features.5", 256, 2), ("features.13", 256, 4), ("features.14", 256, 8)],
    notes=("Adapted stem: the 7×7 stride-2 first conv becomes 3×3 stride 1 and the second conv loses its "
           "stride, so a 32×32 image is 8×8 at conv3–5 as 224×224 is 13×13 in the paper. " + _CIFAR_HEAD),
    layers=ZFNET_CIFAR_LAYERS, pool_size=3, hidden=1024,
)(build_alexnet)


register_weights(
    WeightEntry(
        model="zfnet",
        source="pytorchcv",
        source_model="zfnet",
        tag="in1k",
        dataset="ImageNet-1k",
        num_classes=1000,
        preprocess=Preprocess.imagenet(224, 0.875, "bilinear", IMAGENET_MEAN, IMAGENET_STD),
        url="https://github.com/osmr/imgclsmob/releases/download/v0.0.395/zfnet-1727-d010ddca.pth.zip",
        checksum="sha1:d010ddca1eb32a50a8cceb475c792f53e769b631",
        top1=60.21,
        top5=82.73,
        metric_source="pytorchcv README (via research notes); top-5 from model_metainfos.csv",
        license="MIT",
        build={"layers": ZFNET_NORM_FIRST_LAYERS},
        convert=(by_order("zfnet", layers=ZFNET_NORM_FIRST_LAYERS),),
        notes=(
            "Trained by pytorchcv (Gluon, converted) with LRN before each pool and ceil-mode pools, not Fig. 3's "
            "pool-then-normalise; built with that layout (layers=ZFNET_NORM_FIRST_LAYERS), mapped by order."
        ),
    ),
)
