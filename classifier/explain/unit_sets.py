"""The image sets that dataset examples search: the bundled samples, the bundled digits,
the CIFAR test sets (when already in the data cache), or any folder of images (an
ImageNet-style synset folder, an extracted upload, a folder of photos).

No labels are needed to ask what excites a unit, so a folder is read for its image files
alone, recursively and in a fixed order. Each set carries a *fingerprint* that changes
whenever its content may have: the file list with sizes and modification times, or the
pixels themselves for the sets held in memory. The dataset-examples cache is keyed by it,
so adding, removing or editing one image invalidates a cached result.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from classifier.data.folder import IMAGE_SUFFIXES, _images_in, extract_upload, find_root
from classifier.images import decode_image, sample_images

NAMED_SETS = {
    "samples": "The bundled sample images (each also mirrored and zoomed)",
    "digits": "The bundled digits (test split, offline)",
    "cifar10": "The CIFAR-10 test set (when in the data cache)",
    "cifar100": "The CIFAR-100 test set (when in the data cache)",
}


@dataclass
class ExampleSet:
    """``items`` are image paths, PIL images or uint8 (H, W, C) arrays; ``names`` say
    which image each is (a relative path, or the set's name and index)."""

    description: str
    items: list
    names: list[str]
    fingerprint: str

    def __len__(self) -> int:
        return len(self.items)

    def image(self, i: int) -> Image.Image:
        item = self.items[i]
        if isinstance(item, Image.Image):
            return item
        if isinstance(item, np.ndarray):
            return Image.fromarray(item.squeeze(-1) if item.shape[-1] == 1 else item)
        return decode_image(Path(item).read_bytes())

    def limited(self, limit: int | None, seed: int = 0) -> ExampleSet:
        """At most ``limit`` images, drawn at random with a fixed seed (in their order),
        so a quick look at a large set still samples all of it."""
        if not limit or limit >= len(self):
            return self
        order = np.sort(np.random.default_rng(seed).permutation(len(self))[:limit])
        digest = hashlib.sha256(f"{self.fingerprint}:{limit}:{seed}".encode()).hexdigest()
        return ExampleSet(f"{self.description}, {limit} drawn at random", [self.items[i] for i in order],
                          [self.names[i] for i in order], digest)


def _array_digest(arrays: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(arrays).tobytes()).hexdigest()


def _files_digest(root: Path, files: list[Path]) -> str:
    h = hashlib.sha256()
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(root).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def samples_set() -> ExampleSet:
    """The bundled samples and three views of each (see ``compare.image_sets.sample_set``):
    six pictures alone would make a nine-image grid impossible."""
    from classifier.compare.image_sets import sample_set

    paths = list(sample_images().values())
    views = ("", "mirrored", "middle", "top-left")
    names = [f"{p.name} {v}".strip() for p in paths for v in views]
    return ExampleSet(NAMED_SETS["samples"], sample_set(views=True), names, _files_digest(paths[0].parent, paths))


def digits_set() -> ExampleSet:
    from classifier.data.digits import load_digits_split

    _, test = load_digits_split()
    images = test.images.permute(0, 2, 3, 1).numpy()
    return ExampleSet(NAMED_SETS["digits"], list(images), [f"digits test #{i}" for i in range(len(images))],
                      _array_digest(images))


def cifar_set(name: str) -> ExampleSet:
    """A CIFAR test split from the data cache; searching never starts a 160 MB download."""
    from classifier.data import public
    from classifier.data.catalog import get_info, is_downloaded
    from classifier.data.download import data_dir

    title = get_info(name).title
    if not is_downloaded(name):
        raise ValueError(
            f"{title} is not in the data cache ({data_dir()}); it downloads once with "
            f"`python -m classifier evaluate --model resnet20_cifar --weights random --data {name} --limit 1` "
            "or on the Evaluate page."
        )
    _, test, _ = public.PUBLIC[name].read(data_dir())
    images = test.images.permute(0, 2, 3, 1).numpy()
    return ExampleSet(NAMED_SETS[name], list(images), [f"{name} test #{i}" for i in range(len(images))],
                      _array_digest(images))


def folder_set(path: str | Path) -> ExampleSet:
    """Every image file under ``path`` (sub-folders included, hidden files skipped)."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ValueError(f"{root} is not a folder")
    root = find_root(root)
    files = _images_in(root)
    if not files:
        raise ValueError(f"{root} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return ExampleSet(f"{len(files)} images under {root}", files, [f.relative_to(root).as_posix() for f in files],
                      _files_digest(root, files))


def unzipped(data: bytes, filename: str, root: str | Path) -> Path:
    """A zip of images extracted safely (see ``data.folder.extract_zip``) under ``root``,
    once per content: the same bytes reuse the same folder, whose unchanged files keep the
    set's fingerprint, so a re-uploaded zip finds its cached results."""
    target = Path(root) / hashlib.sha256(data).hexdigest()[:16]
    done = next(target.glob("uploads/*"), None)
    return done if done is not None else extract_upload(io.BytesIO(data), filename, target)


def example_set(data: str | Path) -> ExampleSet:
    """A named set (see ``NAMED_SETS``) or a folder path."""
    if data == "samples":
        return samples_set()
    if data == "digits":
        return digits_set()
    if data in ("cifar10", "cifar100"):
        return cifar_set(str(data))
    return folder_set(data)
