"""The whole comparison as one PNG, drawn with PIL alone (no browser, no plotting
backend): a column per model, a row per kind of picture, the agreement underneath."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from classifier.compare.agreement import Agreement
from classifier.compare.views import LAST, METHODS, Explanation, ModelView, stride_rows
from classifier.explain.render import resize

CELL = 320  # column width in pixels
LABEL = 96  # width of the row names on the left
PAD = 10
INK, PAPER, RULE = (20, 20, 20), (255, 255, 255), (215, 215, 215)
# Pillow's built-in font has no glyphs for these; plain stand-ins keep the text readable.
PLAIN = str.maketrans({"×": "x", "—": "-", "–": "-", "→": "->", "…": "...", "’": "'"})


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def _wrap(text: str, width: int, font) -> list[str]:
    """Greedy word wrap to ``width`` pixels."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            trial = f"{line} {word}".strip()
            if line and font.getlength(trial) > width:
                lines.append(line)
                line = word
            else:
                line = trial
        lines.append(line)
    return lines


def text_image(text: str, width: int, size: int = 14, bold: bool = False) -> np.ndarray:
    """``text`` wrapped to ``width`` pixels, dark on white."""
    font = _font(size + 2 if bold else size)
    lines = _wrap(text.translate(PLAIN), width, font)
    step = int(size * 1.35) + (2 if bold else 0)
    canvas = Image.new("RGB", (width, step * len(lines) + 4), PAPER)
    draw = ImageDraw.Draw(canvas)
    for n, line in enumerate(lines):
        draw.text((0, 2 + n * step), line, fill=INK, font=font, stroke_width=1 if bold else 0, stroke_fill=INK)
    return np.asarray(canvas)


def _stack(parts: list[np.ndarray], gap: int = 4) -> np.ndarray:
    """Images one above the other, left-aligned, on white."""
    width = max(p.shape[1] for p in parts)
    height = sum(p.shape[0] for p in parts) + gap * (len(parts) - 1)
    out = np.full((height, width, 3), 255, np.uint8)
    y = 0
    for p in parts:
        out[y:y + p.shape[0], : p.shape[1]] = p
        y += p.shape[0] + gap
    return out


def _fit(image: np.ndarray, width: int) -> np.ndarray:
    """Scale to ``width`` pixels wide; small images keep hard pixel edges."""
    h, w = image.shape[:2]
    return resize(image, (max(1, round(h * width / w)), width), smooth=w > 64)


def _row_name(row: int | str) -> str:
    return "last map" if row == LAST else f"stride {row}"


def comparison_image(views: list[ModelView], explanations: list[Explanation], agree: Agreement, k: int = 8) -> np.ndarray:
    """The side-by-side comparison as an (H, W, 3) uint8 image."""
    inner = CELL - 2 * PAD
    rows: list[tuple[str, list[np.ndarray]]] = [
        ("", [_stack([text_image(v.label, inner, 14, bold=True), text_image(v.loaded.description, inner, 12)]) for v in views]),
        ("input", [_fit(v.image, inner) for v in views]),
        ("top-5", [text_image("\n".join(f"{100 * p.probability:5.1f}%  {p.label}" for p in v.predictions), inner, 13)
                   for v in views]),
    ]
    for row in stride_rows(views):
        cells = []
        for v in views:
            stage = v.stage(row)
            cells.append(text_image("no stage at this stride", inner, 12) if stage is None else
                         _stack([_fit(stage.figure(k), inner), text_image(stage.describe(), inner, 12)]))
        rows.append((_row_name(row), cells))
    rows.append((METHODS[explanations[0].method], [
        _stack([_fit(e.picture, inner), text_image(f"class {v.top1.label!r}, {e.note}", inner, 12)])
        for v, e in zip(views, explanations)
    ]))

    width = LABEL + CELL * len(views)
    footer = text_image("\n".join(["Agreement:", *agree.summary()]), width - 2 * PAD, 14)
    heights = [max(c.shape[0] for c in cells) + 2 * PAD for _, cells in rows]
    sheet = Image.new("RGB", (width, sum(heights) + footer.shape[0] + 2 * PAD), PAPER)
    draw = ImageDraw.Draw(sheet)
    font = _font(13)
    y = 0
    for (name, cells), height in zip(rows, heights):
        draw.text((PAD, y + PAD), name, fill=INK, font=font)
        for n, cell in enumerate(cells):
            sheet.paste(Image.fromarray(cell), (LABEL + n * CELL + PAD, y + PAD))
        y += height
        draw.line([(0, y - 1), (width, y - 1)], fill=RULE)
    sheet.paste(Image.fromarray(footer), (PAD, y + PAD))
    return np.asarray(sheet)
