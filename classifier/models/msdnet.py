"""MSDNet — "Multi-Scale Dense Networks for Resource Efficient Image Classification", Huang,
Chen, Li, Wu, van der Maaten and Weinberger, 2017 (arXiv 1703.09844).

One network with classifiers at several depths, so an easy image can leave early and a
hard one runs further (anytime and budgeted prediction). Early classifiers need coarse,
global features, so MSDNet keeps a grid of feature maps at several scales from the very
first layer, each scale fed by the same scale and the next finer one; and its layers are
densely connected (concatenation), so that training an early exit does not spoil the
features that later exits depend on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from classifier.layers import ConvBNAct
from classifier.registry import Family, register_model

MSDNET = Family(
    name="MSDNet",
    year=2017,
    paper="Multi-Scale Dense Networks for Resource Efficient Image Classification",
    arxiv="1703.09844",
    authors="Gao Huang, Danlu Chen, Tianhong Li, Felix Wu, Laurens van der Maaten, Kilian Q. Weinberger",
    ideas=(
        "A DenseNet with classifiers along its depth: an image stops at the first exit confident enough.",
        "Maps are kept at several scales from the first layer, so even early exits see coarse, global features.",
        "Dense connections let later layers bypass features tuned for early exits, so exits do not hurt each other.",
        "Finer scales are pruned away with depth, with transition layers halving the channels as they go.",
    ),
)


class MSDConv(nn.Sequential):
    """Conv-BN-ReLU 1×1 down to at most ``bottleneck × out_ch`` channels, then conv-BN-ReLU
    3×3 (stride 2 when it reads the next finer scale)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, bottleneck: int):
        inner = min(in_ch, bottleneck * out_ch)
        super().__init__(ConvBNAct(in_ch, inner, 1), ConvBNAct(inner, out_ch, 3, stride))


class ScaleUpdate(nn.Module):
    """The new channels of one scale in one layer, concatenated to that scale's input.

    They come from the same scale (a 3×3 conv) and, when the next finer scale is present,
    half of them from it (a strided 3×3 conv): information only flows to the same or a
    coarser scale.
    """

    def __init__(
        self, same_ch: int, growth: int, bottleneck: int, finer_ch: int | None = None, finer_bottleneck: int = 1
    ):
        super().__init__()
        if finer_ch is None:
            self.down = None
            self.same = MSDConv(same_ch, growth, 1, bottleneck)
        else:
            self.down = MSDConv(finer_ch, growth // 2, 2, finer_bottleneck)
            self.same = MSDConv(same_ch, growth // 2, 1, bottleneck)

    def forward(self, same: torch.Tensor, finer: torch.Tensor | None = None) -> torch.Tensor:
        if self.down is None:
            return torch.cat([same, self.same(same)], 1)
        return torch.cat([same, self.down(finer), self.same(same)], 1)


class FirstLayer(nn.Module):
    """The first layer builds the scale pyramid: a stem for the finest scale, then one
    strided conv per coarser scale. Returns the maps finest first."""

    def __init__(self, widths: list[int], imagenet_stem: bool):
        super().__init__()
        if imagenet_stem:
            first: nn.Module = nn.Sequential(ConvBNAct(3, widths[0], 7, stride=2), nn.MaxPool2d(3, stride=2, padding=1))
        else:
            first = ConvBNAct(3, widths[0], 3)
        rest = [ConvBNAct(widths[s - 1], widths[s], 3, stride=2) for s in range(1, len(widths))]
        self.scales = nn.ModuleList([first, *rest])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        maps = []
        for scale in self.scales:
            x = scale(x)
            maps.append(x)
        return maps


class MSDLayer(nn.Module):
    """One layer of the grid. Reads the ``in_scales`` coarsest scales and writes the
    ``out_scales`` coarsest (the finest is dropped when ``out_scales < in_scales``).

    ``channels`` is the layer's input width in units of the first scale; scale ``s`` has
    ``channels × gr_factor[s]`` channels and gains ``growth × gr_factor[s]``.
    """

    def __init__(
        self,
        channels: int,
        growth: int,
        gr_factor: tuple[int, ...],
        bn_factor: tuple[int, ...],
        in_scales: int,
        out_scales: int,
    ):
        super().__init__()
        n = len(gr_factor)
        self.first_in = n - in_scales
        self.first_out = n - out_scales
        units = []
        for s in range(self.first_out, n):
            finer = {}
            if s > self.first_in:
                finer = {"finer_ch": channels * gr_factor[s - 1], "finer_bottleneck": bn_factor[s - 1]}
            units.append(ScaleUpdate(channels * gr_factor[s], growth * gr_factor[s], bn_factor[s], **finer))
        self.units = nn.ModuleList(units)

    def forward(self, maps: list[torch.Tensor]) -> list[torch.Tensor]:
        out = []
        for s, unit in enumerate(self.units, start=self.first_out):
            same = maps[s - self.first_in]
            out.append(unit(same) if s == self.first_in else unit(same, maps[s - 1 - self.first_in]))
        return out


class Transition(nn.Module):
    """Per-scale conv-BN-ReLU 1×1 that compresses each remaining scale (here to half)."""

    def __init__(self, channels: int, out_channels: int, gr_factor: tuple[int, ...], scales: int):
        super().__init__()
        first = len(gr_factor) - scales
        self.convs = nn.ModuleList(
            ConvBNAct(channels * gr_factor[s], out_channels * gr_factor[s], 1) for s in range(first, len(gr_factor))
        )

    def forward(self, maps: list[torch.Tensor]) -> list[torch.Tensor]:
        return [conv(x) for conv, x in zip(self.convs, maps)]


class Exit(nn.Sequential):
    """An intermediate classifier on the coarsest scale: two strided conv-BN-ReLU 3×3, an
    average pool and a linear layer. The reference pools 2×2, which at the design input
    sizes is the whole map; a global pool keeps smaller inputs working."""

    def __init__(self, in_ch: int, inner_ch: int, num_classes: int):
        super().__init__(
            ConvBNAct(in_ch, inner_ch, 3, stride=2),
            ConvBNAct(inner_ch, inner_ch, 3, stride=2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(inner_ch, num_classes),
        )


def block_steps(n_blocks: int, base: int, step: int, step_mode: str = "even") -> list[int]:
    """Layers in each block: the first exit after ``base`` layers, then every ``step``
    (``"even"``) or after linearly growing spans (``"lin_grow"``: step·i + 1)."""
    if step_mode not in ("even", "lin_grow"):
        raise ValueError(f"step_mode must be 'even' or 'lin_grow', not {step_mode!r}")
    return [base] + [step if step_mode == "even" else step * i + 1 for i in range(1, n_blocks)]


class MSDNet(nn.Module):
    """Blocks of MSD layers, each block followed by an exit. ``forward`` returns the logits
    of every exit, earliest first; the last one is the full network's prediction.

    The finest scales are pruned as depth grows (the reference's "max" rule: the L layers
    are split into as many equal spans as there are scales, and each span drops one more
    scale), and a transition halves the channels wherever a scale is dropped.
    """

    def __init__(
        self,
        n_blocks: int,
        base: int,
        step: int,
        channels: int,
        growth: int,
        gr_factor: tuple[int, ...],
        bn_factor: tuple[int, ...],
        imagenet_stem: bool = False,
        exit_channels: int | None = 128,
        step_mode: str = "even",
        reduction: float = 0.5,
        num_classes: int = 1000,
    ):
        super().__init__()
        steps = block_steps(n_blocks, base, step, step_mode)
        n_scales = len(gr_factor)
        interval = math.ceil(sum(steps) / n_scales)
        layer = 0
        blocks, exits = [], []
        for b, n in enumerate(steps):
            mods: list[nn.Module] = [FirstLayer([channels * g for g in gr_factor], imagenet_stem)] if b == 0 else []
            for _ in range(n):
                layer += 1
                in_scales = n_scales - max(0, layer - 2) // interval
                out_scales = n_scales - (layer - 1) // interval
                mods.append(MSDLayer(channels, growth, gr_factor, bn_factor, in_scales, out_scales))
                channels += growth
                if out_scales < in_scales:
                    mods.append(Transition(channels, math.floor(reduction * channels), gr_factor, out_scales))
                    channels = math.floor(reduction * channels)
            blocks.append(nn.Sequential(*mods))
            coarsest = channels * gr_factor[-1]
            exits.append(Exit(coarsest, exit_channels or coarsest, num_classes))
        self.blocks = nn.ModuleList(blocks)
        self.exits = nn.ModuleList(exits)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        maps = x
        logits = []
        for block, exit_ in zip(self.blocks, self.exits):
            maps = block(maps)
            logits.append(exit_(maps[-1]))
        return logits


@dataclass
class AnytimePrediction:
    """What :func:`anytime_predict` found for each image of a batch."""

    logits: torch.Tensor  # (N, classes): the logits of the exit each image left at
    exit_index: torch.Tensor  # (N,): that exit, 0 = earliest
    macs: torch.Tensor  # (N,): multiply-accumulates spent on the image up to its exit
    exit_macs: list[int]  # per image, MACs to reach each exit that was evaluated


@torch.no_grad()
def anytime_predict(model: MSDNet, x: torch.Tensor, threshold: float) -> AnytimePrediction:
    """Evaluate exits in order and let each image leave at the first exit whose top
    softmax probability reaches ``threshold`` (the last exit takes whatever is left);
    stop computing once every image has left.

    The MACs of each block and exit are counted while they run (``FlopCounterMode``,
    one MAC = two FLOPs) and charged per image, so an image that leaves at exit k costs
    blocks 1…k and exits 1…k, as in the paper's budgeted evaluation.
    """
    model.eval()
    n = x.shape[0]
    logits = x.new_zeros(n, model.exits[0][-1].out_features)
    exit_index = torch.full((n,), -1, dtype=torch.long, device=x.device)
    macs = torch.zeros(n, dtype=torch.long, device=x.device)
    exit_macs: list[int] = []
    spent = 0
    maps = x
    last = len(model.blocks) - 1
    for k, (block, exit_) in enumerate(zip(model.blocks, model.exits)):
        with FlopCounterMode(display=False) as counter:
            maps = block(maps)
            out = exit_(maps[-1])
        spent += counter.get_total_flops() // (2 * n)
        exit_macs.append(spent)
        confident = out.softmax(1).amax(1) >= threshold
        leaving = (exit_index < 0) & (confident | (k == last))
        logits[leaving] = out[leaving]
        exit_index[leaving] = k
        macs[leaving] = spent
        if bool((exit_index >= 0).all()):
            break
    return AnytimePrediction(logits, exit_index, macs, exit_macs)


def build_msdnet(num_classes: int, **kwargs) -> MSDNet:
    return MSDNet(num_classes=num_classes, **kwargs)


register_model(
    "msdnet_cifar", family=MSDNET, variant="MSDNet, 10 exits (CIFAR, anytime)", input_size=(3, 32, 32),
    num_classes=10, small_input=True,
    stages=[("blocks.0.0.scales.0", 16, 1), ("blocks.0.0.scales.1", 32, 2), ("blocks.0.0.scales.2", 64, 4)],
    block="blocks.0.1",
    notes="Three scales with growth 6/12/24 per layer (paper, Appendix A); exits after layers 4, 6, …, 22, "
    "the anytime net of the authors' released code (-nBlocks 10 -step 2 -base 4). forward returns all 10 exits. "
    "No public trained weights load into this network: pytorchcv lists msdnet22_cifar10 without a weights file "
    "(no checksum or release in its metainfo) and the authors' models are on Dropbox only; train it on the Train page.",
    n_blocks=10, base=4, step=2, channels=16, growth=6, gr_factor=(1, 2, 4), bn_factor=(1, 2, 4),
)(build_msdnet)
register_model(
    "msdnet_imagenet", family=MSDNET, variant="MSDNet, 5 exits, k=4 (ImageNet)",
    stages=[
        ("blocks.0.0.scales.0", 32, 4), ("blocks.0.0.scales.1", 64, 8),
        ("blocks.0.0.scales.2", 128, 16), ("blocks.0.0.scales.3", 128, 32),
    ],
    block="blocks.0.1",
    notes="Four scales with growth 16/32/64/64 (paper, Appendix A); exit i follows MSD layer 4i, which the "
    "paper counts as layer 4i + 3 with the first layer and the exit's two convs (Sec. 5, k = 4); pass "
    "base=k, step=k for k = 6 or 7. Exits keep their input width, as in the paper. forward returns all 5 exits.",
    n_blocks=5, base=4, step=4, channels=32, growth=16, gr_factor=(1, 2, 4, 4), bn_factor=(1, 2, 4, 4),
    imagenet_stem=True, exit_channels=None,
)(build_msdnet)
