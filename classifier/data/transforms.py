"""Per-sample transforms: channel and size matching, augmentation presets, normalisation.

Images stay uint8 until the last step, where they become floats normalised with the
dataset's channel statistics. Augmentation follows what each kind of image tolerates:
digits and letters change meaning when mirrored, so they get small shifts, rotations
and scalings; objects and photos get the classic random crop plus horizontal flip.
``flip`` is the mirror alone, the original project's CIFAR augmentation (for its
table, bench/cifar_table.py); strokes stay unmirrored under it too.
"""

from __future__ import annotations

import torch
from torchvision.transforms import v2

AUGMENTATIONS = ("none", "flip", "standard", "strong")


class MatchChannels(torch.nn.Module):
    """Grey to RGB by repetition, RGB to grey by ITU-R 601 luma; other counts pass."""

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-3] == self.channels:
            return x
        if x.shape[-3] == 1:
            return x.expand(*x.shape[:-3], self.channels, *x.shape[-2:])
        if self.channels == 1:
            return v2.functional.rgb_to_grayscale(x)
        raise ValueError(f"cannot turn {x.shape[-3]} channels into {self.channels}")


def match_stats(values: tuple[float, ...], channels: int) -> tuple[float, ...]:
    """Channel statistics for ``channels`` channels: grey repeats, RGB averages."""
    if len(values) == channels:
        return tuple(values)
    if len(values) == 1:
        return tuple(values) * channels
    return (sum(values) / len(values),)


def augmentation(kind: str, preset: str, size: tuple[int, int]) -> list[torch.nn.Module]:
    """The random transforms of ``preset`` for images of ``kind`` (see catalog)."""
    if preset not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {preset!r}; choose from {', '.join(AUGMENTATIONS)}")
    if preset == "none" or (preset == "flip" and kind == "strokes"):
        return []
    if preset == "flip":
        return [v2.RandomHorizontalFlip()]
    if kind == "strokes":
        steps = [v2.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1))]
    elif kind == "objects":
        steps = [v2.RandomCrop(size, padding=max(1, size[0] // 8)), v2.RandomHorizontalFlip()]
    else:
        steps = [v2.RandomResizedCrop(size, scale=(0.35, 1.0), antialias=True), v2.RandomHorizontalFlip()]
    if preset == "strong":
        steps.append(v2.TrivialAugmentWide() if kind != "strokes" else v2.RandomAffine(degrees=0, shear=10))
    return steps


def build_transform(
    kind: str,
    preset: str,
    channels: int,
    size: tuple[int, int],
    source_size: tuple[int, int],
    mean: tuple[float, ...],
    std: tuple[float, ...],
) -> v2.Compose:
    """uint8 C×H×W at the dataset's size → float, normalised, at the model's size."""
    steps: list[torch.nn.Module] = [MatchChannels(channels)]
    if tuple(source_size) != tuple(size):
        steps.append(v2.Resize(size, antialias=True))
    steps += augmentation(kind, preset, size)
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(match_stats(mean, channels), match_stats(std, channels))]
    if preset == "strong":
        # Erasing after normalisation fills with zeros, i.e. the dataset's mean colour.
        steps.append(v2.RandomErasing(p=0.25))
    return v2.Compose(steps)
