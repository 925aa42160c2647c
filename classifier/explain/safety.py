"""One explanation at a time per model instance.

captum attaches hooks to modules (forward hooks to read a layer, backward hooks that
replace the ReLU gradient for deconvnet and guided backprop). Two explanations running
at once on the same module instance would see each other's hooks and both come out wrong;
so would a plain prediction that happened to run while another thread's hooks were on.
The app caches one model per choice and shares it between browser sessions, so every
entry point of this package holds the model's lock while it touches the model.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
import weakref
from typing import Iterator

from torch import nn

# captum announces on every deconvnet/guided-backprop call that it hooks the ReLUs; that
# is how those methods work, not a problem, and repeated on every click it is only noise.
warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU activations")

_locks: weakref.WeakKeyDictionary[nn.Module, threading.RLock] = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()


def model_lock(model: nn.Module) -> threading.RLock:
    """The lock belonging to ``model`` (re-entrant, so one explanation may call another)."""
    with _registry_lock:
        lock = _locks.get(model)
        if lock is None:
            lock = _locks[model] = threading.RLock()
        return lock


@contextlib.contextmanager
def exclusive(model: nn.Module) -> Iterator[nn.Module]:
    """Hold ``model`` for the duration of the block, in eval mode."""
    with model_lock(model):
        model.eval()
        yield model
