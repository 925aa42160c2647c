"""What a set of weights expects its input to look like.

Every weights entry carries its own evaluation pipeline: the resize and crop it was
measured with, the interpolation, the per-channel mean and std, and for Caffe-era ports
the colour order (BGR) and value range (0–255). Feeding a net another pipeline's input
costs several points of top-1 without any error, so the pipeline travels with the
weights and the page shows the crop the network really sees.
"""

from __future__ import annotations

from dataclasses import dataclass

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torchvision is imported when an image is processed, not with the registry
    import torch
    from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Inception-style TF ports scale to [-1, 1].
INCEPTION_MEAN = INCEPTION_STD = (0.5, 0.5, 0.5)
# The CIFAR-10 training-set statistics most CIFAR code bases normalise with.
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)
# The ImageNet habit: resize the short side to crop/0.875 (256 for 224), then centre-crop.
CROP_FRACTION = 0.875


@dataclass(frozen=True)
class Preprocess:
    """Image → network input as the weights expect it: resize the short side, centre-crop,
    scale to [0, ``value_range``], reorder the channels, normalise per channel. ``crop`` is
    what the network sees, unnormalised, so the page can show it and draw receptive fields
    on it. ``mean`` and ``std`` are in the value range and channel order of the input."""

    crop_size: tuple[int, int]
    resize_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: str = "bilinear"
    channel_order: str = "RGB"
    value_range: float = 1.0

    @property
    def channels(self) -> int:
        return len(self.mean)

    @property
    def crop_fraction(self) -> float:
        return min(self.crop_size) / self.resize_size

    def crop(self, image: Image.Image) -> Image.Image:
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms import functional as TF

        image = image.convert("L" if self.channels == 1 else "RGB")
        image = TF.resize(image, self.resize_size, interpolation=InterpolationMode(self.interpolation), antialias=True)
        return TF.center_crop(image, list(self.crop_size))

    def tensor(self, cropped: Image.Image) -> torch.Tensor:
        """A cropped image (from :meth:`crop`) as a normalised batch of one."""
        from torchvision.transforms import functional as TF

        x = TF.pil_to_tensor(cropped).float() * (self.value_range / 255.0)
        if self.channel_order == "BGR":
            x = x.flip(0)
        return TF.normalize(x, list(self.mean), list(self.std)).unsqueeze(0)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return self.tensor(self.crop(image))

    def describe(self) -> str:
        h, w = self.crop_size
        mean = ", ".join(f"{m:.3g}" for m in self.mean)
        std = ", ".join(f"{s:.3g}" for s in self.std)
        resize = f"resize short side to {self.resize_size} ({self.interpolation})"
        scale = "" if self.value_range == 1.0 else f", values 0–{self.value_range:g}"
        order = "" if self.channel_order == "RGB" else f", {self.channel_order} channel order"
        return f"{resize}, centre-crop {h}×{w}{scale}{order}, mean ({mean}), std ({std})"

    def to_dict(self) -> dict:
        return {
            "input_size": [self.channels, *self.crop_size],
            "resize": self.resize_size,
            "crop_fraction": round(self.crop_fraction, 4),
            "interpolation": self.interpolation,
            "mean": list(self.mean),
            "std": list(self.std),
            "channel_order": self.channel_order,
            "value_range": self.value_range,
        }

    @classmethod
    def imagenet(
        cls,
        size: int = 224,
        crop_fraction: float = CROP_FRACTION,
        interpolation: str = "bilinear",
        mean: tuple[float, ...] = IMAGENET_MEAN,
        std: tuple[float, ...] = IMAGENET_STD,
        **options,
    ) -> Preprocess:
        """The usual evaluation pipeline: short side to ``size / crop_fraction``
        (rounded down, as timm and torchvision do), then a centre crop of ``size``."""
        return cls((size, size), int(size / crop_fraction), tuple(mean), tuple(std), interpolation, **options)

    @classmethod
    def for_input(cls, input_size: tuple[int, int, int], mean=None, std=None) -> Preprocess:
        """The default pipeline for an input size: ImageNet's crop ratio for large inputs,
        a plain resize for small (32×32-style) ones whose training data is not cropped."""
        c, h, w = input_size
        mean = tuple(mean) if mean is not None else (IMAGENET_MEAN if c == 3 else (0.5,) * c)
        std = tuple(std) if std is not None else (IMAGENET_STD if c == 3 else (0.5,) * c)
        resize = min(h, w) if min(h, w) <= 64 else round(min(h, w) / CROP_FRACTION)
        return cls((h, w), resize, mean, std)
