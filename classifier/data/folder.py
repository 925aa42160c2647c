"""A user's own images: a folder with one sub-folder per class, given as a path or
uploaded as a zip.

Layouts understood: ``root/<class>/*.png`` (split 80/20 per class with a fixed seed) or
``root/train/<class>/...`` next to ``root/test/<class>/...`` (or ``val/``). Wrappers of
a single folder, as zip tools like to add, are looked through. Images are decoded once,
resized (shorter side, then a centre crop) to the model's input size and kept in memory.

An uploaded zip is untrusted: extraction refuses entries that would land outside the
target folder (absolute paths, ``..``, links), more files or more bytes than the limits,
and happens in a temporary folder that only replaces the target when all went well.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import torch
from PIL import Image, ImageOps

from classifier.data.sets import ImageSet, stratified_split

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
MAX_PIXELS = 40_000_000  # one image; larger ones are refused before decoding
MAX_ZIP_BYTES = 512 * 1024 * 1024
MAX_ZIP_FILES = 20_000
MAX_FOLDER_IMAGES = 100_000
TEST_FRACTION = 0.2
SPLIT_SEED = 0


class UnsafeArchive(ValueError):
    """A zip that would write outside its folder or is larger than allowed."""


def extract_zip(
    source: str | os.PathLike | BinaryIO,
    target: str | os.PathLike,
    max_bytes: int = MAX_ZIP_BYTES,
    max_files: int = MAX_ZIP_FILES,
) -> Path:
    """Extract ``source`` into ``target`` (replacing it) after checking every entry."""
    target = Path(target)
    with zipfile.ZipFile(source) as zf:
        entries = [info for info in zf.infolist() if not info.is_dir()]
        if len(entries) > max_files:
            raise UnsafeArchive(f"the zip holds {len(entries):,} files; the limit is {max_files:,}")
        total = sum(info.file_size for info in entries)
        if total > max_bytes:
            raise UnsafeArchive(f"the zip unpacks to {total:,} bytes; the limit is {max_bytes:,}")
        for info in entries:
            _check_entry(info)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".unzip-", dir=target.parent))
        try:
            for info in entries:
                out = staging.joinpath(*PurePosixPath(info.filename).parts)
                out.parent.mkdir(parents=True, exist_ok=True)
                # ZipExtFile stops at the declared size, so the size check above holds
                # even when the compressed data claims otherwise.
                with zf.open(info) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 16)
            if target.exists():
                shutil.rmtree(target)
            os.replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return target


def extract_upload(source: BinaryIO, filename: str, root: str | os.PathLike) -> Path:
    """Extract an uploaded zip into ``root/uploads/<name>``, where ``<name>`` is the
    upload's file name reduced to safe characters (never a path of the user's choosing)."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(filename).stem).strip("_")[:64] or "upload"
    return extract_zip(source, Path(root) / "uploads" / stem)


def _check_entry(info: zipfile.ZipInfo) -> None:
    name = info.filename
    path = PurePosixPath(name)
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchive(f"refusing {name!r}: absolute or Windows-style path")
    if ".." in path.parts:
        raise UnsafeArchive(f"refusing {name!r}: it points outside the folder")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise UnsafeArchive(f"refusing {name!r}: symbolic links are not extracted")


def _visible(p: Path) -> bool:
    return not p.name.startswith(".") and p.name != "__MACOSX"


def _subdirs(p: Path) -> list[Path]:
    return sorted(d for d in p.iterdir() if d.is_dir() and _visible(d))


def _images_in(folder: Path) -> list[Path]:
    return sorted(f for f in folder.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES and _visible(f))


def find_root(path: Path) -> Path:
    """Look through wrapper folders that contain nothing but one folder."""
    while True:
        subdirs = _subdirs(path)
        loose = [f for f in path.iterdir() if f.is_file() and _visible(f)]
        if len(subdirs) == 1 and not loose:
            path = subdirs[0]
        else:
            return path


def decode_image(path: Path, channels: int, size: tuple[int, int]) -> torch.Tensor:
    """One image file as uint8 C×H×W: shorter side resized to fit, centre-cropped."""
    try:
        with Image.open(path) as im:
            if im.width * im.height > MAX_PIXELS:
                raise ValueError(f"{im.width}×{im.height} pixels is more than the {MAX_PIXELS:,} allowed")
            im = ImageOps.exif_transpose(im).convert("L" if channels == 1 else "RGB")
            im = ImageOps.fit(im, (size[1], size[0]), Image.Resampling.BILINEAR)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ValueError(f"cannot read {path.name} as an image: {exc}") from None
    t = torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8)
    return t.view(size[0], size[1], channels).permute(2, 0, 1).contiguous()


def _read_classes(folder: Path, classes: list[str], channels: int, size: tuple[int, int]) -> ImageSet:
    images, labels = [], []
    for index, name in enumerate(classes):
        for f in _images_in(folder / name) if (folder / name).is_dir() else []:
            images.append(decode_image(f, channels, size))
            labels.append(index)
            if len(images) > MAX_FOLDER_IMAGES:
                raise ValueError(f"the folder holds more than {MAX_FOLDER_IMAGES:,} images")
    if not images:
        raise ValueError(f"no images found under {folder}")
    return ImageSet(torch.stack(images), torch.tensor(labels))


def load_image_folder(path: str | os.PathLike, channels: int, size: tuple[int, int]) -> tuple[ImageSet, ImageSet, tuple[str, ...]]:
    """Training set, test set and class names (sorted sub-folder names) of a folder."""
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist")
    root = find_root(root)
    held_out = next((root / n for n in ("test", "val", "valid") if (root / n).is_dir()), None)
    if (root / "train").is_dir() and held_out is not None:
        classes = [d.name for d in _subdirs(root / "train")]
        _require_classes(classes, root / "train")
        return _read_classes(root / "train", classes, channels, size), _read_classes(held_out, classes, channels, size), tuple(classes)
    classes = [d.name for d in _subdirs(root) if _images_in(d)]
    _require_classes(classes, root)
    everything = _read_classes(root, classes, channels, size)
    train, test = stratified_split(everything.labels, TEST_FRACTION, SPLIT_SEED)
    return everything.subset(train), everything.subset(test), tuple(classes)


def _require_classes(classes: list[str], where: Path) -> None:
    if len(classes) < 2:
        raise ValueError(f"{where} needs one sub-folder of images per class, at least two; found {classes or 'none'}")
