"""Labelled image sets to evaluate weights on, with labels in the weights' own class order.

- An ImageNet-style folder: one sub-folder per WordNet synset (``n01440764/…``), mapped to
  ImageNet-1k's class indices by the sorted synset list; any subset of the 1000 works.
- A folder with a labels file (``labels.txt`` or ``labels.csv``): lines ``file,label`` where
  the label is a class index or a class name.
- A folder of the user's own classes: sub-folders named like the weights' classes (a run
  fine-tuned on that folder, a CIFAR net on ``airplane/``, ``cat/``…), compared without
  case, spaces, underscores or hyphens.
- ``digits`` (bundled, offline), ``mnist``, ``fashion_mnist``, ``cifar10``, ``cifar100``: the
  test splits of the training page's sets, public ones downloaded once into the data cache.

Images stay on disk (paths) until evaluation streams them, so a 50,000-image folder costs
no memory up front.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from classifier.data.folder import IMAGE_SUFFIXES, _images_in, _subdirs, _visible, find_root

SYNSET = re.compile(r"^n\d{8}$")
LABEL_FILES = ("labels.txt", "labels.csv")
PUBLIC_TEST_SETS = ("digits", "mnist", "fashion_mnist", "cifar10", "cifar100")


@functools.cache
def imagenet_synsets() -> tuple[str, ...]:
    lines = (Path(__file__).with_name("imagenet_synsets.txt")).read_text().split()
    return tuple(line for line in lines if SYNSET.match(line))


@dataclass
class LabelledImages:
    """``items`` are image paths (or uint8 H×W×C arrays for the public sets), ``labels``
    class indices into the weights' class names; ``description`` says what was read."""

    items: list
    labels: list[int]
    description: str

    def __len__(self) -> int:
        return len(self.labels)

    def image(self, i: int) -> Image.Image:
        item = self.items[i]
        if isinstance(item, np.ndarray):
            return Image.fromarray(item.squeeze(-1) if item.shape[-1] == 1 else item)
        from classifier.images import decode_image

        return decode_image(Path(item).read_bytes())

    def limited(self, limit: int | None, seed: int = 0) -> LabelledImages:
        """At most ``limit`` images, drawn evenly at random (a fixed seed) so a short run
        still sees every class."""
        if not limit or limit >= len(self):
            return self
        order = np.random.default_rng(seed).permutation(len(self))[:limit]
        order.sort()
        return LabelledImages([self.items[i] for i in order], [self.labels[i] for i in order],
                              f"{self.description}, {limit} drawn at random")


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name).lower()


def _index_of(label: str, class_names: list[str], where: str) -> int:
    if label.strip().isdigit():
        index = int(label)
        if not 0 <= index < len(class_names):
            raise ValueError(f"{where}: class index {index} is outside 0..{len(class_names) - 1}")
        return index
    keys = {_key(n): i for i, n in enumerate(class_names)}
    if _key(label) not in keys:
        raise ValueError(f"{where}: {label!r} is not one of the weights' classes ({', '.join(class_names[:5])}, …)")
    return keys[_key(label)]


def _from_labels_file(root: Path, labels_file: Path, class_names: list[str]) -> LabelledImages:
    items, labels = [], []
    for n, line in enumerate(labels_file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = [p.strip() for p in (line.split(",", 1) if "," in line else line.rsplit(None, 1))]
        if len(parts) < 2:
            raise ValueError(f"{labels_file.name} line {n}: expected 'file,label'")
        path = (root / parts[0]).resolve()
        if root.resolve() not in path.parents or not path.is_file():
            raise ValueError(f"{labels_file.name} line {n}: no image {parts[0]!r} in {root}")
        items.append(path)
        labels.append(_index_of(parts[1], class_names, f"{labels_file.name} line {n}"))
    return LabelledImages(items, labels, f"{len(items)} images listed in {labels_file.name}")


def from_folder(path: str | Path, class_names: list[str]) -> LabelledImages:
    """Read a labelled folder (see the module docstring) against the weights' classes."""
    root = Path(path)
    if not root.is_dir():
        raise ValueError(f"{root} is not a folder")
    root = find_root(root)
    labels_file = next((root / n for n in LABEL_FILES if (root / n).is_file()), None)
    if labels_file is not None:
        return _from_labels_file(root, labels_file, class_names)
    folders = _subdirs(root)
    if not folders:
        raise ValueError(f"{root} has neither class sub-folders nor a labels file ({' or '.join(LABEL_FILES)})")
    if all(SYNSET.match(d.name) for d in folders):
        if len(class_names) != 1000:
            raise ValueError(f"{root} is an ImageNet-style synset folder, but these weights have {len(class_names)} classes")
        index = {s: i for i, s in enumerate(imagenet_synsets())}
        unknown = [d.name for d in folders if d.name not in index]
        if unknown:
            raise ValueError(f"not ImageNet-1k synsets: {', '.join(unknown[:5])}")
        mapping = {d: index[d.name] for d in folders}
        kind = "ImageNet synset folders"
    else:
        mapping = {d: _index_of(d.name, class_names, f"folder {d.name}") for d in folders}
        kind = "class folders"
    items, labels = [], []
    for folder, label in mapping.items():
        found = [f for f in _images_in(folder) if _visible(f) and f.suffix.lower() in IMAGE_SUFFIXES]
        items += found
        labels += [label] * len(found)
    if not items:
        raise ValueError(f"{root} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return LabelledImages(items, labels, f"{len(items)} images in {len(mapping)} {kind} of {root.name}")


def public_test_set(name: str, class_names: list[str], progress=None) -> LabelledImages:
    """A known set's test split (a public one downloaded once), in the weights' class order."""
    from classifier.data.catalog import load_data

    data = load_data(name, (3, 32, 32), progress=progress)
    order = [_index_of(c, class_names, name) for c in data.classes]
    images = data.test.images.permute(0, 2, 3, 1).numpy()
    return LabelledImages(list(images), [order[int(y)] for y in data.test.labels], f"the {data.info.title} test set")


def labelled_images(data: str, class_names: list[str], progress=None) -> LabelledImages:
    """A known set's name (see ``PUBLIC_TEST_SETS``) or a folder path."""
    if data in PUBLIC_TEST_SETS:
        return public_test_set(data, class_names, progress)
    return from_folder(data, class_names)
