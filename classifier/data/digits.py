"""The dataset that needs no network: scikit-learn's bundled handwritten digits.

1,797 greyscale 8×8 digits (the UCI optical-recognition set, 16 grey levels) ship inside
scikit-learn. They are upscaled once to 32×32 with bilinear interpolation so the CIFAR-
sized variants of every family can train on them, and split 75/25 per class with a
fixed seed, so every run and every test sees the same 1,347 training and 450 test images.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from classifier.data.sets import ImageSet, stratified_split

SIZE = 32
TEST_FRACTION = 0.25
SPLIT_SEED = 0
CLASSES = tuple(str(d) for d in range(10))


def _bundled_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 8×8 images (0–16) and labels. Reading scikit-learn's bundled CSV directly
    avoids importing scikit-learn, which takes seconds, in every training process;
    load_digits() is the fallback should the file ever move."""
    spec = importlib.util.find_spec("sklearn")
    csv = Path(spec.submodule_search_locations[0], "datasets", "data", "digits.csv.gz") if spec else None
    if csv is not None and csv.is_file():
        table = np.loadtxt(csv, delimiter=",")
        return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images, bunch.target


def load_digits_split() -> tuple[ImageSet, ImageSet]:
    images, labels = _bundled_digits()
    grey = torch.as_tensor(images, dtype=torch.float32).unsqueeze(1) / 16.0
    big = F.interpolate(grey, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    images = (big.clamp(0, 1) * 255).round().to(torch.uint8)
    everything = ImageSet(images, torch.as_tensor(labels))
    train, test = stratified_split(everything.labels, TEST_FRACTION, SPLIT_SEED)
    return everything.subset(train), everything.subset(test)
