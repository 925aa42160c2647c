"""The whole zoo in one table: year, parameters and MACs of every registered model,
for the overview chart on the Architectures page."""

from __future__ import annotations

from typing import Callable

from classifier.analysis import analyze
from classifier.registry import get_card, list_models

Progress = Callable[[int, int, str], None]

# The zoo's families grouped into the lines of work they belong to: seven colours a
# reader can tell apart, where one colour per family (38 of them) would repeat colours
# and overflow the legend. The family itself is in each point's hover text.
LINES = {
    "Early CNNs": ("LeNet", "AlexNet", "ZFNet", "VGG", "NIN", "Highway Network"),
    "Inception line": ("GoogLeNet", "BN-Inception", "Inception-v3", "Inception-v4", "Xception"),
    "Residual nets": ("ResNet", "Pre-activation ResNet", "ResNeXt", "Wide ResNet", "Stochastic Depth", "SENet", "DPN"),
    "Dense connections": ("DenseNet", "CondenseNet", "MSDNet", "CliqueNet"),
    "Searched architectures": ("NASNet", "ENAS", "AmoebaNet", "MnasNet", "EfficientNet"),
    "Lightweight nets": ("SqueezeNet", "MobileNet v1", "MobileNet v2", "MobileNet v3", "ShuffleNet v1",
                         "ShuffleNet v2", "IGCV1", "IGCV2", "IGCV3"),
    "Transformers": ("ViT",),
}
LINE_OF = {family: line for line, families in LINES.items() for family in families}


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
                "line": LINE_OF[card.family.name],
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
