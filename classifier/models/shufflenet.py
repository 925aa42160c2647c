"""ShuffleNet v1 and v2.

v1 — "ShuffleNet: An Extremely Efficient Convolutional Neural Network for Mobile Devices",
Zhang et al., 2017, arXiv 1707.01083. In a bottleneck with a depthwise 3×3, the 1×1
convs dominate the cost, so they are made grouped; a channel shuffle between them lets
information cross the groups, which grouped convs in a row would otherwise never do.

v2 — "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design", Ma et
al., 2018, arXiv 1807.11164. Multiply-adds do not predict speed; memory traffic and
parallelism do. So the unit splits the channels in two, leaves one half untouched, runs
the other through equal-width, ungrouped convs, concatenates and shuffles.
"""

from __future__ import annotations

import torch
from torch import nn

from classifier.layers import ChannelShuffle, ConvBNAct
from classifier.registry import Family, register_model
from classifier.weights.convert import by_order
from classifier.weights.entries import WeightEntry, register_weights
from classifier.weights.preprocess import Preprocess

SHUFFLENET_V1 = Family(
    name="ShuffleNet v1",
    year=2017,
    paper="ShuffleNet: An Extremely Efficient Convolutional Neural Network for Mobile Devices",
    arxiv="1707.01083",
    authors="Zhang, Zhou, Lin, Sun",
    ideas=(
        "Pointwise 1×1 convolutions, the bulk of the cost, become group convolutions.",
        "A channel shuffle after the first grouped 1×1 mixes information across groups.",
        "More groups allow wider layers for the same budget, which helps the smallest nets most.",
        "Downsampling units concatenate an average-pooled shortcut instead of adding it.",
    ),
)

SHUFFLENET_V2 = Family(
    name="ShuffleNet v2",
    year=2018,
    paper="ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design",
    arxiv="1807.11164",
    authors="Ma, Zhang, Zheng, Sun",
    ideas=(
        "Speed should be measured on the target device: FLOPs ignore memory access and parallelism.",
        "Four guidelines: equal in/out widths, few groups, few branches, few element-wise ops.",
        "Each unit splits the channels, transforms one half and concatenates it with the other.",
        "A channel shuffle after the concatenation mixes the two halves for the next unit.",
    ),
)


# ---------------------------------------------------------------------------- v1


class ShuffleUnitV1(nn.Module):
    """Grouped 1×1 → shuffle → depthwise 3×3 → grouped 1×1, joined to the input by
    addition (stride 1) or by concatenation with a 3×3 average pool (stride 2, which
    widens the output). The branch's first 1×1 is ungrouped when the input is the narrow
    24-channel stem (``first_groups=1``), as in the paper. Only that first 1×1 has a ReLU
    inside the branch; the depthwise conv and the last 1×1 stay linear, and a ReLU
    follows the join.
    """

    def __init__(self, in_ch: int, out_ch: int, groups: int, stride: int, first_groups: int | None = None):
        super().__init__()
        self.stride = stride
        branch_out = out_ch - in_ch if stride == 2 else out_ch
        mid = out_ch // 4
        self.compress = ConvBNAct(in_ch, mid, 1, groups=first_groups or groups)
        self.shuffle = ChannelShuffle(groups) if groups > 1 else nn.Identity()
        self.depthwise = ConvBNAct(mid, mid, 3, stride, groups=mid, act=None)
        self.expand = ConvBNAct(mid, branch_out, 1, groups=groups, act=None)
        self.shortcut = nn.AvgPool2d(3, 2, 1) if stride == 2 else nn.Identity()
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch = self.expand(self.depthwise(self.shuffle(self.compress(x))))
        shortcut = self.shortcut(x)
        out = torch.cat([shortcut, branch], 1) if self.stride == 2 else shortcut + branch
        return self.act(out)


# Output channels of stages 2–4 at width 1× for each group count (paper, Table 1).
V1_CHANNELS = {1: (144, 288, 576), 2: (200, 400, 800), 3: (240, 480, 960), 4: (272, 544, 1088), 8: (384, 768, 1536)}
REPEATS = (4, 8, 4)


class _ShuffleNetStem(nn.Module):
    """The part v1 and v2 share: a 3×3 stride-2 conv to 24 channels and a max pool.
    ``cifar_stem=True`` drops both reductions so 32×32 inputs end at 4×4."""

    def __init__(self, cifar_stem: bool):
        super().__init__()
        self.conv1 = ConvBNAct(3, 24, 3, 1 if cifar_stem else 2)
        self.maxpool = nn.Identity() if cifar_stem else nn.MaxPool2d(3, 2, 1)


class ShuffleNetV1(_ShuffleNetStem):
    """Stem, three stages of shuffle units (4, 8, 4; each opens with a stride-2 unit),
    global pooling and the classifier."""

    def __init__(self, groups: int = 3, num_classes: int = 1000, cifar_stem: bool = False):
        super().__init__(cifar_stem)
        in_ch = 24
        for i, (out_ch, n) in enumerate(zip(V1_CHANNELS[groups], REPEATS)):
            units = [ShuffleUnitV1(in_ch, out_ch, groups, 2, first_groups=1 if i == 0 else None)]
            units += [ShuffleUnitV1(out_ch, out_ch, groups, 1) for _ in range(n - 1)]
            self.add_module(f"stage{i + 2}", nn.Sequential(*units))
            in_ch = out_ch
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.fc = nn.Linear(in_ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage4(self.stage3(self.stage2(self.maxpool(self.conv1(x)))))
        return self.fc(self.flatten(self.avgpool(x)))


# Table 1's complexity (million multiply-adds at 224×224) for 1× width.
V1_TABLE1_MMACS = {1: 143, 2: 140, 3: 137, 4: 133, 8: 137}
# Parameter counts the authors publish for their reference models (megvii-model/
# ShuffleNet-Series, ShuffleNetV1 README); the paper itself lists none.
V1_REFERENCE_PARAMS = {3: 1_900_000, 8: 2_400_000}


def _v1_stages(groups: int, cifar: bool = False) -> list[tuple[str, int, int]]:
    c2, c3, c4 = V1_CHANNELS[groups]
    if cifar:
        return [("conv1", 24, 1), ("stage2", c2, 2), ("stage3", c3, 4), ("stage4", c4, 8)]
    return [("conv1", 24, 2), ("maxpool", 24, 4), ("stage2", c2, 8), ("stage3", c3, 16), ("stage4", c4, 32)]


def shufflenet_v1(num_classes: int, groups: int = 3, cifar_stem: bool = False) -> ShuffleNetV1:
    return ShuffleNetV1(groups, num_classes, cifar_stem)


# Why pytorchcv's ShuffleNet v1 weights load into g = 1 only.
V1_CONCAT_NOTE = (
    "Downsampling units concatenate the pooled shortcut first, then the branch, as the authors' released "
    "code does (megvii-model/ShuffleNet-Series, ShuffleNetV1/blocks.py: torch.cat((branch_proj(x), ...)))."
)
V1_WEIGHTS_NOTE = {
    1: " pytorchcv's shufflenet_g1_w1 puts the branch first; with g = 1 every 1×1 conv is ungrouped, so that "
    "is this network up to a channel order, and its weights load with the matching permutation.",
}
V1_NO_WEIGHTS = (
    " No public trained weights load into this network: pytorchcv's shufflenet_g{g}_w1 concatenates the branch "
    "before the shortcut, which with grouped 1×1 convs is a different network, not a reordering of this one; "
    "train it on the Train page."
)


def _register_v1() -> None:
    """One 1× net per group count of Table 1."""
    for g in V1_CHANNELS:
        reference = V1_REFERENCE_PARAMS.get(g)
        register_model(
            f"shufflenet_v1_g{g}",
            family=SHUFFLENET_V1,
            variant=f"1×, g = {g}",
            paper_params=reference,
            params_source="megvii-model/ShuffleNet-Series README (rounded to 0.1M)" if reference else "",
            stages=_v1_stages(g),
            block="stage3.1",
            notes=f"Paper Table 1: {V1_TABLE1_MMACS[g]}M multiply-adds at 224×224. {V1_CONCAT_NOTE}"
            + V1_WEIGHTS_NOTE.get(g, V1_NO_WEIGHTS.format(g=g)),
            groups=g,
        )(shufflenet_v1)


_register_v1()
register_model(
    "shufflenet_v1_g3_cifar",
    family=SHUFFLENET_V1,
    variant="1×, g = 3, 32×32 input (no stem reduction)",
    input_size=(3, 32, 32),
    num_classes=10,
    stages=_v1_stages(3, cifar=True),
    small_input=True,
    block="stage3.1",
    notes="The paper has no CIFAR network; the stem keeps stride 1 and drops the max pool.",
    groups=3,
    cifar_stem=True,
)(shufflenet_v1)


# ---------------------------------------------------------------------------- v2


class ShuffleUnitV2(nn.Module):
    """Stride 1: split the channels in half, pass one half through 1×1 → depthwise 3×3 →
    1×1 (all the same width), concatenate with the untouched half and shuffle. Stride 2:
    both halves see the whole input (the left one through a depthwise 3×3 and a 1×1), so
    the width doubles. Names and layer order follow torchvision's ``InvertedResidual``.
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        self.stride = stride
        half = out_ch // 2
        if stride == 2:
            self.branch1 = nn.Sequential(
                nn.Conv2d(in_ch, in_ch, 3, stride, 1, groups=in_ch, bias=False),
                nn.BatchNorm2d(in_ch),
                nn.Conv2d(in_ch, half, 1, bias=False),
                nn.BatchNorm2d(half),
                nn.ReLU(),
            )
        branch_in = in_ch if stride == 2 else half
        self.branch2 = nn.Sequential(
            nn.Conv2d(branch_in, half, 1, bias=False),
            nn.BatchNorm2d(half),
            nn.ReLU(),
            nn.Conv2d(half, half, 3, stride, 1, groups=half, bias=False),
            nn.BatchNorm2d(half),
            nn.Conv2d(half, half, 1, bias=False),
            nn.BatchNorm2d(half),
            nn.ReLU(),
        )
        self.shuffle = ChannelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 2:
            out = torch.cat([self.branch1(x), self.branch2(x)], 1)
        else:
            kept, transformed = x.chunk(2, dim=1)
            out = torch.cat([kept, self.branch2(transformed)], 1)
        return self.shuffle(out)


# Output channels of stages 2–4 and of conv5 per width (paper, Table 5).
V2_CHANNELS = {
    "0.5": (48, 96, 192, 1024),
    "1.0": (116, 232, 464, 1024),
    "1.5": (176, 352, 704, 1024),
    "2.0": (244, 488, 976, 2048),
}


class ShuffleNetV2(_ShuffleNetStem):
    """Stem, three stages of units (4, 8, 4), a 1×1 conv5, global pooling and the
    classifier. Names follow torchvision's ``shufflenet_v2_x*``."""

    def __init__(self, width: str = "1.0", num_classes: int = 1000, cifar_stem: bool = False):
        super().__init__(cifar_stem)
        *stage_channels, last = V2_CHANNELS[width]
        in_ch = 24
        for i, (out_ch, n) in enumerate(zip(stage_channels, REPEATS)):
            units = [ShuffleUnitV2(in_ch, out_ch, 2)] + [ShuffleUnitV2(out_ch, out_ch, 1) for _ in range(n - 1)]
            self.add_module(f"stage{i + 2}", nn.Sequential(*units))
            in_ch = out_ch
        self.conv5 = ConvBNAct(in_ch, last, 1)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.fc = nn.Linear(last, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage4(self.stage3(self.stage2(self.maxpool(self.conv1(x)))))
        return self.fc(self.flatten(self.avgpool(self.conv5(x))))


# torchvision's counts (weights metadata num_params); paper Table 5 rounds them.
V2_PARAMS = {"0.5": 1_366_792, "1.0": 2_278_604, "1.5": 3_503_624, "2.0": 7_393_996}


def _v2_stages(width: str, cifar: bool = False) -> list[tuple[str, int, int]]:
    c2, c3, _, last = V2_CHANNELS[width]
    if cifar:
        return [("conv1", 24, 1), ("stage2", c2, 2), ("stage3", c3, 4), ("conv5", last, 8)]
    return [("conv1", 24, 2), ("maxpool", 24, 4), ("stage2", c2, 8), ("stage3", c3, 16), ("conv5", last, 32)]


def shufflenet_v2(num_classes: int, width: str = "1.0", cifar_stem: bool = False) -> ShuffleNetV2:
    return ShuffleNetV2(width, num_classes, cifar_stem)


def _register_v2() -> None:
    for width, params in V2_PARAMS.items():
        tv = "shufflenet_v2_x" + width.replace(".", "_")
        register_model(
            tv,
            family=SHUFFLENET_V2,
            variant=f"{width}×",
            paper_params=params,
            params_source=f"torchvision {tv} weights metadata (paper Table 5 rounds it)",
            stages=_v2_stages(width),
            torchvision=tv,
            block="stage3.1",
            width=width,
        )(shufflenet_v2)


_register_v2()
register_model(
    "shufflenet_v2_x1_0_cifar",
    family=SHUFFLENET_V2,
    variant="1.0×, 32×32 input (no stem reduction)",
    input_size=(3, 32, 32),
    num_classes=10,
    stages=_v2_stages("1.0", cifar=True),
    small_input=True,
    block="stage3.1",
    notes="The paper has no CIFAR network; the stem keeps stride 1 and drops the max pool.",
    width="1.0",
    cifar_stem=True,
)(shufflenet_v2)


def _branch_first_to_shortcut_first(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """pytorchcv's g = 1 ShuffleNet (in our names) → ours. Its downsampling units output
    [branch, pooled shortcut] where ours output [pooled shortcut, branch]; ``perm[i]`` is
    the channel of ours that its channel ``i`` is. Every 1×1 conv reading a stage's
    features takes its input columns in our order, the stride-1 units' last 1×1 and BN
    write their rows in our order (so the residual sums line up), and so does the classifier."""

    def columns(t: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(t)
        out[:, perm] = t
        return out

    def rows(t: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(t)
        out[perm] = t
        return out

    state = dict(state)
    perm = torch.arange(state["conv1.0.weight"].shape[0])
    for stage in (2, 3, 4):
        unit = 0
        while f"stage{stage}.{unit}.compress.0.weight" in state:
            p = f"stage{stage}.{unit}."
            if state[p + "compress.0.weight"].shape[1] != len(perm):
                raise ValueError(f"{p}compress is grouped; only g = 1 is a reordering of ours")
            state[p + "compress.0.weight"] = columns(state[p + "compress.0.weight"], perm)
            if unit == 0:
                branch = state[p + "expand.0.weight"].shape[0]
                perm = torch.cat([len(perm) + torch.arange(branch), perm])
            else:
                for key in ("expand.0.weight", "expand.1.weight", "expand.1.bias",
                            "expand.1.running_mean", "expand.1.running_var"):
                    state[p + key] = rows(state[p + key], perm)
            unit += 1
    state["fc.weight"] = columns(state["fc.weight"], perm)
    return state


register_weights(
    WeightEntry(
        model="shufflenet_v1_g1", source="pytorchcv", source_model="shufflenet_g1_w1", tag="in1k",
        dataset="ImageNet-1k", num_classes=1000,
        preprocess=Preprocess.imagenet(224, 0.875, "bilinear"),
        url="https://github.com/osmr/imgclsmob/releases/download/v0.0.223/shufflenet_g1_w1-1389-4cfb65a3.pth.zip",
        checksum="sha1:4cfb65a30761fe548e0b5afbb5d89793ec41e4e9",
        top1=65.07, top5=86.11, metric_source="pytorchcv README (top-1 error 34.93, top-5 error 13.89)",
        license="MIT",
        convert=(by_order("shufflenet_v1_g1"), _branch_first_to_shortcut_first),
        notes="Same tensors as ours in order; its branch-first concatenation is undone by permuting the "
        "channels of the 1×1 convs and the classifier (exact for g = 1, where no 1×1 conv is grouped).",
    ),
)
