"""Highway networks — "Highway Networks" (arXiv 1505.00387) and "Training Very Deep
Networks" (arXiv 1507.06228), Srivastava, Greff and Schmidhuber, 2015.

A highway layer computes a candidate H(x) and a transform gate T(x) in (0, 1), and outputs
T·H(x) + (1 − T)·x: where the gate is shut the input is carried through unchanged, as in an
LSTM cell. Starting the gate's bias negative makes every layer nearly the identity at
initialisation, so gradients cross hundreds of layers and plain SGD trains them.
ResNet's shortcut is this design with the gates fixed open on both paths.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from classifier.registry import Family, register_model

HIGHWAY = Family(
    name="Highway Network",
    year=2015,
    paper="Training Very Deep Networks",
    arxiv="1507.06228",
    authors="Rupesh Kumar Srivastava, Klaus Greff, Jürgen Schmidhuber",
    ideas=(
        "Each layer mixes a transformed signal H(x) and its unchanged input x with a learned gate T(x).",
        "The output T·H(x) + (1 − T)·x lets information cross many layers untouched, like an LSTM's cell.",
        "A negative initial gate bias starts every layer close to the identity, so 100-layer nets train with SGD.",
        "Residual networks keep the idea with the gate removed.",
    ),
)


class Highway(nn.Module):
    """``y = T·H + (1 − T)·x`` with ``H = relu(transform(x))`` and
    ``T = sigmoid(gate(x))``; ``transform`` and ``gate`` are two layers of the same shape
    (3×3 convs or linear layers), so input and output widths are equal. The gate's bias
    starts at ``gate_bias``: negative values bias the layer towards carrying its input
    (the paper suggests −1 to −3; the authors' CIFAR nets use −2)."""

    def __init__(self, transform: nn.Module, gate: nn.Module, gate_bias: float = -2.0):
        super().__init__()
        self.transform = transform
        self.relu = nn.ReLU()
        self.gate = gate
        self.sigmoid = nn.Sigmoid()
        nn.init.constant_(self.gate.bias, gate_bias)

    @classmethod
    def conv(cls, channels: int, gate_bias: float = -2.0) -> Highway:
        return cls(nn.Conv2d(channels, channels, 3, padding=1), nn.Conv2d(channels, channels, 3, padding=1), gate_bias)

    @classmethod
    def linear(cls, width: int, gate_bias: float = -2.0) -> Highway:
        return cls(nn.Linear(width, width), nn.Linear(width, width), gate_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu(self.transform(x))
        t = self.sigmoid(self.gate(x))
        return x + t * (h - x)


class HighwayConvNet(nn.Module):
    """The authors' 19-layer CIFAR net ("Highway B", the Fitnet B layout): three stages of a
    plain 3×3 conv + ReLU that sets the width, followed by highway conv layers; 2×2 max
    pooling and 20% dropout between stages and on the input; a 1×1 conv to 100 channels,
    global average pooling, dropout and a linear classifier. No BatchNorm (2015)."""

    def __init__(
        self,
        num_classes: int = 10,
        widths: tuple[int, ...] = (32, 80, 128),
        depths: tuple[int, ...] = (4, 5, 5),
        head_channels: int = 100,
        gate_bias: float = -2.0,
        dropout: float = 0.2,
    ):
        super().__init__()
        self.input_dropout = nn.Dropout(dropout)
        prev = 3
        for i, (width, depth) in enumerate(zip(widths, depths), start=1):
            layers: OrderedDict[str, nn.Module] = OrderedDict()
            if i > 1:
                layers["pool"] = nn.MaxPool2d(2)
                layers["dropout"] = nn.Dropout(dropout)
            layers["conv"] = nn.Conv2d(prev, width, 3, padding=1)
            layers["relu"] = nn.ReLU()
            for j in range(1, depth + 1):
                layers[f"highway{j}"] = Highway.conv(width, gate_bias)
            self.add_module(f"stage{i}", nn.Sequential(layers))
            prev = width
        self.num_stages = len(widths)
        self.head_conv = nn.Conv2d(prev, head_channels, 1)
        self.head_relu = nn.ReLU()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(head_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_dropout(x)
        for i in range(1, self.num_stages + 1):
            x = getattr(self, f"stage{i}")(x)
        x = self.avgpool(self.head_relu(self.head_conv(x)))
        return self.fc(self.dropout(torch.flatten(x, 1)))


class HighwayMLP(nn.Module):
    """The fully connected form of the first paper's MNIST experiments: a plain linear
    layer + ReLU maps the flattened image to ``width`` units, ``depth`` highway layers
    follow, and a linear layer gives the class scores."""

    def __init__(
        self, in_features: int, num_classes: int = 10, width: int = 50, depth: int = 9, gate_bias: float = -2.0
    ):
        super().__init__()
        self.flatten = nn.Flatten()
        self.input = nn.Linear(in_features, width)
        self.relu = nn.ReLU()
        self.layers = nn.Sequential(*(Highway.linear(width, gate_bias) for _ in range(depth)))
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.layers(self.relu(self.input(self.flatten(x)))))


@register_model(
    "highway19_cifar",
    family=HIGHWAY,
    variant="19-layer convolutional highway net for CIFAR-10 (Highway B)",
    input_size=(3, 32, 32),
    num_classes=10,
    # Table 1 of arXiv 1507.06228 prints "2.3M" for the 19-layer Highway B on CIFAR-10.
    paper_params=2_300_000,
    params_source="Table 1 of arXiv 1507.06228 (printed as 2.3M); layout from the authors' Caffe release",
    stages=[("stage1", 32, 1), ("stage2", 80, 2), ("stage3", 128, 4)],
    small_input=True,
    block="stage1.highway1",
    notes="Layout of examples/highways/cifar10-19layers in the authors' repository flukeskywalker/highway-networks.",
)
def highway19_cifar(num_classes: int, gate_bias: float = -2.0) -> HighwayConvNet:
    return HighwayConvNet(num_classes, gate_bias=gate_bias)


@register_model(
    "highway_fc10",
    family=HIGHWAY,
    variant="10-layer fully connected highway net for flattened 28×28 images (MNIST)",
    input_size=(1, 28, 28),
    num_classes=10,
    block="layers.0",
    notes="One plain layer and nine highway layers of 50 units, as in the depth-10 MNIST nets of arXiv 1505.00387.",
)
def highway_fc10(num_classes: int, width: int = 50, depth: int = 9, gate_bias: float = -2.0) -> HighwayMLP:
    return HighwayMLP(28 * 28, num_classes, width=width, depth=depth, gate_bias=gate_bias)
