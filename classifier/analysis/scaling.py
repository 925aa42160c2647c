"""EfficientNet's compound scaling as numbers: what a given φ does to depth, width,
resolution, parameters and MACs (for the Architectures page's φ control)."""

from __future__ import annotations

from functools import lru_cache

import torch

from classifier.analysis import analyze
from classifier.models.efficientnet import compound_scaling
from classifier.registry import create_model


@lru_cache(maxsize=64)
def efficientnet_at_phi(phi: float) -> dict:
    """Build EfficientNet-B0 scaled by φ (α=1.2, β=1.1, γ=1.15) on the meta device and
    measure it at its scaled resolution."""
    s = compound_scaling(phi)
    with torch.device("meta"):
        model = create_model("efficientnet_b0", **s.builder_kwargs)
    a = analyze(model, input_size=(3, s.resolution, s.resolution))
    return {
        "phi": phi,
        "depth_mult": s.depth_mult,
        "width_mult": s.width_mult,
        "resolution": s.resolution,
        "params": a.params,
        "macs": a.macs,
        "depth": a.depth,
    }
