"""The datasets a run can use, their normalisation statistics, and turning one into the
torch ``Dataset`` pair (train, test) a model of a given input size can consume."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch.utils.data import Dataset

from classifier.data import digits, public
from classifier.data.download import Progress, data_dir, fetch
from classifier.data.folder import load_image_folder
from classifier.data.sets import ImageSet, shuffled_labels
from classifier.data.transforms import build_transform, match_stats


@dataclass(frozen=True)
class DatasetInfo:
    """``kind`` picks the augmentation family: ``strokes`` (no mirroring), ``objects``
    (crop + flip) or ``photos`` (random resized crop + flip)."""

    name: str
    title: str
    kind: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    needs_download: bool = False
    needs_path: bool = False


# Channel statistics of each training set, as the transforms see it (values in [0, 1]).
DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        # Measured on the 1,347 upscaled training digits (tests/test_data.py re-measures it).
        DatasetInfo("digits", "Digits (bundled, 8×8 → 32×32)", "strokes", (0.3062,), (0.3243,)),
        # The same digits with the training labels permuted: a net can only memorise them, which
        # is what the data-randomisation sanity check of an explanation compares against.
        DatasetInfo("digits_shuffled", "Digits, training labels shuffled (sanity checks)", "strokes", (0.3062,), (0.3243,)),
        # The widely quoted MNIST and Fashion-MNIST training-set statistics.
        DatasetInfo("mnist", "MNIST", "strokes", (0.1307,), (0.3081,), needs_download=True),
        DatasetInfo("fashion_mnist", "Fashion-MNIST", "objects", (0.2860,), (0.3530,), needs_download=True),
        # CIFAR training-set means and standard deviations per channel (RGB).
        DatasetInfo("cifar10", "CIFAR-10", "objects", (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), needs_download=True),
        DatasetInfo("cifar100", "CIFAR-100", "objects", (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), needs_download=True),
        # A user's photos: the ImageNet statistics most pretrained nets expect.
        DatasetInfo("folder", "Image folder (path or zip)", "photos", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), needs_path=True),
    )
}


@dataclass
class LoadedData:
    """Both splits in memory, the class names and the normalisation to apply."""

    info: DatasetInfo
    train: ImageSet
    test: ImageSet
    classes: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def get_info(name: str) -> DatasetInfo:
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}") from None


def is_downloaded(name: str, root: str | os.PathLike | None = None) -> bool:
    """True when ``name`` needs nothing from the network."""
    return name not in public.PUBLIC or public.PUBLIC[name].ready(data_dir(root))


def download(name: str, root: str | os.PathLike | None = None, progress: Progress | None = None) -> None:
    """Fetch the files of a public dataset into the cache, once."""
    source = public.PUBLIC.get(name)
    if source is None or source.ready(data_dir(root)):
        return
    for remote in source.remotes:
        fetch(remote, data_dir(root), progress)


def load_data(
    name: str,
    input_size: tuple[int, int, int],
    root: str | os.PathLike | None = None,
    path: str | os.PathLike | None = None,
    progress: Progress | None = None,
) -> LoadedData:
    """Read a dataset into memory, downloading it first if it is public and missing.

    ``input_size`` (C, H, W) matters only for an image folder, whose files of every size
    are decoded straight to the model's size; other sets keep their native resolution
    and are resized per sample by the transform.
    """
    info = get_info(name)
    if name in ("digits", "digits_shuffled"):
        train, test = digits.load_digits_split()
        if name == "digits_shuffled":
            train = shuffled_labels(train)
        return LoadedData(info, train, test, digits.CLASSES)
    if name == "folder":
        if not path:
            raise ValueError("the folder dataset needs a path to a folder of class sub-folders")
        train, test, classes = load_image_folder(path, input_size[0], tuple(input_size[1:]))
        return LoadedData(info, train, test, classes)
    download(name, root, progress)
    train, test, classes = public.PUBLIC[name].read(data_dir(root))
    return LoadedData(info, train, test, classes)


class TransformedImages(Dataset):
    """(image, label) pairs of an :class:`ImageSet`, transformed per sample."""

    def __init__(self, images: ImageSet, transform):
        self.images = images
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(self.images.images[i]), int(self.images.labels[i])


def make_datasets(
    data: LoadedData, input_size: tuple[int, int, int], augment: str, mean=None, std=None
) -> tuple[Dataset, Dataset]:
    """The training set (augmented) and the test set (not), at the model's input size,
    normalised with the dataset's statistics unless ``mean``/``std`` are given (those of
    pretrained weights a run starts from)."""
    channels, size = input_size[0], tuple(input_size[1:])
    source = tuple(data.train.images.shape[-2:])
    common = dict(kind=data.info.kind, channels=channels, size=size, source_size=source,
                  mean=mean or data.info.mean, std=std or data.info.std)
    return (
        TransformedImages(data.train, build_transform(preset=augment, **common)),
        TransformedImages(data.test, build_transform(preset="none", **common)),
    )


def normalisation(info: DatasetInfo, channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and standard deviation per model input channel (stored in checkpoints)."""
    return match_stats(info.mean, channels), match_stats(info.std, channels)
