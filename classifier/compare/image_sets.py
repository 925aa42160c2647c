"""Batches of images for measurements over many inputs (layer similarity, feature
evolution): the bundled samples, the bundled digits, or a user's own files.

Each set is a list of PIL images; every model preprocesses the list its own way
(:func:`batch`), so a 224×224 ImageNet net and a 32×32 net see the same pictures.
"""

from __future__ import annotations

import torch
from PIL import Image, ImageOps

from classifier.images import ImageError, decode_image, sample_images
from classifier.weights import Preprocess

SOURCES = {
    "samples": "Sample images (each also mirrored and zoomed)",
    "digits": "Bundled digits (test split)",
    "upload": "Your images",
}


def sample_set(views: bool = True) -> list[Image.Image]:
    """The bundled samples; with ``views``, each also mirrored and cropped to its middle
    and to its top-left, because six examples alone leave a similarity measure almost
    nothing to go on (a centred 6×6 Gram matrix has rank 5 at most)."""
    images = [decode_image(path) for path in sample_images().values()]
    if not views:
        return images
    out = []
    for im in images:
        w, h = im.size
        out += [im, ImageOps.mirror(im), im.crop((w // 4, h // 4, w - w // 4, h - h // 4)), im.crop((0, 0, w * 2 // 3, h * 2 // 3))]
    return out


def digit_set(count: int, seed: int = 0) -> list[Image.Image]:
    """``count`` digits from the bundled test split (32×32 greyscale), drawn with a
    fixed seed so every model and every rerun sees the same ones."""
    from classifier.data.digits import load_digits_split

    _, test = load_digits_split()
    pick = torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))[:count]
    return [Image.fromarray(test.images[int(i), 0].numpy()) for i in pick]


def uploaded_set(files: list[tuple[str, bytes]]) -> list[Image.Image]:
    """Decode a user's files (name, bytes) safely; a bad file names itself in the error."""
    out = []
    for name, data in files:
        try:
            out.append(decode_image(data))
        except ImageError as exc:
            raise ImageError(f"{name}: {exc}") from None
    return out


def batch(images: list[Image.Image], preprocess: Preprocess) -> torch.Tensor:
    """The images as one normalised batch for a model with this preprocessing."""
    if not images:
        raise ValueError("no images in the set")
    return torch.cat([preprocess(im) for im in images])
