"""MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100 in their published file formats.

The files are fetched once (see :mod:`classifier.data.download`) into the same folder
layout torchvision uses, so an existing torchvision cache can be pointed at. They are
read here directly rather than through torchvision's dataset classes: that gives uint8
tensors in one step, and the CIFAR pickles go through an unpickler that can build
nothing but plain containers and numpy arrays, so a tampered cache file cannot run code.
"""

from __future__ import annotations

import pickle
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from classifier.data.download import Remote
from classifier.data.sets import ImageSet

MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
FASHION_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _idx_remotes(mirrors: tuple[str, ...], folder: str, md5s: tuple[str, ...]) -> tuple[Remote, ...]:
    return tuple(
        Remote(tuple(m + name + ".gz" for m in mirrors), md5, f"{folder}/raw", "gunzip")
        for name, md5 in zip(IDX_FILES, md5s)
    )


def read_idx(path: Path, dims: int) -> np.ndarray:
    """An IDX file of unsigned bytes (LeCun's MNIST format): a magic number 0x0000080d
    where d is the number of dimensions, d big-endian int32 sizes, then the data."""
    raw = path.read_bytes()
    magic = int.from_bytes(raw[:4], "big")
    if magic != 0x0800 + dims:
        raise ValueError(f"{path.name} is not a {dims}-D IDX file of unsigned bytes (magic {magic:#x})")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path.name} holds {data.size} bytes for shape {shape}")
    return data.reshape(shape)


class _ArraysOnly(pickle.Unpickler):
    """Rebuilds dicts, lists, strings, numbers and numpy arrays; refuses anything else."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        # Python 3's protocol-2 pickles spell bytes as _codecs.encode(str, "latin1").
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a dataset file")
        return super().find_class(module, name)


def read_cifar_pickle(path: Path) -> dict:
    with open(path, "rb") as f:
        return _ArraysOnly(f, encoding="latin1").load()


@dataclass(frozen=True)
class PublicDataset(ABC):
    """Where a published dataset lives in the cache and how its files become tensors."""

    folder: str
    remotes: tuple[Remote, ...]
    files: tuple[str, ...]

    def ready(self, root: Path) -> bool:
        return all((root / self.folder / f).is_file() for f in self.files)

    @abstractmethod
    def read(self, root: Path) -> tuple[ImageSet, ImageSet, tuple[str, ...]]:
        """The training set, the test set and the class names."""


@dataclass(frozen=True)
class IdxDataset(PublicDataset):
    classes: tuple[str, ...] = ()

    def read(self, root: Path) -> tuple[ImageSet, ImageSet, tuple[str, ...]]:
        raw = root / self.folder

        def part(prefix: str) -> ImageSet:
            images = read_idx(raw / f"{prefix}-images-idx3-ubyte", 3)
            labels = read_idx(raw / f"{prefix}-labels-idx1-ubyte", 1)
            return ImageSet(torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64)))

        return part("train"), part("t10k"), self.classes


@dataclass(frozen=True)
class CifarDataset(PublicDataset):
    train_files: tuple[str, ...] = ()
    test_file: str = ""
    meta_file: str = ""
    label_key: str = ""
    names_key: str = ""

    def read(self, root: Path) -> tuple[ImageSet, ImageSet, tuple[str, ...]]:
        base = root / self.folder

        def part(names) -> ImageSet:
            batches = [read_cifar_pickle(base / n) for n in names]
            data = np.concatenate([np.asarray(b["data"], dtype=np.uint8) for b in batches])
            labels = np.concatenate([np.asarray(b[self.label_key], dtype=np.int64) for b in batches])
            # Each row is 1024 red, then 1024 green, then 1024 blue values of a 32×32 image.
            return ImageSet(torch.from_numpy(data.reshape(-1, 3, 32, 32).copy()), torch.from_numpy(labels))

        classes = tuple(read_cifar_pickle(base / self.meta_file)[self.names_key])
        return part(self.train_files), part([self.test_file]), classes


CIFAR10_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))

PUBLIC: dict[str, PublicDataset] = {
    "mnist": IdxDataset(
        folder="MNIST/raw",
        remotes=_idx_remotes(MNIST_MIRRORS, "MNIST", (
            "f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
            "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c",
        )),
        files=IDX_FILES,
        classes=tuple(str(d) for d in range(10)),
    ),
    "fashion_mnist": IdxDataset(
        folder="FashionMNIST/raw",
        remotes=_idx_remotes(FASHION_MIRRORS, "FashionMNIST", (
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
            "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310",
        )),
        files=IDX_FILES,
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    ),
    "cifar10": CifarDataset(
        folder="cifar-10-batches-py",
        remotes=(Remote(("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
                        "c58f30108f718f92721af3b95e74349a", ".", "untar"),),
        files=(*CIFAR10_BATCHES, "test_batch", "batches.meta"),
        train_files=CIFAR10_BATCHES, test_file="test_batch", meta_file="batches.meta",
        label_key="labels", names_key="label_names",
    ),
    "cifar100": CifarDataset(
        folder="cifar-100-python",
        remotes=(Remote(("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",),
                        "eb9058c3a382ffc7106e4002c42a8d85", ".", "untar"),),
        files=("train", "test", "meta"),
        train_files=("train",), test_file="test", meta_file="meta",
        label_key="fine_labels", names_key="fine_label_names",
    ),
}
