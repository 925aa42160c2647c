"""torchvision's ImageNet weights as registry entries, derived from the model cards.

A card that names its torchvision architecture (``torchvision="resnet50"``) gets one
entry per weights enum member of that architecture at the card's input size, with
torchvision's own URL, SHA-256 prefix, evaluation transforms and reported accuracy. Our
modules use torchvision's parameter names, so these files load without a mapping.
"""

from __future__ import annotations

import torch

from classifier.registry import get_card, list_models
from classifier.weights.entries import WeightEntry
from classifier.weights.preprocess import Preprocess

LICENSE = "BSD-3-Clause (torchvision); the weights follow ImageNet's terms of use"


# torchvision builds these with ``transform_input=True`` whenever it loads their ImageNet
# weights: they were trained on inputs scaled the original (TensorFlow) way, and the
# option rescales ImageNet-normalised input accordingly. Our builders have the option too.
TRANSFORM_INPUT = {"googlenet", "inception_v3"}


def _entry(model_name: str, weights) -> WeightEntry:
    t = weights.transforms()
    metrics = weights.meta.get("_metrics", {}).get("ImageNet-1K", {})
    digest = torch.hub.HASH_REGEX.search(weights.url.rsplit("/", 1)[-1])
    return WeightEntry(
        model=model_name,
        source="torchvision",
        source_model=get_card(model_name).torchvision,
        tag=weights.name,
        dataset="ImageNet-1k",
        num_classes=len(weights.meta["categories"]),
        preprocess=Preprocess(
            crop_size=(t.crop_size[0], t.crop_size[0]),
            resize_size=t.resize_size[0],
            mean=tuple(t.mean),
            std=tuple(t.std),
            interpolation=t.interpolation.value,
        ),
        url=weights.url,
        checksum=f"sha256:{digest.group(1)}" if digest else None,
        top1=metrics.get("acc@1"),
        top5=metrics.get("acc@5"),
        metric_source="torchvision's weights metadata",
        license=LICENSE,
        build={"transform_input": True} if get_card(model_name).torchvision in TRANSFORM_INPUT else {},
        notes=weights.meta.get("recipe", ""),
    )


def torchvision_entries() -> list[WeightEntry]:
    import torchvision

    entries = []
    for name in list_models():
        card = get_card(name)
        if not card.torchvision:
            continue
        for weights in torchvision.models.get_model_weights(card.torchvision):
            # weights whose smallest input exceeds the card's (ViT's SWAG at 384 px) need
            # another position embedding; weights without categories are feature extractors
            fits = min(card.input_size[1:]) >= max(weights.meta.get("min_size", (1, 1)))
            if fits and weights.meta.get("categories"):
                entries.append(_entry(name, weights))
    return entries
