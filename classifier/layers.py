"""Blocks that several families share.

Rules every block follows (see DESIGN.md): each activation is its own module used once
and never in place, so captum's Deconvolution/GuidedBackprop hooks see every ReLU and the
app can name every activation; and everything traces with ``torch.fx``.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

ActFactory = Callable[[], nn.Module]


class ConvBNAct(nn.Sequential):
    """Conv → BatchNorm → activation, named ``0``, ``1``, ``2`` like torchvision's
    ``Conv2dNormActivation`` so state dicts of MobileNet/EfficientNet-style nets load as is.

    ``act=None`` leaves the activation out (a linear projection); ``norm=False`` leaves
    out the BatchNorm and gives the conv a bias.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int | tuple[int, int] = 3,
        stride: int = 1,
        padding: int | tuple[int, int] | None = None,
        groups: int = 1,
        dilation: int = 1,
        act: ActFactory | None = nn.ReLU,
        norm: bool = True,
        bn_eps: float = 1e-5,
        bn_momentum: float = 0.1,
    ):
        if padding is None:
            k = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
            padding = tuple((ki - 1) // 2 * dilation for ki in k)
        layers: list[nn.Module] = [
            nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding, dilation=dilation, groups=groups, bias=not norm)
        ]
        if norm:
            layers.append(nn.BatchNorm2d(out_ch, eps=bn_eps, momentum=bn_momentum))
        if act is not None:
            layers.append(act())
        super().__init__(*layers)
        self.out_channels = out_ch


class SqueezeExcitation(nn.Module):
    """Squeeze-and-Excitation (Hu et al., 2017): global pooling, a bottleneck MLP of two
    1×1 convs and a sigmoid gate that re-weights channels. Names match torchvision's
    ``SqueezeExcitation`` (``fc1``, ``fc2``)."""

    def __init__(
        self,
        channels: int,
        squeeze_channels: int,
        act: ActFactory = nn.ReLU,
        gate: ActFactory = nn.Sigmoid,
    ):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze_channels, 1)
        self.activation = act()
        self.fc2 = nn.Conv2d(squeeze_channels, channels, 1)
        self.scale_activation = gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return x * scale


class DropPath(nn.Module):
    """Drop whole residual branches per sample while training (stochastic depth as used
    by EfficientNet and ViT): survivors are scaled by ``1/(1-p)`` so eval is the identity."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a scaled channel count to a multiple of ``divisor`` without losing more than
    10% (the rule MobileNet v2/v3 and EfficientNet use for width multipliers)."""
    min_value = min_value or divisor
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new
