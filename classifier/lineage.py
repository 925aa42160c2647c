"""The Inception lineage from GoogLeNet to Inception-ResNet, as data for a "lineage" view.

Each step names the registered model that stands for it, what changed from the step
before, and (through the model's card) the submodule holding one representative block,
so a page can draw the blocks side by side with the analysis graph's
``subgraph_dot(step.block)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from classifier.registry import get_card


@dataclass(frozen=True)
class LineageStep:
    model: str
    title: str
    change: str

    @property
    def block(self) -> str:
        """Module path of the representative block, as on the model's card."""
        block = get_card(self.model).block
        assert block, f"{self.model} has no block on its card"
        return block


INCEPTION_LINEAGE: tuple[LineageStep, ...] = (
    LineageStep(
        "googlenet",
        "Inception-v1 (GoogLeNet, 2014)",
        "Parallel 1×1, 3×3, 5×5 and max-pool paths concatenated, with 1×1 convs shrinking channels first.",
    ),
    LineageStep(
        "inception_v2",
        "BN-Inception (2015)",
        "BatchNorm after every conv; the 5×5 path becomes two 3×3 convs; grid reductions move into modules.",
    ),
    LineageStep(
        "inception_v3",
        "Inception-v3 (2015)",
        "Larger kernels factorised into 1×n and n×1 pairs; reductions run strided convs and pooling in parallel.",
    ),
    LineageStep(
        "inception_v4",
        "Inception-v4 (2016)",
        "One uniform, deeper design: a branching stem, then fixed A/B/C modules with dedicated reduction blocks.",
    ),
    LineageStep(
        "inception_resnet_v1",
        "Inception-ResNet-v1 (2016)",
        "Each module becomes a residual branch: a linear 1×1 projection, scaled by 0.1–0.3, added to its input.",
    ),
    LineageStep(
        "inception_resnet_v2",
        "Inception-ResNet-v2 (2016)",
        "The residual design widened and deepened to Inception-v4's cost (40 residual modules).",
    ),
)
