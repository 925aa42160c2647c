"""Blocks that several families share.

Rules every block follows (see DESIGN.md): each activation is its own module used once
and never in place, so captum's Deconvolution/GuidedBackprop hooks see every ReLU and the
app can name every activation; and everything traces with ``torch.fx``.
"""

from __future__ import annotations

from collections import OrderedDict
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


class DepthwiseSeparableConv(nn.Sequential):
    """A k×k conv factored into a depthwise conv (one filter per input channel, spatial
    mixing only) and a 1×1 pointwise conv (channel mixing only), which costs roughly
    ``1/out_ch + 1/k²`` of the full conv (MobileNet v1, Xception, NAS cells).

    With ``depthwise_norm=True`` (MobileNet v1) both halves are ConvBNAct, named
    ``depthwise`` and ``pointwise``. With ``depthwise_norm=False`` (Xception/NASNet style)
    the depthwise half is a bare conv and only the pointwise half has BatchNorm; ``act``
    follows each BatchNorm and ``act=None`` leaves the result linear.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        act: ActFactory | None = nn.ReLU,
        depthwise_norm: bool = True,
        bn_eps: float = 1e-5,
        bn_momentum: float = 0.1,
    ):
        norm = dict(bn_eps=bn_eps, bn_momentum=bn_momentum)
        if depthwise_norm:
            depthwise: nn.Module = ConvBNAct(
                in_ch, in_ch, kernel_size, stride, groups=in_ch, dilation=dilation, act=act, **norm
            )
        else:
            padding = (kernel_size - 1) // 2 * dilation
            depthwise = nn.Conv2d(
                in_ch, in_ch, kernel_size, stride, padding, dilation=dilation, groups=in_ch, bias=False
            )
        pointwise = ConvBNAct(in_ch, out_ch, 1, act=act, **norm)
        super().__init__(OrderedDict(depthwise=depthwise, pointwise=pointwise))
        self.out_channels = out_ch


class InvertedResidual(nn.Module):
    """MobileNet v2's inverted residual, also the block of MobileNet v3 and EfficientNet
    (MBConv): a 1×1 conv expands to ``mid_ch`` channels, a k×k depthwise conv filters each
    of them, an optional gate (``se``, called with ``mid_ch``) re-weights them, and a
    linear 1×1 conv projects back to a narrow output. The projection has no activation
    because a ReLU on few channels destroys information; the shortcut joins the narrow
    ends when stride and width allow, through ``DropPath`` (stochastic depth) if asked.

    ``layout`` changes names only, so torchvision's state dicts load as they are:
    ``"v2"`` keeps the body in ``conv`` with the projection's conv and BatchNorm as two
    items; ``"v3"`` (MobileNet v3, EfficientNet) keeps it in ``block`` with the
    projection as one ConvBNAct.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        mid_ch: int,
        kernel_size: int = 3,
        stride: int = 1,
        act: ActFactory = nn.ReLU6,
        se: Callable[[int], nn.Module] | None = None,
        drop_path: float = 0.0,
        layout: str = "v3",
        bn_eps: float = 1e-5,
        bn_momentum: float = 0.1,
    ):
        super().__init__()
        norm = dict(bn_eps=bn_eps, bn_momentum=bn_momentum)
        layers: list[nn.Module] = []
        if mid_ch != in_ch:
            layers.append(ConvBNAct(in_ch, mid_ch, 1, act=act, **norm))
        layers.append(ConvBNAct(mid_ch, mid_ch, kernel_size, stride, groups=mid_ch, act=act, **norm))
        if se is not None:
            layers.append(se(mid_ch))
        project = ConvBNAct(mid_ch, out_ch, 1, act=None, **norm)
        if layout == "v2":
            layers.extend(project)
        elif layout == "v3":
            layers.append(project)
        else:
            raise ValueError(f"layout must be 'v2' or 'v3', not {layout!r}")
        self._body = "conv" if layout == "v2" else "block"
        self.add_module(self._body, nn.Sequential(*layers))
        self.use_res_connect = stride == 1 and in_ch == out_ch
        self.drop_path = DropPath(drop_path) if self.use_res_connect else None
        self.out_channels = out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = getattr(self, self._body)(x)
        if self.use_res_connect:
            out = self.drop_path(out) + x
        return out


class ChannelShuffle(nn.Module):
    """ShuffleNet's channel shuffle: view the channels as a (groups, C/groups) grid and
    transpose it, so each group of the next grouped conv sees channels from every group
    of the previous one. Written with ``unflatten``/``flatten`` so fx traces it without
    knowing the tensor's shape."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(1, (self.groups, -1)).transpose(1, 2).flatten(1, 2)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


class BasicConv2d(nn.Module):
    """Conv (no bias) → BatchNorm → ReLU with children named ``conv``, ``bn``, ``relu``:
    the naming of torchvision's GoogLeNet and Inception-v3 and of the ported Inception-v4
    nets, which ConvBNAct's ``0/1/2`` cannot load. ``bn_eps=1e-3`` is TensorFlow's value,
    which the ported Inception weights were trained with. Padding defaults to none
    ("valid"), as in those nets' stems."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int | tuple[int, int],
        stride: int = 1,
        padding: int | tuple[int, int] = 0,
        bn_eps: float = 1e-3,
    ):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(out_ch, eps=bn_eps)
        self.relu = nn.ReLU()
        self.out_channels = out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class Concat(nn.Module):
    """Parallel branches fed the same input, their outputs concatenated along channels:
    the shape of every Inception-style module. Branches keep the keyword names and order
    they are given, so a subclass can reproduce a reference implementation's names."""

    def __init__(self, **branches: nn.Module):
        super().__init__()
        for name, branch in branches.items():
            self.add_module(name, branch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.children()], 1)


class Renormalize(nn.Module):
    """Turn input normalised with ``mean``/``std`` into input normalised with
    ``new_mean``/``new_std``, one affine map per channel and no parameters (state dicts
    are unchanged). torchvision's GoogLeNet and Inception-v3 weights were ported from
    TensorFlow, which fed pixels scaled to [-1, 1]; this lets them take ImageNet-normalised
    images, as torchvision's ``transform_input=True`` does, with the same arithmetic."""

    def __init__(
        self,
        mean: tuple[float, ...] = (0.485, 0.456, 0.406),
        std: tuple[float, ...] = (0.229, 0.224, 0.225),
        new_mean: tuple[float, ...] = (0.5, 0.5, 0.5),
        new_std: tuple[float, ...] = (0.5, 0.5, 0.5),
    ):
        super().__init__()
        self.scale = tuple(s / ns for s, ns in zip(std, new_std))
        self.shift = tuple((m - nm) / ns for m, nm, ns in zip(mean, new_mean, new_std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = [x[:, i : i + 1] * s + b for i, (s, b) in enumerate(zip(self.scale, self.shift))]
        return torch.cat(channels, 1)

    def extra_repr(self) -> str:
        return f"scale={self.scale}, shift={self.shift}"


class NormActConv(nn.Sequential):
    """BatchNorm → activation → conv, children named ``norm``, ``act``, ``conv``: the
    pre-activation unit of ResNet v2, DenseNet, DPN and CliqueNet. Normalising and
    rectifying the *input* lets concatenated or summed features from many earlier layers
    be re-scaled for each consumer, which a post-activation conv cannot do."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int = 1,
        stride: int = 1,
        groups: int = 1,
        act: ActFactory = nn.ReLU,
        bn_eps: float = 1e-5,
    ):
        super().__init__(
            OrderedDict(
                norm=nn.BatchNorm2d(in_ch, eps=bn_eps),
                act=act(),
                conv=nn.Conv2d(in_ch, out_ch, kernel_size, stride, (kernel_size - 1) // 2, groups=groups, bias=False),
            )
        )
        self.out_channels = out_ch
