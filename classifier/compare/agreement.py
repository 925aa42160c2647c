"""Do the nets agree? Their top-1 classes, and the rank correlation of their attributions.

Two attribution maps rarely share a scale (a Grad-CAM heat, a guided-backprop magnitude,
a drop in probability), so they are compared by Spearman's rank correlation: +1 when
both order the pixels by importance the same way, 0 when their orders are unrelated.
Before ranking, each map is resampled onto one grid over the part of the original
picture that every model saw — a 224-pixel ImageNet crop covers the middle 87.5% of a
photo, a 32×32 net the whole of it — so pixel (i, j) means the same spot in every map.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import torch
from torch.nn import functional as F

from classifier.compare.views import Explanation, ModelView

GRID = 64  # side of the common grid the maps are ranked on


def common_region(frames: list[tuple[float, float, float, float]]) -> tuple[float, float, float, float]:
    """The part of the picture inside every frame (all are centred, so it is never empty)."""
    tops, lefts, bottoms, rights = zip(*frames)
    return max(tops), max(lefts), min(bottoms), min(rights)


def resample(strength: np.ndarray, frame: tuple[float, float, float, float],
             region: tuple[float, float, float, float], size: int = GRID) -> np.ndarray:
    """``strength`` (covering ``frame`` of the picture) sampled bilinearly at the centres
    of a ``size``×``size`` grid over ``region``."""
    top, left, bottom, right = frame
    r_top, r_left, r_bottom, r_right = region
    centres = (np.arange(size) + 0.5) / size
    ys = r_top + centres * (r_bottom - r_top)
    xs = r_left + centres * (r_right - r_left)
    # grid_sample's coordinates: -1 and +1 are the outer edges of the map (align_corners=False)
    gy = torch.as_tensor(2 * (ys - top) / (bottom - top) - 1, dtype=torch.float64)
    gx = torch.as_tensor(2 * (xs - left) / (right - left) - 1, dtype=torch.float64)
    yy, xx = torch.meshgrid(gy, gx, indexing="ij")
    points = torch.stack([xx, yy], dim=-1)[None]
    values = torch.as_tensor(np.asarray(strength, dtype=np.float64))[None, None]
    return F.grid_sample(values, points, mode="bilinear", padding_mode="border", align_corners=False)[0, 0].numpy()


def ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 0, ties sharing the mean of the ranks they span."""
    v = np.asarray(values, dtype=np.float64).ravel()
    order = np.argsort(v, kind="stable")
    _, first, counts = np.unique(v[order], return_index=True, return_counts=True)
    out = np.empty(len(v))
    out[order] = np.repeat(first + (counts - 1) / 2, counts)
    return out


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two equal-sized arrays; NaN when one is constant
    (a map with no preference ranks nothing)."""
    ra, rb = ranks(a), ranks(b)
    if len(ra) != len(rb):
        raise ValueError(f"{len(ra)} and {len(rb)} values cannot be correlated")
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = np.sqrt((ra ** 2).sum() * (rb ** 2).sum())
    return float((ra * rb).sum() / denom) if denom > 0 else float("nan")


@dataclass
class Agreement:
    """``same_top1[i][j]``: whether models i and j name the same class (None when their
    class lists differ, so their answers cannot be matched); ``rank_correlation``: the
    Spearman matrix of their attribution maps (None without explanations)."""

    labels: list[str]
    top1: list[str]
    same_top1: list[list[bool | None]]
    rank_correlation: np.ndarray | None

    def pairs(self) -> list[tuple[int, int]]:
        return list(combinations(range(len(self.labels)), 2))

    def summary(self) -> list[str]:
        """One sentence per pair of models."""
        lines = []
        for i, j in self.pairs():
            same = self.same_top1[i][j]
            verdict = ("both say " + repr(self.top1[i]) if same else
                       f"{self.top1[i]!r} vs {self.top1[j]!r}" if same is False else "different class lists")
            rho = "" if self.rank_correlation is None else f"; attribution rank correlation {self.rank_correlation[i, j]:+.2f}"
            lines.append(f"{self.labels[i]} / {self.labels[j]}: top-1 {verdict}{rho}")
        return lines


def agreement(views: list[ModelView], explanations: list[Explanation] | None = None) -> Agreement:
    """Pairwise top-1 agreement and, given one explanation per view, the rank correlation
    of the explanations over the picture region all the models saw."""
    k = len(views)
    same = [[None if views[i].loaded.class_names != views[j].loaded.class_names
             else views[i].top1.index == views[j].top1.index for j in range(k)] for i in range(k)]
    rho = None
    if explanations is not None:
        if len(explanations) != k:
            raise ValueError(f"{len(explanations)} explanations for {k} models")
        region = common_region([v.frame for v in views])
        grids = [resample(e.strength, v.frame, region) for v, e in zip(views, explanations)]
        rho = np.array([[spearman(a, b) for b in grids] for a in grids])
    return Agreement([v.label for v in views], [v.top1.label for v in views], same, rho)
