"""BN-Inception ("Inception-v2") — "Batch Normalization: Accelerating Deep Network Training
by Reducing Internal Covariate Shift", Ioffe and Szegedy, 2015 (arXiv 1502.03167).

Every convolution's output is normalised over the mini-batch and then rescaled by a learned
scale and shift, so each layer sees inputs with a stable distribution; that allows far
higher learning rates and drops the need for dropout and local response normalisation.
The network of the paper's appendix (Figure 5) is GoogLeNet with BatchNorm, each 5×5
replaced by two 3×3 convolutions, and grid reductions done inside Inception modules.

The name "Inception-v2" is ambiguous: the Inception-v3 paper uses it for an intermediate
design of its own. Here it means the BatchNorm paper's network, as in TF-slim.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from classifier.layers import BasicConv2d, Concat
from classifier.models.googlenet import imagenet_stem, small_stem
from classifier.registry import Family, register_model
from classifier.weights.convert import by_order
from classifier.weights.entries import StateDict, WeightEntry, register_weights
from classifier.weights.preprocess import IMAGENET_MEAN, IMAGENET_STD, Preprocess

BN_INCEPTION = Family(
    name="BN-Inception",
    year=2015,
    paper="Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift",
    arxiv="1502.03167",
    authors="Sergey Ioffe, Christian Szegedy",
    ideas=(
        "BatchNorm standardises each channel over the mini-batch, then applies a learned scale and shift.",
        "Stable layer inputs allow much larger learning rates: the same accuracy in 14 times fewer steps.",
        "Dropout and local response normalisation become unnecessary; BatchNorm also regularises.",
        "In the Inception modules each 5×5 convolution becomes two stacked 3×3 ones.",
    ),
)

# The Caffe reference (and its PyTorch ports) normalise with eps = 1e-5.
Conv = partial(BasicConv2d, bn_eps=1e-5)


class BNInceptionModule(Concat):
    """1×1 | 1×1→3×3 | 1×1→3×3→3×3 | pool→1×1, as in GoogLeNet but with the 5×5 path
    factorised into two 3×3. A reduction module (``stride=2``) drops the 1×1 path, strides
    the last conv of the two 3×3 paths and passes a stride-2 max pool through unprojected,
    so the grid halves while the channels grow."""

    def __init__(
        self,
        in_ch: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        dbl_red: int,
        dbl: int,
        pool: str,
        pool_proj: int,
        stride: int = 1,
    ):
        branches: dict[str, nn.Module] = {}
        if stride == 1:
            branches["branch_1x1"] = Conv(in_ch, ch1x1, kernel_size=1)
        branches["branch_3x3"] = nn.Sequential(
            Conv(in_ch, ch3x3red, kernel_size=1),
            Conv(ch3x3red, ch3x3, kernel_size=3, stride=stride, padding=1),
        )
        branches["branch_3x3dbl"] = nn.Sequential(
            Conv(in_ch, dbl_red, kernel_size=1),
            Conv(dbl_red, dbl, kernel_size=3, padding=1),
            Conv(dbl, dbl, kernel_size=3, stride=stride, padding=1),
        )
        if stride == 1:
            pooling = nn.MaxPool2d(3, 1, padding=1) if pool == "max" else nn.AvgPool2d(3, 1, padding=1)
        else:
            # The reference model's reduction pool: 3×3/2 with no padding in Caffe's ceil
            # mode, whose last window hangs one pixel off the bottom-right edge; padding
            # that edge with -inf gives the same values at even grid sizes (28 → 14 → 7)
            # and keeps the pool aligned with the stride-2 convs at odd ones.
            pooling = nn.Sequential(nn.ConstantPad2d((0, 1, 0, 1), float("-inf")), nn.MaxPool2d(3, 2, ceil_mode=True))
        if pool_proj:
            pooling = nn.Sequential(pooling, Conv(in_ch, pool_proj, kernel_size=1))
        branches["branch_pool"] = pooling
        super().__init__(**branches)


class BNInception(nn.Module):
    """Stem, then ten modules in three grids (Figure 5): 3a–3c at 28×28 with 3c reducing,
    4a–4e at 14×14 with 4e reducing, 5a–5b at 7×7; global average pooling and a linear
    layer, no dropout. ``stem`` is a list of (name, module) pairs run in order."""

    def __init__(self, stem: list[tuple[str, nn.Module]], num_classes: int = 1000):
        super().__init__()
        for name, module in stem:
            self.add_module(name, module)
        self.stem_names = tuple(name for name, _ in stem)
        m = BNInceptionModule
        # Figure 5: in, #1×1, #3×3 reduce, #3×3, double #3×3 reduce, double #3×3, pool, proj.
        self.inception3a = m(192, 64, 64, 64, 64, 96, "avg", 32)
        self.inception3b = m(256, 64, 64, 96, 64, 96, "avg", 64)
        self.inception3c = m(320, 0, 128, 160, 64, 96, "max", 0, stride=2)
        self.inception4a = m(576, 224, 64, 96, 96, 128, "avg", 128)
        self.inception4b = m(576, 192, 96, 128, 96, 128, "avg", 128)
        self.inception4c = m(576, 160, 128, 160, 128, 160, "avg", 128)
        self.inception4d = m(608, 96, 128, 192, 160, 192, "avg", 128)
        self.inception4e = m(608, 0, 128, 192, 192, 256, "max", 0, stride=2)
        self.inception5a = m(1056, 352, 192, 320, 160, 224, "avg", 128)
        self.inception5b = m(1024, 352, 192, 320, 192, 224, "max", 128)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.stem_names:
            x = getattr(self, name)(x)
        x = self.inception3c(self.inception3b(self.inception3a(x)))
        x = self.inception4c(self.inception4b(self.inception4a(x)))
        x = self.inception4e(self.inception4d(x))
        x = self.inception5b(self.inception5a(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


@register_model(
    "inception_v2",
    family=BN_INCEPTION,
    variant="BN-Inception (Figure 5 of the paper)",
    # The PyTorch port of the Caffe reference model (Cadene's pretrainedmodels
    # "bninception") has 11,295,240 parameters; its convs carry a bias before the
    # BatchNorm, which is redundant and left out here (10,016 fewer). The paper's text
    # quotes 13.6 M for its network, which no released implementation reproduces.
    paper_params=11_295_240,
    params_source="Cadene pretrainedmodels bninception (Caffe reference port), conv biases included",
    stages=[
        ("conv1", 64, 2),
        ("conv3", 192, 4),
        ("inception3b", 320, 8),
        ("inception4d", 608, 16),
        ("inception5b", 1024, 32),
    ],
    block="inception3a",
    notes=(
        "The two reduction modules' max pools follow the reference model (3×3/2, no padding, ceil mode), "
        "so its trained weights load; its conv biases are folded into the BatchNorm means."
    ),
)
def inception_v2(num_classes: int) -> BNInception:
    """GoogLeNet's stem without its local response normalisation, then Figure 5's modules."""
    return BNInception(imagenet_stem(Conv, lrn=False), num_classes)


@register_model(
    "inception_v2_cifar",
    family=BN_INCEPTION,
    variant="BN-Inception for 32×32 inputs (stride-2 stem)",
    input_size=(3, 32, 32),
    num_classes=10,
    stages=[("conv1", 64, 1), ("inception3b", 320, 2), ("inception4d", 608, 4), ("inception5b", 1024, 8)],
    small_input=True,
    block="inception3a",
    notes="The paper has no CIFAR net: the stem downsamples by 2 instead of 8, as in googlenet_cifar.",
)
def inception_v2_cifar(num_classes: int) -> BNInception:
    return BNInception(small_stem(Conv), num_classes)


def fold_conv_biases(state: StateDict) -> StateDict:
    """A conv bias followed by BatchNorm only shifts the normalised mean: fold each
    ``….conv.bias`` into its ``….bn.running_mean`` (mean − bias) and drop it, which gives
    exactly the same outputs from a network without conv biases."""
    out = dict(state)
    for key in [k for k in state if k.endswith(".conv.bias")]:
        mean = key[: -len("conv.bias")] + "bn.running_mean"
        if mean in out:
            out[mean] = out[mean] - out.pop(key)
    return out


fold_conv_biases.__name__ = "fold_conv_biases"

register_weights(
    WeightEntry(
        model="inception_v2",
        source="pytorchcv",
        source_model="bninception",
        tag="in1k",
        dataset="ImageNet-1k",
        num_classes=1000,
        preprocess=Preprocess.imagenet(224, 0.875, "bilinear", IMAGENET_MEAN, IMAGENET_STD),
        url="https://github.com/osmr/imgclsmob/releases/download/v0.0.405/bninception-0774-d79ba5f5.pth.zip",
        checksum="sha1:d79ba5f573ba2da5fea5e4c9a7f67ddd526e234b",
        top1=74.63,
        top5=92.26,
        metric_source="pytorchcv README (via research notes); top-5 from model_metainfos.csv",
        license="MIT",
        convert=(fold_conv_biases, by_order("inception_v2")),
        notes=(
            "Trained by pytorchcv (Gluon, converted); its convs carry biases ahead of BatchNorm, folded "
            "into the BN running means, then mapped by order (same layout otherwise)."
        ),
    ),
)
