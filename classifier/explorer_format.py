"""Small formatting helpers shared by the CLI and the app pages."""

from __future__ import annotations


def human_count(value: float | int | None) -> str:
    """12_345_678 → '12.3M'; keeps three significant figures for readability."""
    if value is None:
        return "—"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{unit}"
    return str(int(value))


def rf_text(rf) -> str:
    """A receptive field as '212 px / stride 32'; 'global' when it spans the whole input."""
    if rf is None:
        return "global"
    size, stride = rf.size, rf.stride
    size = size if isinstance(size, int) or size[0] != size[1] else size[0]
    stride = stride if isinstance(stride, int) or stride[0] != stride[1] else stride[0]
    return f"{size} px / stride {stride}"
