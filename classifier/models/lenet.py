"""LeNet-5 — "Gradient-Based Learning Applied to Document Recognition", LeCun, Bottou,
Bengio and Haffner, 1998 (Proceedings of the IEEE; no arXiv id).

Convolutions with shared weights find the same local feature anywhere in the image, and
subsampling layers trade resolution for robustness to small shifts and distortions. Its
third layer connects each map to only some of the previous maps, to save parameters and
to force the maps to learn different features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from classifier.registry import Family, register_model

LENET = Family(
    name="LeNet",
    year=1998,
    paper="Gradient-Based Learning Applied to Document Recognition",
    arxiv=None,
    authors="Yann LeCun, Léon Bottou, Yoshua Bengio, Patrick Haffner",
    ideas=(
        "Local receptive fields: each unit looks at a small patch of the layer below.",
        "Shared weights: one kernel per feature map, so a feature is detected wherever it appears.",
        "Subsampling halves the resolution, making the features less sensitive to exact position.",
        "Maps grow in number as their resolution falls, a pattern almost every later CNN keeps.",
    ),
)


class ScaledTanh(nn.Module):
    """The paper's squashing function f(a) = A·tanh(S·a) with A = 1.7159, S = 2/3
    (Appendix A): f(±1) = ±1 and the gain is largest around the targets. The tanh is a
    child module so hooks and the app see it as the activation."""

    def __init__(self, amplitude: float = 1.7159, slope: float = 2 / 3):
        super().__init__()
        self.amplitude = amplitude
        self.slope = slope
        self.tanh = nn.Tanh()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.amplitude * self.tanh(self.slope * x)

    def extra_repr(self) -> str:
        return f"amplitude={self.amplitude}, slope={self.slope:.4f}"


class Subsampling(nn.Module):
    """S2/S4: each unit sums its 2×2 window, multiplies by a trainable coefficient and
    adds a trainable bias — two parameters per map. Here the coefficient multiplies the
    window's average (the sum's coefficient divided by four), so it starts at 1 and the
    layer starts as plain average pooling."""

    def __init__(self, channels: int):
        super().__init__()
        self.pool = nn.AvgPool2d(2)
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x) * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


# Table I of the paper: the S2 maps each C3 map reads. Maps 0–5 take three neighbouring
# maps, 6–11 four neighbouring maps, 12–14 four non-neighbouring ones, 15 all six.
C3_TABLE = (
    [[(i + k) % 6 for k in range(3)] for i in range(6)]
    + [[(i + k) % 6 for k in range(4)] for i in range(6)]
    + [[0, 1, 3, 4], [1, 2, 4, 5], [0, 2, 3, 5]]
    + [list(range(6))]
)


class PartialConv2d(nn.Module):
    """A convolution where output map ``o`` sees only the input maps ``table[o]``.

    Only the kernels of real connections are parameters (60 for C3 → 1,516 with biases,
    as in the paper); forward scatters them into a dense weight whose other kernels are
    zero, so one ordinary convolution computes the layer.
    """

    def __init__(self, in_ch: int, table: list[list[int]], kernel_size: int):
        super().__init__()
        self.in_ch, self.out_ch, self.kernel_size = in_ch, len(table), kernel_size
        flat = [o * in_ch + i for o, inputs in enumerate(table) for i in inputs]
        self.register_buffer("index", torch.tensor(flat))
        self.weight = nn.Parameter(torch.empty(len(flat), kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.empty(self.out_ch))
        # Each kernel starts like the rest of the net: uniform in ±2.4 / fan-in of its map.
        fan_in = [len(inputs) * kernel_size**2 for inputs in table]
        per_kernel = torch.tensor([fan_in[o] for o, inputs in enumerate(table) for _ in inputs], dtype=torch.float)
        with torch.no_grad():
            self.weight.uniform_(-2.4, 2.4).div_(per_kernel.view(-1, 1, 1))
            self.bias.uniform_(-2.4, 2.4).div_(torch.tensor(fan_in, dtype=torch.float))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size
        dense = self.weight.new_zeros(self.out_ch * self.in_ch, k, k).index_copy(0, self.index, self.weight)
        return F.conv2d(x, dense.view(self.out_ch, self.in_ch, k, k), self.bias)

    def extra_repr(self) -> str:
        return f"{self.in_ch}, {self.out_ch}, kernel_size={self.kernel_size}, connections={self.index.numel()}"


def paper_uniform_(layer: nn.Conv2d | nn.Linear) -> None:
    """Appendix A's initialisation: weights and biases uniform in ±2.4 / fan-in, which
    keeps the weighted sums in the range where the squashing function is not saturated."""
    bound = 2.4 / layer.weight[0].numel()
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound)
        layer.bias.uniform_(-bound, bound)


class LeNet5(nn.Module):
    """LeNet-5 for 32×32 grey images, layers named as in the paper (C1, S2, C3, S4, C5,
    F6). The output layer is a ``Linear`` instead of the paper's Euclidean RBF units with
    fixed weights, so the net trains with cross-entropy like every other model here."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5)
        self.act1 = ScaledTanh()
        self.s2 = Subsampling(6)
        self.act2 = ScaledTanh()
        self.c3 = PartialConv2d(6, C3_TABLE, 5)
        self.act3 = ScaledTanh()
        self.s4 = Subsampling(16)
        self.act4 = ScaledTanh()
        self.c5 = nn.Conv2d(16, 120, 5)
        self.act5 = ScaledTanh()
        self.f6 = nn.Linear(120, 84)
        self.act6 = ScaledTanh()
        self.output = nn.Linear(84, num_classes)
        for layer in (self.c1, self.c5, self.f6, self.output):
            paper_uniform_(layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act2(self.s2(self.act1(self.c1(x))))
        x = self.act4(self.s4(self.act3(self.c3(x))))
        x = torch.flatten(self.act5(self.c5(x)), 1)
        return self.output(self.act6(self.f6(x)))


@register_model(
    "lenet5",
    family=LENET,
    variant="LeNet-5",
    input_size=(1, 32, 32),
    num_classes=10,
    small_input=True,
    paper_params=60_000,
    params_source="LeCun et al. 1998: the per-layer counts of Sec. II-B for C1–F6 sum to 60,000 (RBF output fixed)",
    stages=[("act1", 6, 1), ("act3", 16, 2), ("act5", 120, 4)],
    block="c3",
    notes=(
        "Layers C1–F6 follow the paper, including C3's partial connection table and the trainable "
        "subsampling of S2/S4. The output is a Linear layer (850 parameters) instead of the paper's "
        "fixed Euclidean RBF units, so it trains with cross-entropy; input is 32×32 grey (MNIST padded)."
    ),
)
def build_lenet5(num_classes: int) -> LeNet5:
    return LeNet5(num_classes)
