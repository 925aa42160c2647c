"""Convolution arithmetic: output size, parameters, MACs and receptive field of one
convolution, and the transposed convolution that runs it backwards (ZFNet's "deconv").

The formulas are the standard ones (Dumoulin & Visin, "A guide to convolution arithmetic",
arXiv 1603.07285); the tests check them against torch's own layers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConvSpec:
    in_size: int
    in_channels: int
    out_channels: int
    kernel: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    groups: int = 1
    bias: bool = True

    @property
    def effective_kernel(self) -> int:
        """Dilation spreads k taps over d·(k−1)+1 pixels."""
        return self.dilation * (self.kernel - 1) + 1

    @property
    def out_size(self) -> int:
        return (self.in_size + 2 * self.padding - self.effective_kernel) // self.stride + 1

    @property
    def params(self) -> int:
        per_filter = (self.in_channels // self.groups) * self.kernel * self.kernel
        return self.out_channels * per_filter + (self.out_channels if self.bias else 0)

    @property
    def macs(self) -> int:
        """Each output value needs one multiply–accumulate per weight of its filter."""
        return self.out_size**2 * self.out_channels * (self.in_channels // self.groups) * self.kernel**2

    @property
    def receptive_field(self) -> int:
        """Input pixels one output unit sees (for a single layer: the dilated kernel)."""
        return self.effective_kernel

    def validate(self) -> str | None:
        """A sentence saying what is wrong with the settings, or None."""
        if self.in_channels % self.groups or self.out_channels % self.groups:
            return f"groups={self.groups} must divide both channel counts ({self.in_channels}, {self.out_channels})."
        if self.out_size < 1:
            return f"the dilated kernel ({self.effective_kernel}) does not fit the padded input ({self.in_size + 2 * self.padding})."
        return None

    def window_positions(self, limit: int = 3) -> list[tuple[int, int]]:
        """Top-left corners (row, col), in padded-input coordinates, of the first output
        units' windows along the top rows — what the sliding-window picture draws."""
        steps = range(min(limit, self.out_size))
        return [(r * self.stride, c * self.stride) for r in steps for c in steps]


def transposed_out_size(in_size: int, kernel: int, stride: int = 1, padding: int = 0, output_padding: int = 0, dilation: int = 1) -> int:
    """Output side of ``nn.ConvTranspose2d``: the inverse of the conv size formula, so a
    transposed conv maps a conv's output shape back to its input shape."""
    return (in_size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1
