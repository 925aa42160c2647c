"""Cells found by neural architecture search, built from a genotype, and the network that
stacks them. NASNet, AmoebaNet and ENAS share all of this and differ only in their genotype
and in how many cells of which width they stack.

A genotype lists, for each of a cell's nodes, two ``(operation, input)`` pairs; a node
adds its two operation outputs. Inputs 0 and 1 are the outputs of the cell two back and
of the previous cell, inputs from 2 on are the cell's own earlier nodes. The cell's output
concatenates the nodes named in ``concat`` along the channels. A normal cell keeps the
resolution; a reduction cell applies stride 2 to every operation that reads an input.

Index convention: the one DARTS uses (0 = two cells back, 1 = previous cell). TensorFlow's
NASNet/AmoebaNet code numbers the two inputs the other way round; the genotypes here are
translated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import torch
from torch import nn
from torch.nn import functional as F

from classifier.registry import register_model

Kind = Literal["normal", "reduce"]
BN_EPS = 1e-3  # TensorFlow's NASNet/AmoebaNet/ENAS code normalises with eps=0.001.


@dataclass(frozen=True)
class Genotype:
    """A searched architecture: the normal and the reduction cell, each as two
    ``(operation, input index)`` pairs per node plus the node indices concatenated."""

    normal: tuple[tuple[str, int], ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[tuple[str, int], ...]
    reduce_concat: tuple[int, ...]

    def cell(self, kind: Kind) -> tuple[tuple[tuple[str, int], ...], tuple[int, ...]]:
        if kind == "normal":
            return self.normal, self.normal_concat
        if kind == "reduce":
            return self.reduce, self.reduce_concat
        raise ValueError(f"cell kind is 'normal' or 'reduce', not {kind!r}")


# ---------------------------------------------------------------------------------------
# Operations. Every op maps C channels to C channels; only ops that read one of the two
# cell inputs get stride 2 in a reduction cell.


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS)


class ReLUConvBN(nn.Sequential):
    """ReLU → 1×1 conv → BN: how a cell brings an input to its own width. The ReLU comes
    first because cell outputs are concatenations of un-activated sums."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(nn.ReLU(), nn.Conv2d(c_in, c_out, 1, bias=False), _bn(c_out))


class FactorizedReduce(nn.Module):
    """Halve the resolution without dropping three quarters of the pixels: two strided
    1×1 convs, the second on the input shifted by one pixel, each giving half the channels.
    A plain strided 1×1 conv would only ever see the even positions. (An odd width gives
    the shifted path the extra channel.)"""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.relu = nn.ReLU()
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out - c_out // 2, 1, bias=False)
        self.bn = _bn(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        # Padding right/bottom then starting at 1 keeps odd sizes (165 → 83) equal on both paths.
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1::2, 1::2]
        return self.bn(torch.cat([self.conv_1(x[:, :, ::2, ::2]), self.conv_2(shifted)], dim=1))


def _shift_crop(module: nn.Module, x: torch.Tensor, forward) -> torch.Tensor:
    """TensorFlow's "SAME" padding of a stride-2 window on an even side is one pixel less
    before than after. Computed as TF-slim ports do: one extra zero row and column before,
    the symmetric k//2 padding, then the first output row and column (the only ones that
    saw the extra zeros) dropped."""
    return forward(module, F.pad(x, (1, 0, 1, 0)))[:, :, 1:, 1:]


class SamePadConv2d(nn.Conv2d):
    """A stride-2 conv padded as TensorFlow's "SAME" pads an even input (see
    :func:`_shift_crop`). Same parameters as ``nn.Conv2d``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _shift_crop(self, x, nn.Conv2d.forward)


class SamePadMaxPool2d(nn.MaxPool2d):
    """3×3 stride-2 max pooling padded as TensorFlow's "SAME" pads an even input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _shift_crop(self, x, nn.MaxPool2d.forward)


class SamePadAvgPool2d(nn.AvgPool2d):
    """3×3 stride-2 average pooling padded as TensorFlow's "SAME" pads an even input, the
    padding left out of each window's count."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _shift_crop(self, x, nn.AvgPool2d.forward)


class GlobalAvgPool2d(nn.Module):
    """Global average pooling as one window the size of the feature map (what the TF-slim
    ports compute, to the last bit: ``nn.AvgPool2d(11)`` on NASNet-A Large's 11×11 map)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, x.shape[-2:])


class SepConv(nn.Sequential):
    """The searched "separable convolution": (ReLU → depthwise k×k → pointwise 1×1 → BN)
    applied twice, the stride on the first depthwise conv only. ``c_in`` (default ``c``)
    lets the first depthwise conv run on a wider raw input, its pointwise conv bringing it
    to ``c`` (NASNet's first stem cell). ``tf_same=True`` pads the strided conv the way
    TensorFlow's "SAME" does on an even input."""

    def __init__(self, c: int, kernel_size: int, stride: int, c_in: int | None = None, tf_same: bool = False):
        pad = kernel_size // 2
        c_in = c_in or c
        if tf_same and stride == 2:
            first: nn.Module = SamePadConv2d(c_in, c_in, kernel_size, stride, pad, groups=c_in, bias=False)
        else:
            first = nn.Conv2d(c_in, c_in, kernel_size, stride, pad, groups=c_in, bias=False)
        super().__init__(
            nn.ReLU(),
            first,
            nn.Conv2d(c_in, c, 1, bias=False),
            _bn(c),
            nn.ReLU(),
            nn.Conv2d(c, c, kernel_size, 1, pad, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False),
            _bn(c),
        )


class Conv1x7Then7x1(nn.Sequential):
    """AmoebaNet's "1×7 then 7×1" convolution, inside a 4× bottleneck as in the authors'
    TensorFlow code: ReLU-1×1-BN, ReLU-1×7-BN, ReLU-7×1-BN, ReLU-1×1-BN."""

    def __init__(self, c: int, stride: int):
        mid = c // 4
        super().__init__(
            nn.ReLU(),
            nn.Conv2d(c, mid, 1, bias=False),
            _bn(mid),
            nn.ReLU(),
            nn.Conv2d(mid, mid, (1, 7), (1, stride), (0, 3), bias=False),
            _bn(mid),
            nn.ReLU(),
            nn.Conv2d(mid, mid, (7, 1), (stride, 1), (3, 0), bias=False),
            _bn(mid),
            nn.ReLU(),
            nn.Conv2d(mid, c, 1, bias=False),
            _bn(c),
        )


OPS: dict[str, Callable[[int, int], nn.Module]] = {
    "sep_conv_3x3": lambda c, s: SepConv(c, 3, s),
    "sep_conv_5x5": lambda c, s: SepConv(c, 5, s),
    "sep_conv_7x7": lambda c, s: SepConv(c, 7, s),
    "avg_pool_3x3": lambda c, s: nn.AvgPool2d(3, s, 1, count_include_pad=False),
    "max_pool_3x3": lambda c, s: nn.MaxPool2d(3, s, 1),
    "skip_connect": lambda c, s: nn.Identity() if s == 1 else FactorizedReduce(c, c),
    "conv_1x7_7x1": lambda c, s: Conv1x7Then7x1(c, s),
}



def make_op(op: str, c: int, stride: int, c_in: int | None = None, tf_same: bool = False) -> nn.Module:
    """An operation of :data:`OPS`; with ``tf_same`` a strided separable conv or pool pads
    like TensorFlow's "SAME" on an even input, and ``c_in`` feeds a separable conv a wider
    raw input."""
    if c_in not in (None, c) and not op.startswith("sep_conv_"):
        raise ValueError(f"{op} cannot read a {c_in}-channel input into a {c}-channel cell")
    if op.startswith("sep_conv_") and (c_in not in (None, c) or tf_same):
        return SepConv(c, int(op[-1]), stride, c_in=c_in, tf_same=tf_same)
    if tf_same and stride == 2 and op == "max_pool_3x3":
        return SamePadMaxPool2d(3, 2, 1)
    if tf_same and stride == 2 and op == "avg_pool_3x3":
        return SamePadAvgPool2d(3, 2, 1, count_include_pad=False)
    return OPS[op](c, stride)


# Short labels for drawing cells.
OP_LABELS = {
    "sep_conv_3x3": "sep 3×3",
    "sep_conv_5x5": "sep 5×5",
    "sep_conv_7x7": "sep 7×7",
    "avg_pool_3x3": "avg 3×3",
    "max_pool_3x3": "max 3×3",
    "skip_connect": "identity",
    "conv_1x7_7x1": "1×7 then 7×1",
}


def check_genotype(genotype: Genotype) -> None:
    """Raise ValueError unless every node reads earlier states through known operations and
    each reduction output is at the reduced resolution."""
    for kind in ("normal", "reduce"):
        ops, concat = genotype.cell(kind)
        if not ops or len(ops) % 2:
            raise ValueError(f"{kind} cell needs two (op, input) pairs per node")
        n_states = 2 + len(ops) // 2
        for i, (op, src) in enumerate(ops):
            if op not in OPS:
                raise ValueError(f"unknown operation {op!r}; known: {sorted(OPS)}")
            if not 0 <= src < 2 + i // 2:
                raise ValueError(f"{kind} node {2 + i // 2} reads state {src}, which is not computed yet")
        if not concat or any(not 0 <= j < n_states for j in concat):
            raise ValueError(f"{kind} concat {concat} names states outside 0..{n_states - 1}")
        if kind == "reduce" and any(j < 2 for j in concat):
            raise ValueError("a reduction cell cannot concatenate its full-resolution inputs")


# ---------------------------------------------------------------------------------------
# The cell.


class Cell(nn.Module):
    """One normal or reduction cell of a genotype.

    Both inputs are first brought to ``c`` channels at the cell's input resolution (a
    factorized reduction when the older input is twice as large, as after a reduction);
    the nodes are then summed pairs of operations, and the output concatenates the
    ``concat`` states, so it has ``len(concat) * c`` channels.

    ``double_projection`` follows ENAS's reference code, which first calibrates the previous
    cell's output to ``c`` channels and then applies the cell's own 1×1 projection on top.
    ``raw_older_input``: the older input is not projected; the ops reading it (separable
    convs only) take its ``c_prev_prev`` channels themselves (NASNet's first stem cell, as in
    TF-slim's ``_reduction_a_cell`` on the stem output). ``tf_same``: this reduction cell's
    input side is even, so its strided ops pad like TensorFlow's "SAME".
    """

    def __init__(
        self,
        genotype: Genotype,
        kind: Kind,
        c_prev_prev: int,
        c_prev: int,
        c: int,
        prev_prev_is_larger: bool,
        double_projection: bool = False,
        raw_older_input: bool = False,
        tf_same: bool = False,
    ):
        super().__init__()
        ops, concat = genotype.cell(kind)
        self.reduction = kind == "reduce"
        if raw_older_input:
            self.preprocess0: nn.Module = nn.Identity()
        elif prev_prev_is_larger:
            self.preprocess0 = FactorizedReduce(c_prev_prev, c)
        else:
            self.preprocess0 = ReLUConvBN(c_prev_prev, c)
        if double_projection:
            self.preprocess1 = nn.Sequential(ReLUConvBN(c_prev, c), ReLUConvBN(c, c))
        else:
            self.preprocess1 = ReLUConvBN(c_prev, c)
        stride = 2 if self.reduction else 1
        self.ops = nn.ModuleList(
            make_op(
                op, c, stride if src < 2 else 1,
                c_in=c_prev_prev if raw_older_input and src == 0 else None,
                tf_same=tf_same and src < 2,
            )
            for op, src in ops
        )
        self.inputs = tuple(src for _, src in ops)
        self.concat = tuple(concat)
        self.out_channels = len(concat) * c

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i in range(0, len(self.ops), 2):
            left = self.ops[i](states[self.inputs[i]])
            right = self.ops[i + 1](states[self.inputs[i + 1]])
            states.append(left + right)
        return torch.cat([states[j] for j in self.concat], dim=1)


# ---------------------------------------------------------------------------------------
# The network: a stem, three stages of N normal cells separated by two reduction cells,
# global pooling and a linear classifier.


class CellNetwork(nn.Module):
    """Cells stacked the NASNet way. Each cell reads the outputs of the two cells before it.

    ``stem="imagenet"``: a stride-2 3×3 conv (no padding) and two reduction cells of width
    c/4 and c/2 take 224 (or 331) pixels down to stride 8 before the first normal cell.
    ``stem="cifar"``: one 3×3 conv with ``stem_channels`` (3c in the papers) at full resolution.
    ``skip_reduction_input``: the cell after a reduction reads, as its older input, the
    reduction cell's older input instead of the reduction cell's own input (NASNet-A Large).
    ``double_projection``: see :class:`Cell` (ENAS).
    ``image_size``: the input side the network is built for; when given, every reduction
    cell whose input side is even at that size pads its strided ops as TensorFlow's "SAME"
    does (one pixel less before than after), as in the TF-slim NASNet code; odd sides pad
    symmetrically either way.
    ``raw_stem_input``: the first ImageNet stem cell reads the stem conv's output unprojected
    through its separable convs (see :class:`Cell`), as TF-slim's NASNet does.
    """

    def __init__(
        self,
        genotype: Genotype,
        c: int,
        cells_per_stage: int,
        num_classes: int,
        stem: Literal["imagenet", "cifar"],
        stem_channels: int,
        dropout: float = 0.0,
        skip_reduction_input: bool = False,
        double_projection: bool = False,
        image_size: int | None = None,
        raw_stem_input: bool = False,
    ):
        super().__init__()
        check_genotype(genotype)
        stride = 2 if stem == "imagenet" else 1
        self.stem = nn.Sequential(
            nn.Conv2d(3, stem_channels, 3, stride, 0 if stem == "imagenet" else 1, bias=False),
            _bn(stem_channels),
        )
        plan: list[tuple[Kind, int, bool]] = []  # (kind, width, keeps its older input for the next cell)
        if stem == "imagenet":
            plan += [("reduce", c // 4, False), ("reduce", c // 2, False)]
        for stage in range(3):
            if stage:
                plan.append(("reduce", c * 2**stage, skip_reduction_input))
            plan += [("normal", c * 2**stage, False)] * cells_per_stage

        # Track channels and relative size of the two inputs while building.
        c_pp, c_p = stem_channels, stem_channels
        size_pp, size_p = 1, 1  # 1 = full size; halved by each reduction
        cells, keeps = [], []
        side = None if image_size is None else ((image_size - 3) // 2 + 1 if stem == "imagenet" else image_size)
        for i, (kind, width, keep) in enumerate(plan):
            tf_same = side is not None and kind == "reduce" and side % 2 == 0
            raw = raw_stem_input and stem == "imagenet" and i == 0
            cell = Cell(genotype, kind, c_pp, c_p, width, size_pp > size_p, double_projection, raw, tf_same)
            if side is not None and kind == "reduce":
                side = (side + 1) // 2
            cells.append(cell)
            keeps.append(keep)
            size_out = size_p / 2 if kind == "reduce" else size_p
            if not keep:
                c_pp, size_pp = c_p, size_p
            c_p, size_p = cell.out_channels, size_out
        self.cells = nn.ModuleList(cells)
        self.keeps_older_input = tuple(keeps)
        self.out_channels = c_p
        self.relu = nn.ReLU()
        self.avgpool = GlobalAvgPool2d()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(c_p, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell, keep in zip(self.cells, self.keeps_older_input):
            out = cell(s0, s1)
            if not keep:
                s0 = s1
            s1 = out
        x = torch.flatten(self.avgpool(self.relu(s1)), 1)
        return self.classifier(self.dropout(x))


def cell_stages(
    genotype: Genotype, c: int, cells_per_stage: int, stem: Literal["imagenet", "cifar"], stem_channels: int
) -> list[tuple[str, int, int]]:
    """The card's stage list for a CellNetwork: the last module at each resolution."""
    normal_out = len(genotype.normal_concat) * c
    if stem == "imagenet":
        stages = [("stem", stem_channels, 2), ("cells.0", len(genotype.reduce_concat) * (c // 4), 4)]
        first, stride = 2, 8
    else:
        stages, first, stride = [], 0, 1
    for stage in range(3):
        last = first + cells_per_stage - 1 + stage * (cells_per_stage + 1)
        stages.append((f"cells.{last}", normal_out * 2**stage, stride * 2**stage))
    return stages


# ---------------------------------------------------------------------------------------
# Genotypes by registered model name, and drawing a cell.

GENOTYPES: dict[str, Genotype] = {}


def register_nas_model(name: str, *, genotype: Genotype, **card):
    """``register_model`` that also records the model's genotype in :data:`GENOTYPES`
    (so the app can draw its cells) and passes it to the builder."""
    check_genotype(genotype)
    GENOTYPES[name] = genotype
    return register_model(name, genotype=genotype, **card)


def genotype_of(name: str) -> Genotype:
    """The genotype of a registered cell-based model."""
    from classifier.registry import list_models

    list_models()  # imports every family, which fills GENOTYPES
    try:
        return GENOTYPES[name]
    except KeyError:
        raise ValueError(f"{name!r} is not built from a genotype; those are {sorted(GENOTYPES)}") from None


def cell_dot(genotype: Genotype, kind: Kind = "normal") -> str:
    """Graphviz DOT source drawing one cell: its two inputs, its nodes, an edge per
    operation labelled with the op, and the concatenated output."""
    ops, concat = genotype.cell(kind)
    n_nodes = len(ops) // 2
    names = ["c_{k-2}", "c_{k-1}"] + [str(i) for i in range(n_nodes)]
    title = "normal cell" if kind == "normal" else "reduction cell"
    lines = [
        "digraph cell {",
        f'  label="{title}"; labelloc=t; rankdir=LR;',
        '  node [style="filled,rounded", shape=box, fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
        '  "c_{k-2}" [fillcolor=darkseagreen2];',
        '  "c_{k-1}" [fillcolor=darkseagreen2];',
    ]
    lines += [f'  "{i}" [fillcolor=lightblue, shape=circle];' for i in range(n_nodes)]
    lines.append('  "c_{k}" [fillcolor=palegoldenrod];')
    for i, (op, src) in enumerate(ops):
        stride = " /2" if kind == "reduce" and src < 2 else ""
        lines.append(f'  "{names[src]}" -> "{i // 2}" [label="{OP_LABELS[op]}{stride}"];')
    for j in concat:
        lines.append(f'  "{names[j]}" -> "c_{{k}}" [style=dashed, color=gray40];')
    lines.append("}")
    return "\n".join(lines) + "\n"
