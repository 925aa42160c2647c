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


def layer_table(rows, functional: bool = False) -> list[dict]:
    """The Architectures page's layer table: one dict per row, one type per column.

    Function and method calls (``act1.mul``, ``s2.view``) are left out unless
    ``functional``: they repeat what the modules around them say and triple the length
    of a small net's table. Shapes read ``64×56×56`` (no batch axis); a row without a placed field (a
    parameter, a flattened vector) shows a dash, never "None"."""
    table = []
    for r in rows:
        if r.functional and not functional:
            continue
        shape = "×".join(map(str, r.output_shape)) if r.output_shape else "–"
        table.append({
            "name": r.name, "type": r.type, "output": shape, "params": r.params, "MACs": r.macs,
            "rf (px)": "–" if r.rf is None else rf_text(r.rf),
            "stride": "–" if r.stride is None else rf_text(r.stride),
            "note": r.note or "",
        })
    if not any(row["note"] for row in table):  # a column only where the analysis admits a gap
        for row in table:
            del row["note"]
    return table


def time_left(elapsed: float, fraction: float) -> str | None:
    """'about 40 s left' (or '3 min') at the pace so far; None before the pace is known
    (under 2 % done), when a guess would be noise."""
    if not 0.02 <= fraction < 1:
        return None
    seconds = elapsed * (1 - fraction) / fraction
    return f"about {seconds:.0f} s left" if seconds < 90 else f"about {seconds / 60:.0f} min left"
