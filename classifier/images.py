"""Decoding images a user hands us, safely, into plain RGB.

An upload is untrusted: it may be empty, cut short, not an image at all, too large to
read, or a small file that decodes into billions of pixels (a decompression bomb). Every
such case becomes one :class:`ImageError` whose message is a single sentence the app can
show as it is. What decodes is turned upright (EXIF orientation) and into 8-bit RGB
whatever its mode, so the rest of the code sees one kind of image.
"""

from __future__ import annotations

import io
import tomllib
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]
STREAMLIT_CONFIG = ROOT / ".streamlit" / "config.toml"
SAMPLES_DIR = ROOT / "assets" / "samples"

FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF")
FORMAT_NAMES = "JPEG, PNG, WebP, BMP, GIF or TIFF"
# File name extensions of those formats, for upload widgets.
UPLOAD_EXTENSIONS = ("jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff")
# 40 megapixels is a large photo (7,300 × 5,500) and costs 120 MB as RGB; past that an
# upload is far more likely a decompression bomb than a picture worth classifying.
MAX_PIXELS = 40_000_000
# Below this a picture is a few flat pixels stretched over the network's input: refused.
MIN_SIDE = 8
# Streamlit's own default for server.maxUploadSize, used only when the config omits it.
STREAMLIT_DEFAULT_UPLOAD_MB = 200

ImageSource = bytes | str | Path | BinaryIO
# Leading bytes of each accepted format: a file that starts like one but will not open is
# a damaged image, not a file of the wrong kind, and the message says so.
SIGNATURES = {
    b"\xff\xd8\xff": "JPEG",
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"BM": "BMP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"RIFF": "WebP",
}


class ImageError(ValueError):
    """A user image that cannot be used; ``str(error)`` is one sentence for the page."""


def upload_limit_bytes(config: Path = STREAMLIT_CONFIG) -> int:
    """The largest upload in bytes: ``server.maxUploadSize`` (MB) of the app's config,
    so files decoded outside Streamlit (the CLI) obey the same limit as uploads."""
    try:
        settings = tomllib.loads(config.read_text())
    except FileNotFoundError:
        settings = {}
    megabytes = settings.get("server", {}).get("maxUploadSize", STREAMLIT_DEFAULT_UPLOAD_MB)
    return int(megabytes * 1024 * 1024)  # Streamlit counts megabytes of 2**20 bytes


def _read(source: ImageSource, max_bytes: int) -> bytes:
    """The file's bytes, reading at most one byte past the limit so a huge file is
    refused without being loaded whole."""
    if isinstance(source, bytes):
        data = source
    elif isinstance(source, (str, Path)):
        path = Path(source)
        try:
            size = path.stat().st_size
        except OSError:
            raise ImageError(f"The file {path.name} cannot be read.") from None
        if size > max_bytes:
            raise ImageError(_too_big(size, max_bytes))
        data = path.read_bytes()
    else:
        data = source.read(max_bytes + 1)
    if not data:
        raise ImageError("The file is empty (0 bytes).")
    if len(data) > max_bytes:
        raise ImageError(_too_big(len(data), max_bytes))
    return data


def _too_big(size: int, limit: int) -> str:
    mb = 1024 * 1024
    return f"The file is {size / mb:.1f} MB, above the upload limit of {limit / mb:g} MB."


def _to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB from any mode: transparency is laid over white (what a viewer shows),
    16-bit and float data are scaled into 0..255 rather than clipped."""
    mode = image.mode
    if mode == "P" and "transparency" in image.info:
        image, mode = image.convert("RGBA"), "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    if mode.startswith("I") or mode == "F":
        values = np.asarray(image, dtype=np.float64)
        if mode == "F" and values.size and values.max() <= 1.0:
            values = values * 255.0
        elif mode.startswith("I;16") or (values.size and values.max() > 255):
            values = values / 257.0  # 65535 → 255
        grey = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    return image.convert("RGB")


def decode_image(source: ImageSource, *, max_bytes: int | None = None, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode ``source`` (bytes, a path or a binary file) into an upright RGB image.

    Raises :class:`ImageError` with one sentence for an empty, oversize, non-image,
    corrupt or truncated file and for a picture of more than ``max_pixels`` pixels;
    the pixel check reads only the header, so a bomb is refused before it is decoded.
    Animated GIF and WebP files give their first frame.
    """
    max_bytes = upload_limit_bytes() if max_bytes is None else max_bytes
    data = _read(source, max_bytes)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=FORMATS)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(
                f"The image is larger than {max_pixels / 1e6:g} megapixels, so it was not decoded."
            ) from None
        except (OSError, SyntaxError, ValueError, EOFError):  # UnidentifiedImageError is an OSError
            kind = next((k for magic, k in SIGNATURES.items() if data.startswith(magic)), None)
            if kind is None or (kind == "WebP" and data[8:12] != b"WEBP"):
                raise ImageError(f"The file is not a {FORMAT_NAMES} image.") from None
            raise ImageError(f"The {kind} image data is truncated or corrupt, so it cannot be decoded.") from None
        width, height = image.size
        if width * height > max_pixels:
            raise ImageError(
                f"The image is {width}×{height} pixels ({width * height / 1e6:.0f} megapixels), above the "
                f"limit of {max_pixels / 1e6:g} megapixels, so it was not decoded."
            )
        if width == 0 or height == 0:
            raise ImageError("The image has no pixels.")
        if min(width, height) < MIN_SIDE:
            raise ImageError(
                f"The image is only {width}×{height} pixels; at least {MIN_SIDE}×{MIN_SIDE} is needed, since "
                "stretched to the network's input it would be a few flat blocks of colour."
            )
        try:
            image.seek(0)
            image.load()
        except (OSError, SyntaxError, ValueError, EOFError, IndexError):
            raise ImageError(
                f"The {image.format} image data is truncated or corrupt, so it cannot be decoded."
            ) from None
    try:
        image = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, KeyError, TypeError):
        pass  # a broken EXIF block only loses the orientation; the pixels are fine
    return _to_rgb(image)


def sample_images() -> dict[str, Path]:
    """The bundled sample images by name (file stem), to try the app without an upload."""
    return {p.stem.replace("_", " "): p for p in sorted(SAMPLES_DIR.glob("*.png"))}
