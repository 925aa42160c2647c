"""Building a model on the meta device without running its weight initialisation.

Kept apart from the registry, which must import without torch: ``python -m classifier
list`` reads the card index and never needs a tensor.
"""

from __future__ import annotations

import torch
from torch.utils._device import DeviceContext, _device_constructors


class SkipInitOnMeta(DeviceContext):
    """Build on the meta device, with in-place updates of meta tensors turned into no-ops.

    A meta tensor has a shape and no values, yet ``nn.init``'s in-place draws (uniform_,
    normal_, erfinv_ …) still run through Python decompositions at milliseconds a call:
    most of the build time of a 1000-layer net. Skipping them changes no shape.

    ``nn.init``'s functions hand themselves to the mode with the tensor as a keyword
    (``handle_torch_function(kaiming_uniform_, (tensor,), tensor=tensor, …)``), so the
    target is looked for there too: otherwise ``kaiming_uniform_`` would run its body,
    and the ``uniform_`` inside it, under the device mode alone.

    It is ``torch.device("meta")``'s own mode (a ``DeviceContext``) with the skip added,
    not a second mode on top of it: while a model is built every torch call, down to
    ``tensor.dim()``, passes through each active mode's Python handler, and entering a
    ``DeviceContext`` stands in for the one already active (``with torch.device("meta"),
    SkipInitOnMeta()`` leaves one mode on the stack), which takes about a quarter off
    PreAct-1001's build.
    """

    def __init__(self) -> None:
        super().__init__("meta")

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name.endswith("_") and not name.startswith("__"):
            target = args[0] if args else kwargs.get("tensor")
            if isinstance(target, torch.Tensor) and target.is_meta:
                return target
        if func in _device_constructors() and kwargs.get("device") is None:
            kwargs["device"] = self.device
        return func(*args, **kwargs)
