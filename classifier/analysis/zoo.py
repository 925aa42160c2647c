"""The whole zoo in one table: year, parameters and MACs of every registered model,
for the overview chart on the Architectures page."""

from __future__ import annotations

from typing import Callable

from classifier.analysis import analyze
from classifier.registry import get_card, list_models

Progress = Callable[[int, int, str], None]


def zoo_overview(progress: Progress | None = None) -> list[dict]:
    """One row per registered model at its card's input size.

    Results come from :func:`analyze`'s cache after the first call, so the chart is cheap
    to redraw; ``progress(done, total, name)`` reports each model as it is analysed.
    """
    names = list_models()
    rows = []
    for i, name in enumerate(names, start=1):
        card = get_card(name)
        a = analyze(name)
        rows.append(
            {
                "name": name,
                "family": card.family.name,
                "variant": card.variant,
                "year": card.year,
                "params": a.params,
                "macs": a.macs,
                "input": "×".join(map(str, card.input_size[1:])),
                "small_input": card.small_input,
            }
        )
        if progress:
            progress(i, len(names), name)
    return rows
