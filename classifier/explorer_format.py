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


def _one(v):
    """An (H, W) pair that agrees collapses to one number."""
    return v[0] if isinstance(v, tuple) and len(set(v)) == 1 else v


def rf_text(value) -> str:
    """A receptive field or stride as '212', or '7×11' for an (H, W) pair that differs;
    'global' when the field spans the whole input (None)."""
    if value is None:
        return "global"
    value = _one(value)
    return "×".join(map(str, value)) if isinstance(value, tuple) else str(value)
