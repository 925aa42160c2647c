"""How do several nets see one image? Their predictions, their feature maps lined up by
stride, one attribution method for each, and how far they agree — plus the batches of
images that layer similarity (:mod:`classifier.cka`) and feature evolution
(:mod:`classifier.feature_evolution`) are measured over.

    views = [look(load_weights(n, "random"), picture) for n in ("resnet18", "vit_b_16")]
    explanations = [explain(v, "gradcam") for v in views]
    agreement(views, explanations).summary()
"""

from classifier.compare.agreement import Agreement, agreement, common_region, ranks, resample, spearman
from classifier.compare.export import comparison_image
from classifier.compare.image_sets import SOURCES, batch, digit_set, sample_set, uploaded_set
from classifier.compare.views import (
    LAST,
    METHODS,
    Explanation,
    ModelView,
    StageMaps,
    StageSpec,
    explain,
    frame,
    look,
    stage_maps,
    stage_specs,
    stride_rows,
)

__all__ = [
    "Agreement", "Explanation", "LAST", "METHODS", "ModelView", "SOURCES", "StageMaps", "StageSpec", "agreement",
    "batch", "common_region", "comparison_image", "digit_set", "explain", "frame", "look", "ranks", "resample",
    "sample_set", "spearman", "stage_maps", "stage_specs", "stride_rows", "uploaded_set",
]
