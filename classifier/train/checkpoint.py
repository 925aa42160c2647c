"""Checkpoints: a plain dict of tensors and JSON-like values, so they load with
``torch.load(weights_only=True)`` and never run code from the file.

A checkpoint carries everything needed to use the model without the run directory:
the registered model name, class names, input size and normalisation; ``last.pt`` also
carries the optimizer, scheduler and gradient-scaler state and the position in the run
(epoch, step, batch within the epoch) that resuming continues from. ``build`` holds the
builder options of the network saved in ``model_state`` (empty for the form training
builds; CondenseNet's best.pt is its converted network, see the engine's model hooks).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import torch
from torch import nn

from classifier.registry import create_model
from classifier.train.runs import atomic_write_bytes

FORMAT = "classifier-explorer-checkpoint/1"


def save_checkpoint(path: str | os.PathLike, payload: dict) -> None:
    """Write ``payload`` atomically (temporary file, fsync, rename)."""
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **payload}, buffer)
    atomic_write_bytes(Path(path), buffer.getvalue(), durable=True)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    data = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path} is not a Classifier Explorer checkpoint")
    return data


def model_from_checkpoint(path: str | os.PathLike) -> tuple[nn.Module, dict]:
    """The trained model (eval mode, CPU) and the checkpoint's other facts."""
    ckpt = load_checkpoint(path)
    model = create_model(ckpt["model"], num_classes=len(ckpt["class_names"]), **ckpt.get("build", {}))
    model.load_state_dict(ckpt["model_state"])
    return model.eval(), ckpt
