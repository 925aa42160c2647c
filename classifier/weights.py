"""Weights for a registered model, from three sources behind one call.

:func:`load_weights` returns a :class:`LoadedModel`: the network in eval mode with the
class names, the preprocessing its weights expect and a plain-words description, from

- ``"imagenet"``: torchvision's ImageNet weights for every model whose card names a
  torchvision architecture, downloaded once into the torch hub cache (with a progress
  callback) and loaded into *our* module with ``strict=True``;
- a checkpoint: a training run's file (a path) or one the user uploads (bytes), read
  with ``torch.load(weights_only=True)`` only, so a pickle that would run code is refused;
- ``"random"``: the untrained initialisation, which the description says plainly.

Training runs' checkpoints (:mod:`classifier.train.checkpoint`) carry the model name, class
names, input size and normalisation next to ``model_state``; a bare state dict (from
another tool, or ``torch.save(model.state_dict())``) is accepted too.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import re
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
import torchvision
from PIL import Image
from torch import nn
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

from classifier.data.download import Progress
from classifier.data.download import _stream as stream_to_file
from classifier.registry import create_model, get_card

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The ImageNet habit: resize the short side to crop/0.875 (256 for 224), then centre-crop.
CROP_FRACTION = 0.875
RANDOM_SEED = 0
# Facts of a training run's checkpoint worth a mention beside its weights.
SHOWN_FACTS = ("dataset", "epoch", "best_top1")


class WeightsError(ValueError):
    """Weights that cannot be used; ``str(error)`` is a message for the page."""


@dataclass(frozen=True)
class Preprocess:
    """Image → network input as the weights expect it: resize the short side, centre-crop,
    scale to [0, 1], normalise per channel. ``crop`` is what the network sees, unnormalised,
    so the page can show it and draw receptive fields on it."""

    crop_size: tuple[int, int]
    resize_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: str = "bilinear"

    @property
    def channels(self) -> int:
        return len(self.mean)

    def crop(self, image: Image.Image) -> Image.Image:
        image = image.convert("L" if self.channels == 1 else "RGB")
        image = TF.resize(image, self.resize_size, interpolation=InterpolationMode(self.interpolation), antialias=True)
        return TF.center_crop(image, list(self.crop_size))

    def tensor(self, cropped: Image.Image) -> torch.Tensor:
        """A cropped image (from :meth:`crop`) as a normalised batch of one."""
        x = TF.pil_to_tensor(cropped).float().div_(255.0)
        return TF.normalize(x, list(self.mean), list(self.std)).unsqueeze(0)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return self.tensor(self.crop(image))

    def describe(self) -> str:
        h, w = self.crop_size
        mean = ", ".join(f"{m:.3f}" for m in self.mean)
        std = ", ".join(f"{s:.3f}" for s in self.std)
        resize = f"resize short side to {self.resize_size} ({self.interpolation})"
        return f"{resize}, centre-crop {h}×{w}, mean ({mean}), std ({std})"

    @classmethod
    def for_input(cls, input_size: tuple[int, int, int], mean=None, std=None) -> Preprocess:
        """The default pipeline for an input size: ImageNet's crop ratio for large inputs,
        a plain resize for small (32×32-style) ones whose training data is not cropped."""
        c, h, w = input_size
        mean = tuple(mean) if mean is not None else (IMAGENET_MEAN if c == 3 else (0.5,) * c)
        std = tuple(std) if std is not None else (IMAGENET_STD if c == 3 else (0.5,) * c)
        resize = min(h, w) if min(h, w) <= 64 else round(min(h, w) / CROP_FRACTION)
        return cls((h, w), resize, mean, std)


@dataclass
class LoadedModel:
    """A model ready to explain: weights loaded, eval mode, and everything needed to feed
    it an image and name its outputs."""

    name: str
    model: nn.Module
    class_names: list[str]
    preprocess: Preprocess
    input_size: tuple[int, int, int]
    description: str
    pretrained: bool
    source: str  # "imagenet", "random" or "checkpoint"


# --- ImageNet weights through torchvision's weight enums --------------------------------


def imagenet_weights(model_name: str):
    """torchvision's default ImageNet weights entry for a registered model, or None."""
    tv_name = get_card(model_name).torchvision
    if not tv_name:
        return None
    try:
        return torchvision.models.get_model_weights(tv_name).DEFAULT
    except (ValueError, KeyError, AttributeError):
        return None


def cache_path(weights) -> Path:
    """Where torch.hub keeps (or will keep) this weights file."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(weights.url).path)


def download_imagenet(model_name: str, progress: Progress | None = None) -> Path:
    """Make sure the ImageNet weights file is in the torch cache; download it otherwise,
    reporting ``progress(file name, bytes so far, total or None)`` and checking
    torchvision's hash in the name."""
    weights = imagenet_weights(model_name)
    if weights is None:
        raise WeightsError(f"{model_name} has no torchvision counterpart, so there are no ImageNet weights for it.")
    dest = cache_path(weights)
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        _download(weights.url, dest, progress)
    except (OSError, urllib.error.URLError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WeightsError(
            f"The ImageNet weights for {model_name} are not in the torch cache ({dest}) and could not be "
            f"downloaded from {weights.url}: {reason}."
        ) from None
    return dest


def _download(url: str, dest: Path, progress: Progress | None) -> None:
    """Stream ``url`` to ``dest`` (through a partial file, as the dataset downloads do) and
    check the SHA-256 prefix torchvision puts in the file name before moving it into place,
    so a broken download never sits where the cache would trust it."""
    expected = torch.hub.HASH_REGEX.search(dest.name)
    partial = dest.with_name(dest.name + ".part")
    try:
        stream_to_file(url, partial, dest.name, progress)
        digest = hashlib.sha256()
        with open(partial, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        if expected and not digest.hexdigest().startswith(expected.group(1)):
            raise OSError(f"the file's SHA-256 does not start with {expected.group(1)}")
        os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)


def _imagenet_build_options(model_name: str) -> dict[str, Any]:
    """Builder options torchvision turns on whenever it loads these weights.

    GoogLeNet's and Inception v3's ImageNet weights were trained on inputs scaled the
    original (TensorFlow) way; torchvision builds them with ``transform_input=True`` to
    rescale ImageNet-normalised input accordingly, and so do we where our builder has
    the option."""
    try:
        with torch.device("meta"):
            create_model(model_name, transform_input=True)
    except TypeError as exc:
        if "transform_input" in str(exc):
            return {}
        raise
    return {"transform_input": True}


def _load_imagenet(model_name: str, progress: Progress | None) -> LoadedModel:
    path = download_imagenet(model_name, progress)
    weights = imagenet_weights(model_name)
    state = _read_state(path, what=f"The cached ImageNet weights file {path}")
    model = _build_with(
        model_name,
        _normalise_keys(state),
        num_classes=len(weights.meta["categories"]),
        **_imagenet_build_options(model_name),
    )
    t = weights.transforms()
    preprocess = Preprocess(
        crop_size=(t.crop_size[0], t.crop_size[0]),
        resize_size=t.resize_size[0],
        mean=tuple(t.mean),
        std=tuple(t.std),
        interpolation=t.interpolation.value,
    )
    top1 = weights.meta.get("_metrics", {}).get("ImageNet-1K", {}).get("acc@1")
    acc = f", {top1:.1f}% top-1 on ImageNet" if top1 else ""
    return LoadedModel(
        name=model_name,
        model=model,
        class_names=list(weights.meta["categories"]),
        preprocess=preprocess,
        input_size=(preprocess.channels, *preprocess.crop_size),
        description=f"ImageNet-1k weights from torchvision ({weights}{acc}).",
        pretrained=True,
        source="imagenet",
    )


# --- checkpoints ------------------------------------------------------------------------


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


def _read_state(data: bytes | Path, what: str) -> Any:
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
        raise WeightsError(
            f"{what} is not a PyTorch checkpoint that can be read safely ({lines[0] if lines else 'unreadable'})."
        ) from None
    except (RuntimeError, EOFError, ValueError, OSError, AttributeError, IndexError, KeyError, TypeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
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
    loaded = _read_state(data, what)
    if _is_state_dict(loaded):
        return Checkpoint(state_dict=_normalise_keys(loaded))
    if not isinstance(loaded, dict):
        raise WeightsError(f"{what} holds a {type(loaded).__name__}, not a state dict.")
    state = next((loaded[k] for k in ("state_dict", "model_state", "model") if _is_state_dict(loaded.get(k))), None)
    if state is None:
        raise WeightsError(f"{what} has no state dict (no 'state_dict' entry of named tensors).")
    name = loaded.get("model_name", loaded.get("model") if isinstance(loaded.get("model"), str) else None)
    size = loaded.get("input_size")
    return Checkpoint(
        state_dict=_normalise_keys(state),
        model_name=name,
        class_names=list(loaded["class_names"]) if loaded.get("class_names") else None,
        input_size=tuple(int(v) for v in size) if size else None,
        mean=tuple(loaded["mean"]) if loaded.get("mean") else None,
        std=tuple(loaded["std"]) if loaded.get("std") else None,
        extra={k: loaded[k] for k in SHOWN_FACTS if isinstance(loaded.get(k), (int, float, str))},
    )


# Old torchvision DenseNet files name a layer's parts "norm.1" where the module says "norm1".
_LEGACY_DENSENET = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)


def _normalise_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
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


def _mismatch(model: nn.Module, state: dict[str, torch.Tensor]) -> str | None:
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


def _build_with(
    model_name: str, state: dict[str, torch.Tensor], num_classes: int | None = None, **options
) -> nn.Module:
    """Our registered model holding exactly ``state`` (``strict=True``).

    The model is built on the meta device and takes the loaded tensors as they are, which
    skips a random initialisation that would be overwritten anyway (seconds for VGG)."""
    # float32 like a freshly built model, whatever precision the file was saved in
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    with torch.device("meta"):
        model = create_model(model_name, num_classes=num_classes, **options)
    problem = _mismatch(model, state)
    if problem:
        raise WeightsError(f"The weights do not fit {model_name}: {problem}.")
    model.load_state_dict(state, strict=True, assign=True)
    if any(t.is_meta for t in (*model.parameters(), *model.buffers())):
        # a buffer the state dict does not carry (non-persistent) must be computed for real
        model = create_model(model_name, num_classes=num_classes, **options)
        model.load_state_dict(state, strict=True)
    return model.eval()


def _last_linear_outputs(model_name: str, state: dict[str, torch.Tensor]) -> int | None:
    """The class count a bare state dict was trained for, read off its final linear layer."""
    with torch.device("meta"):
        model = create_model(model_name)
    last = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    weight = state.get(f"{last[-1]}.weight") if last else None
    return int(weight.shape[0]) if weight is not None and weight.dim() == 2 else None


def _load_checkpoint(model_name: str | None, source: str | Path | bytes) -> LoadedModel:
    ckpt = read_checkpoint(source)
    name = model_name or ckpt.model_name
    if name is None:
        raise WeightsError("The checkpoint does not say which model it is for; choose the model first.")
    if model_name and ckpt.model_name and ckpt.model_name != model_name:
        raise WeightsError(f"The checkpoint is for {ckpt.model_name}, not {model_name}.")
    card = get_card(name)
    num_classes = len(ckpt.class_names) if ckpt.class_names else _last_linear_outputs(name, ckpt.state_dict)
    model = _build_with(name, ckpt.state_dict, num_classes=num_classes)
    num_classes = num_classes or card.num_classes
    class_names = ckpt.class_names or default_class_names(num_classes)
    input_size = ckpt.input_size or card.input_size
    base = Preprocess.for_input(input_size, ckpt.mean, ckpt.std)
    origin = Path(source).name if not isinstance(source, bytes) else "an uploaded file"
    facts = ", ".join(
        f"{k.replace('_', ' ')} {v:.4g}" if isinstance(v, float) else f"{k.replace('_', ' ')} {v}"
        for k, v in ckpt.extra.items()
    )
    return LoadedModel(
        name=name,
        model=model,
        class_names=class_names,
        preprocess=base,
        input_size=tuple(input_size),
        description=f"Checkpoint from {origin}" + (f" ({facts})" if facts else "") + f": {len(class_names)} classes.",
        pretrained=True,
        source="checkpoint",
    )


# --- one entry point ----------------------------------------------------------------------


def default_class_names(num_classes: int) -> list[str]:
    """ImageNet's category names for 1000 classes (from torchvision's metadata), else
    numbered classes."""
    if num_classes == 1000:
        return list(torchvision.models.AlexNet_Weights.IMAGENET1K_V1.meta["categories"])
    return [f"class {i}" for i in range(num_classes)]


def _load_random(model_name: str) -> LoadedModel:
    card = get_card(model_name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_SEED)  # the same "untrained" net every time, so results repeat
        model = create_model(model_name)
    return LoadedModel(
        name=model_name,
        model=model,
        class_names=default_class_names(card.num_classes),
        preprocess=Preprocess.for_input(card.input_size),
        input_size=card.input_size,
        description=(
            f"Random initialisation (seed {RANDOM_SEED}): the network is untrained, so its predictions "
            "and explanations show the architecture, not anything learned."
        ),
        pretrained=False,
        source="random",
    )


def load_weights(
    model_name: str | None, source: str | Path | bytes = "random", progress: Progress | None = None
) -> LoadedModel:
    """Load ``model_name`` with weights from ``source``.

    ``source`` is ``"imagenet"`` (torchvision's weights; ``progress(name, done, total)``
    hears about a download), ``"random"``, a checkpoint path (a training run's), or the bytes of
    an uploaded checkpoint. ``model_name`` may be None for a checkpoint that names its
    model. Raises :class:`WeightsError` with a message for the user when it cannot.
    """
    if source == "imagenet":
        return _load_imagenet(model_name, progress)
    if source == "random":
        return _load_random(model_name)
    return _load_checkpoint(model_name, source)
