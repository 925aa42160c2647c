"""Draw the bundled sample images: synthetic, recognisable patterns made with numpy and
PIL, so the project owns them outright. Run from the repository root:
``python assets/samples/generate.py`` (deterministic; rewrites the PNGs beside it)."""

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

OUT = Path(__file__).resolve().parent
W, H = 400, 320
rng = np.random.default_rng(0)


def grid() -> tuple[np.ndarray, np.ndarray]:
    return np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))


def save(name: str, rgb: np.ndarray | Image.Image) -> None:
    image = rgb if isinstance(rgb, Image.Image) else Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
    image.save(OUT / f"{name}.png", optimize=True)


def honeycomb() -> Image.Image:
    """Amber hexagonal cells with darker wax walls."""
    image = Image.new("RGB", (W, H), (120, 70, 10))
    draw = ImageDraw.Draw(image)
    r = 22
    dx, dy = r * np.sqrt(3), r * 1.5
    for row in range(-1, int(H / dy) + 2):
        for col in range(-1, int(W / dx) + 2):
            cx = col * dx + (dx / 2 if row % 2 else 0)
            cy = row * dy
            shade = int(rng.integers(-25, 25))
            pts = [(cx + (r - 3) * np.sin(a), cy + (r - 3) * np.cos(a)) for a in np.arange(6) * np.pi / 3]
            draw.polygon(pts, fill=(235 + shade // 3, 170 + shade, 40 + shade // 2))
    return image.filter(ImageFilter.GaussianBlur(1))


def zebra_stripes() -> np.ndarray:
    """Wavy black and white stripes, like a zebra's flank."""
    x, y = grid()
    phase = x / 14 + 2.0 * np.sin(y / 37) + 0.8 * np.sin(x / 53 + y / 29)
    stripe = (np.sin(phase * np.pi) > 0).astype(np.float64)
    tone = 20 + 215 * stripe
    return np.repeat(tone[..., None], 3, axis=2) + rng.normal(0, 6, (H, W, 1))


def checkerboard() -> np.ndarray:
    """A board of dark and light squares."""
    x, y = grid()
    light = ((x // 40 + y // 40) % 2 == 0)[..., None]
    return np.where(light, [238, 222, 190], [90, 55, 30]).astype(np.float64)


def target() -> np.ndarray:
    """Concentric red and white rings around a bull's-eye."""
    x, y = grid()
    ring = (np.hypot(x - W / 2, y - H / 2) // 22) % 2 == 0
    return np.where(ring[..., None], [200, 25, 30], [245, 245, 240]).astype(np.float64)


def sunset() -> np.ndarray:
    """An orange sky over a dark sea with the sun on the horizon."""
    x, y = grid()
    horizon = 0.62 * H
    t = (y / horizon)[..., None]
    sky = (1 - t) * np.array([70, 40, 120]) + t * np.array([255, 150, 50])
    sea = np.array([20, 35, 70]) + 25 * np.sin(y / 3 + np.sin(x / 17))[..., None]
    rgb = np.where((y < horizon)[..., None], sky, sea)
    sun = (np.hypot(x - 0.55 * W, y - horizon) < 45) & (y < horizon)
    return np.where(sun[..., None], [255, 235, 150], rgb)


def ball_on_grass() -> Image.Image:
    """A red ball with a highlight lying on green grass."""
    grass = np.stack(
        [40 + rng.normal(0, 18, (H, W)), 130 + rng.normal(0, 30, (H, W)), 35 + rng.normal(0, 12, (H, W))], 2
    )
    image = Image.fromarray(np.clip(grass, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.8))
    x, y = grid()
    d = np.hypot(x - 200, y - 165) / 85
    shade = np.clip(1.15 - 0.6 * np.hypot(x - 175, y - 135) / 85, 0.35, 1.0)
    ball = np.stack([225 * shade, 30 * shade, 35 * shade], 2)
    rgb = np.where((d < 1)[..., None], ball, np.asarray(image, dtype=np.float64))
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))


if __name__ == "__main__":
    for fn in (honeycomb, zebra_stripes, checkerboard, target, sunset, ball_on_grass):
        save(fn.__name__, fn())
