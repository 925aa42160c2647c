"""Reading checkpoints safely and fitting a state dict into a registered model.

Every file is read with ``torch.load(weights_only=True)``: tensors, numbers, strings and
containers only, so a pickle that would run code is refused. A state dict then loads
into our model with ``strict=True``; when it does not fit, the message lists the keys and
shapes that disagree.
"""

from __future__ import annotations

import io
import pickle
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from classifier.registry import create_model
from classifier.weights.files import WeightsError

# Facts of a training run's checkpoint worth a mention beside its weights.
SHOWN_FACTS = ("dataset", "init_weights", "epoch", "best_top1")


@dataclass
class Checkpoint:
    """What a checkpoint file held: the tensors, and metadata where it had any."""

    state_dict: dict[str, torch.Tensor]
    model_name: str | None = None
    class_names: list[str] | None = None
    input_size: tuple[int, int, int] | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    build: dict[str, Any] = field(default_factory=dict)  # builder options of the saved network


def read_state(data: bytes | Path, what: str) -> Any:
    """``torch.load`` with ``weights_only=True`` of file bytes or a path: tensors, numbers,
    strings and containers only. Anything else in the pickle (which is how a checkpoint
    would run code) is refused."""
    if (data.stat().st_size if isinstance(data, Path) else len(data)) == 0:
        raise WeightsError(f"{what} is empty.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on pickle protocols are not for the user
            return torch.load(
                data if isinstance(data, Path) else io.BytesIO(data), map_location="cpu", weights_only=True
            )
    except pickle.UnpicklingError as exc:
        lines = [line.strip() for line in str(exc).strip().splitlines()]
        code = next((line for line in lines if "GLOBAL" in line), None)
        if code:
            raise WeightsError(
                f"{what} holds Python objects other than tensors and plain data, which could run code when "
                f"loaded, so it was refused ({code.rstrip('.')}); save the model's state_dict() instead."
            ) from None
        # torch's own text here advises weights_only=False, which would run the file's code
        raise WeightsError(f"{what} is not a PyTorch checkpoint.") from None
    except (RuntimeError, EOFError, ValueError, OSError, AttributeError, IndexError, KeyError, TypeError) as exc:
        head = data.open("rb").read(2) if isinstance(data, Path) else data[:2]
        if head != b"PK":  # torch.save writes a zip archive; anything else is another kind of file
            raise WeightsError(f"{what} is not a PyTorch checkpoint.") from None
        reason = str(exc).strip().splitlines()[0].split(". ")[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"{what} is not a readable PyTorch checkpoint ({reason}).") from None


def _is_state_dict(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and bool(value)
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())
    )


def read_checkpoint(source: str | Path | bytes) -> Checkpoint:
    """Read a checkpoint (path or uploaded bytes) safely, with or without metadata."""
    if isinstance(source, bytes):
        data, what = source, "The uploaded checkpoint"
    else:
        data, what = Path(source), f"The checkpoint {Path(source).name}"
        if not data.is_file():
            raise WeightsError(f"The checkpoint {data} does not exist or is not a file.")
    loaded = read_state(data, what)
    if _is_state_dict(loaded):
        return Checkpoint(state_dict=normalise_keys(loaded))
    if not isinstance(loaded, dict):
        raise WeightsError(f"{what} holds a {type(loaded).__name__}, not a state dict.")
    state = next((loaded[k] for k in ("state_dict", "model_state", "model") if _is_state_dict(loaded.get(k))), None)
    if state is None:
        raise WeightsError(f"{what} has no state dict (no 'state_dict' entry of named tensors).")
    name = loaded.get("model_name", loaded.get("model") if isinstance(loaded.get("model"), str) else None)
    size = loaded.get("input_size")
    return Checkpoint(
        state_dict=normalise_keys(state),
        model_name=name,
        class_names=list(loaded["class_names"]) if loaded.get("class_names") else None,
        input_size=tuple(int(v) for v in size) if size else None,
        mean=tuple(loaded["mean"]) if loaded.get("mean") else None,
        std=tuple(loaded["std"]) if loaded.get("std") else None,
        extra={k: loaded[k] for k in SHOWN_FACTS if isinstance(loaded.get(k), (int, float, str))},
        build=dict(loaded["build"]) if isinstance(loaded.get("build"), dict) else {},
    )


# Old torchvision DenseNet files name a layer's parts "norm.1" where the module says "norm1".
_LEGACY_DENSENET = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)


def normalise_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Undo wrappers' prefixes (DistributedDataParallel's ``module.``, torch.compile's
    ``_orig_mod.``) and old DenseNet key names, so a sound checkpoint loads as saved."""
    out = {}
    for key, value in state.items():
        for prefix in ("module.", "_orig_mod."):
            if key.startswith(prefix):
                key = key[len(prefix) :]
        m = _LEGACY_DENSENET.match(key)
        out[m.group(1) + m.group(2) if m else key] = value
    return out


def mismatch(model: nn.Module, state: dict[str, torch.Tensor]) -> str | None:
    """Missing keys, unexpected keys and shape mismatches between a model and a state
    dict, as one message (the first few of each), or None when they fit exactly."""
    own = model.state_dict()

    def listed(keys: list[str], limit: int = 6) -> str:
        more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
        return ", ".join(keys[:limit]) + more

    # BatchNorm fills in a missing step counter itself (files older than PyTorch 0.4.1 lack it)
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(state[k].shape)} in the file vs {tuple(own[k].shape)} in the model"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    parts = []
    if missing:
        parts.append(f"missing keys: {listed(missing)}")
    if unexpected:
        parts.append(f"unexpected keys: {listed(unexpected)}")
    if shapes:
        parts.append(f"shape mismatches: {listed(shapes, 4)}")
    return "; ".join(parts) or None


def build_with(
    model_name: str, state: dict[str, torch.Tensor], num_classes: int | None = None, **options
) -> nn.Module:
    """Our registered model holding exactly ``state`` (``strict=True``).

    The model is built on the meta device and takes the loaded tensors as they are, which
    skips a random initialisation that would be overwritten anyway (seconds for VGG)."""
    # float32 like a freshly built model, whatever precision the file was saved in
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    with torch.device("meta"):
        model = create_model(model_name, num_classes=num_classes, **options)
    problem = mismatch(model, state)
    if problem:
        raise WeightsError(f"The weights do not fit {model_name}: {problem}.")
    model.load_state_dict(state, strict=True, assign=True)
    if any(t.is_meta for t in (*model.parameters(), *model.buffers())):
        # a buffer the state dict does not carry (non-persistent) must be computed for real
        model = create_model(model_name, num_classes=num_classes, **options)
        model.load_state_dict(state, strict=True)
    return model.eval()


def last_linear_outputs(model_name: str, state: dict[str, torch.Tensor]) -> int | None:
    """The class count a bare state dict was trained for, read off its final linear layer."""
    with torch.device("meta"):
        model = create_model(model_name)
    last = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    weight = state.get(f"{last[-1]}.weight") if last else None
    return int(weight.shape[0]) if weight is not None and weight.dim() == 2 else None
