"""He-uniform initialisation, shared by NIN and SqueezeNet, which have no normalisation layers.

PyTorch's default for conv and linear layers (Kaiming-uniform with a = √5) draws a sixth
of the variance He et al. 2015 derive for ReLU nets. With BatchNorm that does not matter;
without it the signal shrinks at every layer, and a deep net starts with almost constant
outputs that its optimizer cannot move: SqueezeNet 1.1 (CIFAR stem) stayed at the loss of
a uniform guess, 2.305, for two epochs of its recipe on digits, and began to learn with
the initialisation below (measured here).
"""

from __future__ import annotations

from torch import nn


def he_uniform_init(model: nn.Module) -> None:
    """He-uniform kernels (fan-in, ReLU gain) and zero biases for every conv and linear
    layer: what torchvision's SqueezeNet and pytorchcv's NIN, SqueezeNet and AlexNet
    start from (their ``_init_params``/``__init__``)."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
