"""A torch hub cache pre-filled with stand-in ImageNet weights, so tests exercise the
real ImageNet loading path (cache lookup, torch.load, strict load into our model)
without a download: each file is the state dict of a randomly initialised torchvision
model, saved under the name torchvision's weights URL gives it."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
import warnings
from pathlib import Path

import torch
import torchvision

from classifier import get_card
from classifier.weights.files import url_path
from classifier.weights.loading import imagenet_entry


@functools.cache
def torch_home() -> Path:
    """One temporary TORCH_HOME for the whole test session (set it with monkeypatch)."""
    home = Path(tempfile.mkdtemp(prefix="torch-home-"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    return home


@functools.cache
def prefilled(model_name: str, seed: int = 0) -> torch.nn.Module:
    """Write the stand-in weights for ``model_name`` into :func:`torch_home` and return
    the torchvision model they came from (eval mode). TORCH_HOME must point there."""
    assert Path(torch.hub.get_dir()).parent == torch_home(), "set TORCH_HOME to torch_home() first"
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # GoogLeNet's note on its future default init
        reference = torchvision.models.get_model(get_card(model_name).torchvision, weights=None).eval()
    path = url_path(imagenet_entry(model_name))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(reference.state_dict(), path)
    return reference


def torchvision_weights(model_name: str):
    """torchvision's own weights enum member behind the model's first ImageNet entry:
    the reference for class names and transforms."""
    entry = imagenet_entry(model_name)
    return torchvision.models.get_model_weights(entry.source_model)[entry.tag]
