"""In-memory image sets: every source (bundled digits, MNIST, CIFAR, a user's folder) is
read into uint8 tensors once, so loading is the same fast indexing whatever the source."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class ImageSet:
    """``images`` is uint8 N×C×H×W, ``labels`` int64 N."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"images must be uint8 N×C×H×W, got {self.images.dtype} {tuple(self.images.shape)}")
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")
        self.labels = self.labels.to(torch.int64)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: torch.Tensor) -> "ImageSet":
        return ImageSet(self.images[index], self.labels[index])


def shuffled_labels(images: ImageSet, seed: int = 0) -> ImageSet:
    """The same images with their labels permuted (Zhang et al. 2017, "Understanding deep
    learning requires rethinking generalization", arXiv 1611.03530): every class keeps its
    count, but a label says nothing about its image, so a net can only memorise them."""
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    return ImageSet(images.images, images.labels[order])


def stratified_split(labels: torch.Tensor, test_fraction: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Train and test indices with every class split in the same proportion.

    The split depends only on the labels and the seed, so it is the same on every machine
    and in every process of a distributed run; each class keeps at least one image on
    each side.
    """
    g = torch.Generator().manual_seed(seed)
    train, test = [], []
    for c in labels.unique(sorted=True):
        members = (labels == c).nonzero().flatten()
        if len(members) < 2:
            raise ValueError(f"class {int(c)} has {len(members)} image; a train/test split needs at least 2 per class")
        members = members[torch.randperm(len(members), generator=g)]
        n_test = min(len(members) - 1, max(1, round(test_fraction * len(members))))
        test.append(members[:n_test])
        train.append(members[n_test:])
    return torch.cat(train).sort().values, torch.cat(test).sort().values
