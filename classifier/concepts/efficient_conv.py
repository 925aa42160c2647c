"""Cheaper ways to mix channels and space.

A standard k×k convolution couples every input channel with every output channel at
every tap. Group convolution splits the channels into g independent groups (g times fewer
weights); depthwise-separable convolution (Xception, MobileNet) does space per channel
first (a depthwise k×k conv, g = C_in) and channels afterwards (a pointwise 1×1 conv).
Stacked group convs never let information cross groups; ShuffleNet's channel shuffle
interleaves the groups between them so it does.
"""

from __future__ import annotations

import torch
from torch import nn

from classifier.concepts.conv_arithmetic import ConvSpec


def variants(size: int, c_in: int, c_out: int, kernel: int, groups: int) -> dict[str, list[ConvSpec]]:
    """The layers each design uses for one c_in → c_out, k×k step at stride 1, same padding."""
    pad = kernel // 2
    return {
        "standard": [ConvSpec(size, c_in, c_out, kernel, padding=pad, bias=False)],
        f"group (g={groups})": [ConvSpec(size, c_in, c_out, kernel, padding=pad, groups=groups, bias=False)],
        "depthwise-separable": [
            ConvSpec(size, c_in, c_in, kernel, padding=pad, groups=c_in, bias=False),
            ConvSpec(size, c_in, c_out, 1, bias=False),
        ],
    }


def cost_table(size: int, c_in: int, c_out: int, kernel: int, groups: int) -> list[dict]:
    """Parameters and MACs of each design, and their ratio to the standard convolution."""
    rows = []
    for name, layers in variants(size, c_in, c_out, kernel, groups).items():
        rows.append({"design": name, "params": sum(l.params for l in layers), "macs": sum(l.macs for l in layers)})
    base = rows[0]
    for r in rows:
        r["params_ratio"] = r["params"] / base["params"]
        r["macs_ratio"] = r["macs"] / base["macs"]
    return rows


def build(spec: ConvSpec) -> nn.Conv2d:
    """The torch layer a spec describes (the tests count its weights and MACs)."""
    return nn.Conv2d(spec.in_channels, spec.out_channels, spec.kernel, spec.stride, spec.padding,
                     dilation=spec.dilation, groups=spec.groups, bias=spec.bias)


def shuffle_permutation(channels: int, groups: int) -> list[int]:
    """Which input channel lands at each output position after a channel shuffle:
    reshape to (groups, channels/groups), transpose, flatten."""
    if channels % groups:
        raise ValueError(f"channel shuffle needs groups ({groups}) to divide channels ({channels})")
    return torch.arange(channels).view(groups, channels // groups).t().reshape(-1).tolist()


def group_connectivity(channels: int, groups: int, shuffle: bool) -> list[list[int]]:
    """A channels×channels 0/1 matrix: can output channel i of two stacked group convs
    see input channel j? Without a shuffle it is block-diagonal; with one it is full."""
    per = channels // groups
    block = torch.zeros(channels, channels)
    for g in range(groups):
        block[g * per:(g + 1) * per, g * per:(g + 1) * per] = 1
    perm = torch.eye(channels)[shuffle_permutation(channels, groups)] if shuffle else torch.eye(channels)
    reach = block @ perm @ block
    return (reach > 0).int().tolist()
