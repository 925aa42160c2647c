"""Turning explanations into pictures: colour maps, overlays, boxes, grids and PNG bytes.

Everything takes and returns numpy arrays (H, W, 3) of uint8 so the page, the CLI and
the tests share one way of drawing; nothing here touches a model.
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image, ImageDraw

# A perceptually ordered dark-to-bright ramp (black, violet, red, orange, pale yellow):
# equal steps in value read as equal steps in brightness, in colour and in grey print.
_RAMP = np.array(
    [
        [0, 0, 4],
        [40, 11, 84],
        [101, 21, 110],
        [159, 42, 99],
        [212, 72, 66],
        [245, 125, 21],
        [250, 193, 39],
        [252, 255, 164],
    ],
    dtype=np.float64,
)


def colormap(values: np.ndarray | torch.Tensor, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """A 2-D array as an RGB heat map, scaled between ``lo`` and ``hi`` (default: its range)."""
    v = np.asarray(values.detach().cpu() if isinstance(values, torch.Tensor) else values, dtype=np.float64)
    lo = float(v.min()) if lo is None else lo
    hi = float(v.max()) if hi is None else hi
    t = np.clip((v - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros_like(v)
    pos = t * (len(_RAMP) - 1)
    i = np.minimum(pos.astype(int), len(_RAMP) - 2)
    f = (pos - i)[..., None]
    return np.rint(_RAMP[i] * (1 - f) + _RAMP[i + 1] * f).astype(np.uint8)


def magnitude(attr: torch.Tensor) -> np.ndarray:
    """Per-pixel strength of a (C, H, W) attribution: the largest absolute value over
    channels, as saliency maps are usually shown."""
    return attr.detach().abs().amax(0).cpu().numpy()


def signed_image(attr: torch.Tensor | np.ndarray) -> np.ndarray:
    """A (C, H, W) projection shown as an image the way ZFNet shows deconvnet output:
    zero is mid-grey and the largest absolute value reaches black or white, so the sign
    and colour of what the unit responds to stay visible."""
    a = attr.detach().cpu().numpy() if isinstance(attr, torch.Tensor) else np.asarray(attr)
    a = a.astype(np.float64)
    if a.shape[0] == 1:
        a = np.repeat(a, 3, axis=0)
    scale = np.abs(a).max()
    img = 0.5 + a / (2 * scale) if scale > 0 else np.full_like(a, 0.5)
    return np.rint(np.clip(img.transpose(1, 2, 0), 0, 1) * 255).astype(np.uint8)


def resize(image: np.ndarray, size: tuple[int, int], smooth: bool = True) -> np.ndarray:
    """Resize an (H, W, 3) uint8 array to ``size`` = (H, W)."""
    mode = Image.Resampling.BILINEAR if smooth else Image.Resampling.NEAREST
    return np.asarray(Image.fromarray(image).resize((size[1], size[0]), mode))


def overlay(image: np.ndarray, heat: np.ndarray, opacity: float) -> np.ndarray:
    """Blend a heat map over the image; ``opacity`` 0 shows the image, 1 the map."""
    if heat.shape[:2] != image.shape[:2]:
        heat = resize(heat, image.shape[:2])
    mixed = (1 - opacity) * image.astype(np.float64) + opacity * heat.astype(np.float64)
    return np.rint(mixed).astype(np.uint8)


def draw_box(image: np.ndarray, box: tuple[int, int, int, int], colour=(40, 220, 60), width: int = 2) -> np.ndarray:
    """The image with a rectangle around ``box`` = (top, left, bottom, right), exclusive."""
    out = Image.fromarray(image.copy())
    top, left, bottom, right = box
    ImageDraw.Draw(out).rectangle((left, top, right - 1, bottom - 1), outline=colour, width=width)
    return np.asarray(out)


def grid(images: list[np.ndarray], columns: int, pad: int = 2, background: int = 255) -> np.ndarray:
    """Tiles of equal size in rows of ``columns``, separated by ``pad`` pixels."""
    if not images:
        raise ValueError("no images to tile")
    h, w = images[0].shape[:2]
    rows = -(-len(images) // columns)
    sheet = np.full((rows * (h + pad) - pad, columns * (w + pad) - pad, 3), background, dtype=np.uint8)
    for k, tile in enumerate(images):
        r, c = divmod(k, columns)
        sheet[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = tile
    return sheet


def png_bytes(image: np.ndarray) -> bytes:
    """An (H, W, 3) or (H, W) uint8 array as PNG file bytes, for downloads and the CLI."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()
