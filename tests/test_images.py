"""classifier.images: every format and mode decodes to upright RGB; every bad file is one
ImageError sentence. All files are generated here."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from classifier.images import SAMPLES_DIR, ImageError, decode_image, sample_images, upload_limit_bytes

RED, BLUE = (220, 20, 30), (20, 40, 220)


def halves(size=(40, 20)) -> Image.Image:
    """Left half red, right half blue: orientation mistakes show."""
    image = Image.new("RGB", size, RED)
    image.paste(BLUE, (size[0] // 2, 0, size[0], size[1]))
    return image


def encode(image: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kw)
    return buf.getvalue()


def assert_rgb_like(decoded: Image.Image, expected: Image.Image, tol: int) -> None:
    assert decoded.mode == "RGB" and decoded.size == expected.size
    diff = np.abs(np.asarray(decoded, dtype=int) - np.asarray(expected.convert("RGB"), dtype=int))
    assert diff.max() <= tol, diff.max()


@pytest.mark.parametrize("fmt, tol", [("PNG", 0), ("BMP", 0), ("TIFF", 0), ("GIF", 0), ("WEBP", 0), ("JPEG", 12)])
def test_each_format_decodes_to_rgb(fmt, tol):
    image = halves()
    kw = {"WEBP": {"lossless": True}, "JPEG": {"quality": 95, "subsampling": 0}}.get(fmt, {})
    assert_rgb_like(decode_image(encode(image, fmt, **kw)), image, tol)


def test_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (16, 16), RED), Image.new("RGB", (16, 16), BLUE)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    assert decode_image(data).getpixel((8, 8)) == RED


def test_exif_orientation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    decoded = decode_image(encode(halves(), "JPEG", exif=exif, quality=95))
    assert decoded.size == (20, 40)
    top, bottom = decoded.getpixel((10, 2)), decoded.getpixel((10, 37))
    assert top[0] > 150 > top[2] and bottom[2] > 150 > bottom[0], (top, bottom)


def test_every_mode_becomes_rgb():
    base = halves()
    grey = base.convert("L")
    assert_rgb_like(decode_image(encode(grey, "PNG")), grey, 0)
    assert_rgb_like(decode_image(encode(base.convert("1"), "PNG")), base.convert("1"), 0)
    palette = base.convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    assert_rgb_like(decode_image(encode(palette, "PNG")), palette, 0)
    cmyk = base.convert("CMYK")
    assert_rgb_like(decode_image(encode(cmyk, "TIFF")), cmyk.convert("RGB"), 0)


def test_transparency_is_laid_over_white():
    rgba = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    rgba.putpixel((0, 0), (0, 0, 255, 255))
    rgba.putpixel((1, 0), (0, 0, 0, 128))
    out = decode_image(encode(rgba, "PNG"))
    assert out.getpixel((5, 5)) == (255, 255, 255)
    assert out.getpixel((0, 0)) == (0, 0, 255)
    assert all(abs(v - 127) <= 1 for v in out.getpixel((1, 0)))
    la = Image.new("LA", (8, 8), (0, 0))
    assert decode_image(encode(la, "PNG")).getpixel((1, 1)) == (255, 255, 255)
    palette = Image.new("P", (8, 8), 1)
    palette.putpalette([0, 0, 0, 10, 200, 10] + [0] * 762)
    palette.info["transparency"] = 1
    assert decode_image(encode(palette, "PNG", transparency=1)).getpixel((2, 2)) == (255, 255, 255)


def test_sixteen_bit_grey_is_scaled_not_clipped():
    ramp = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000).astype(np.uint16)
    data = encode(Image.fromarray(ramp), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    out = np.asarray(decode_image(data))[..., 0].astype(int)
    np.testing.assert_allclose(out, np.rint(ramp / 257.0), atol=1)
    assert out.max() > 200  # clipping at 255 would have flattened the ramp after the first pixel


def png_header_only(width: int, height: int) -> bytes:
    """A few hundred bytes claiming an enormous picture: a decompression bomb's header."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("width, height", [(100_000, 100_000), (8_000, 6_000)])
def test_decompression_bomb_is_refused_before_decoding(width, height):
    # 10 gigapixels trips PIL's own guard; 48 megapixels passes PIL's (89 MP) but not ours.
    with pytest.raises(ImageError, match="megapixels"):
        decode_image(png_header_only(width, height))


def jpeg_bytes() -> bytes:
    rng = np.random.default_rng(0)
    return encode(Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)), "JPEG")


def png_bytes() -> bytes:
    rng = np.random.default_rng(0)
    return encode(Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)), "PNG")


def corrupt_png() -> bytes:
    data = bytearray(png_bytes())
    start = data.index(b"IDAT") + 20
    data[start : start + 200] = bytes(200)
    return bytes(data)


@pytest.mark.parametrize(
    "case, data, message",
    [
        ("zero bytes", b"", "empty"),
        ("text", b"just some words, not a picture\n" * 4, "not a JPEG, PNG, WebP, BMP, GIF or TIFF image"),
        ("pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "not a JPEG"),
        ("truncated jpeg", jpeg_bytes()[:400], "truncated or corrupt"),
        ("truncated png", png_bytes()[:300], "truncated or corrupt"),
        ("corrupt png", corrupt_png(), "truncated or corrupt"),
        ("png signature only", b"\x89PNG\r\n\x1a\n", "corrupt"),
    ],
)
def test_bad_files_give_one_sentence(case, data, message):
    with pytest.raises(ImageError) as err:
        decode_image(data)
    text = str(err.value)
    assert message in text
    assert "\n" not in text and text.endswith(".") and "Traceback" not in text


def test_upload_limit_is_streamlits_own():
    """Our limit is the one Streamlit enforces on uploads, read from the same file."""
    from streamlit import config

    config.get_config_options(force_reparse=True)
    assert upload_limit_bytes() == config.get_option("server.maxUploadSize") * 1024 * 1024


def test_oversize_file_is_refused_without_reading_it(tmp_path):
    settings = tmp_path / "config.toml"
    settings.write_text("[server]\nmaxUploadSize = 1\n")
    limit = upload_limit_bytes(settings)
    assert limit == 1024 * 1024
    with pytest.raises(ImageError, match=r"above the upload limit of 1 MB"):
        decode_image(b"\xff\xd8" + bytes(limit), max_bytes=limit)
    big = tmp_path / "huge.jpg"
    with open(big, "wb") as f:  # sparse: 5 GB on paper, nothing on disk
        f.truncate(5 * 1024**3)
    with pytest.raises(ImageError, match="5120.0 MB"):
        decode_image(big, max_bytes=limit)
    with open(big, "rb") as f:  # a file object is read only one byte past the limit
        with pytest.raises(ImageError, match="above the upload limit"):
            decode_image(f, max_bytes=limit)


def test_samples_decode_and_carry_their_licence():
    samples = sample_images()
    assert len(samples) >= 4
    for name, path in samples.items():
        image = decode_image(path)
        assert image.mode == "RGB" and min(image.size) >= 224, name
    licence = (SAMPLES_DIR / "LICENSE.md").read_text()
    assert "generated by the Classifier Explorer project" in licence and "free to use" in licence


def test_a_picture_smaller_than_eight_pixels_is_refused():
    with pytest.raises(ImageError, match=r"only 7×30 pixels; at least 8×8"):
        decode_image(encode(Image.new("RGB", (7, 30)), "PNG"))
    assert decode_image(encode(Image.new("RGB", (8, 8)), "PNG")).size == (8, 8)
