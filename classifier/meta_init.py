"""Building a model on the meta device without running its weight initialisation.

Kept apart from the registry, which must import without torch: ``python -m classifier
list`` reads the card index and never needs a tensor.
"""

from __future__ import annotations

import torch
from torch.overrides import TorchFunctionMode


class SkipInitOnMeta(TorchFunctionMode):
    """Turn in-place updates of meta tensors into no-ops while a model is built.

    A meta tensor has a shape and no values, yet ``nn.init``'s in-place draws (uniform_,
    normal_, erfinv_ …) still run through Python decompositions at milliseconds a call:
    most of the build time of a 1000-layer net. Skipping them changes no shape.
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        in_place = name.endswith("_") and not name.startswith("__")
        if in_place and args and isinstance(args[0], torch.Tensor) and args[0].is_meta:
            return args[0]
        return func(*args, **(kwargs or {}))
