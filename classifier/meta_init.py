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

    ``nn.init``'s functions hand themselves to the mode with the tensor as a keyword
    (``handle_torch_function(kaiming_uniform_, (tensor,), tensor=tensor, …)``), so the
    target is looked for there too: otherwise ``kaiming_uniform_`` would run its body,
    and the ``uniform_`` inside it, under the device mode alone.
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name.endswith("_") and not name.startswith("__"):
            target = args[0] if args else kwargs.get("tensor")
            if isinstance(target, torch.Tensor) and target.is_meta:
                return target
        return func(*args, **kwargs)
