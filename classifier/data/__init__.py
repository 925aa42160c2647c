"""Datasets for training runs: the bundled digits (no network needed), MNIST,
Fashion-MNIST, CIFAR-10/100 fetched once into a cache, and a user's image folder or zip.

Every source is read into uint8 tensors in memory, then wrapped with per-sample
transforms matched to the model's input size (channels, resolution) and the dataset's
normalisation statistics.
"""

from classifier.data.catalog import (
    DATASETS,
    DatasetInfo,
    LoadedData,
    download,
    get_info,
    is_downloaded,
    load_data,
    make_datasets,
    normalisation,
)
from classifier.data.download import Progress, data_dir, tqdm_progress
from classifier.data.folder import UnsafeArchive, extract_upload, extract_zip
from classifier.data.transforms import AUGMENTATIONS

__all__ = [
    "AUGMENTATIONS",
    "DATASETS",
    "DatasetInfo",
    "LoadedData",
    "Progress",
    "UnsafeArchive",
    "data_dir",
    "download",
    "extract_upload",
    "extract_zip",
    "get_info",
    "is_downloaded",
    "load_data",
    "make_datasets",
    "normalisation",
    "tqdm_progress",
]
