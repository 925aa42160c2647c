"""Normalisation layers differ only in which axes of an N×C×H×W batch they average over.

BatchNorm: per channel, over the batch and the positions (N, H, W) — so it depends on the
other images in the batch, keeps running averages for eval, and gets noisy for small batches.
LayerNorm: per image, over (C, H, W). InstanceNorm: per image and channel, over (H, W).
GroupNorm: per image and group of channels, over (C/G, H, W); G=1 is LayerNorm, G=C is
InstanceNorm.
"""

from __future__ import annotations

import torch

KINDS = ("BatchNorm", "LayerNorm", "InstanceNorm", "GroupNorm")


def statistic_groups(kind: str, n: int, c: int, groups: int = 2) -> list[list[int]]:
    """For an N×C block, the id of the statistics group that each (image, channel) cell
    belongs to: cells with the same id share one mean and variance (over H×W too)."""
    if kind == "BatchNorm":
        return [[ch for ch in range(c)] for _ in range(n)]
    if kind == "LayerNorm":
        return [[img for _ in range(c)] for img in range(n)]
    if kind == "InstanceNorm":
        return [[img * c + ch for ch in range(c)] for img in range(n)]
    if kind == "GroupNorm":
        if c % groups:
            raise ValueError(f"GroupNorm needs the group count ({groups}) to divide the channels ({c})")
        per = c // groups
        return [[img * groups + ch // per for ch in range(c)] for img in range(n)]
    raise ValueError(f"unknown normalisation {kind!r}")


def normalize_by_groups(x: torch.Tensor, ids: list[list[int]], eps: float = 1e-5) -> torch.Tensor:
    """Normalise ``x`` (N, C, H, W) using the statistics groups above, by hand — the
    independent computation the tests compare with torch's modules."""
    ids_t = torch.tensor(ids)
    out = torch.empty_like(x)
    for g in ids_t.unique():
        cells = (ids_t == g).nonzero().tolist()
        values = torch.stack([x[i, ch] for i, ch in cells])
        mean, var = values.mean(), values.var(unbiased=False)
        for i, ch in cells:
            out[i, ch] = (x[i, ch] - mean) / torch.sqrt(var + eps)
    return out


def batch_statistic_noise(features: torch.Tensor, batch_sizes: list[int], draws: int = 200, seed: int = 0) -> list[dict]:
    """How far BatchNorm's per-batch mean and std of one feature stray from the whole
    data set's, for each batch size: the reason BatchNorm suffers with small batches."""
    gen = torch.Generator().manual_seed(seed)
    true_mean, true_std = features.mean().item(), features.std().item()
    rows = []
    for b in batch_sizes:
        idx = torch.stack([torch.randperm(len(features), generator=gen)[:b] for _ in range(draws)])
        batches = features[idx]
        means = batches.mean(dim=1)
        stds = batches.std(dim=1, unbiased=False)
        rows.append({
            "batch_size": b,
            "mean_error": (means - true_mean).abs().mean().item(),
            "std_error": (stds - true_std).abs().mean().item(),
        })
    return rows


def digits_brightness() -> torch.Tensor:
    """One real feature to batch: the mean brightness of each bundled training digit."""
    from classifier.data.digits import load_digits_split

    train, _ = load_digits_split()
    return train.images.float().mean(dim=(1, 2, 3)) / 255


def train_eval_difference(x: torch.Tensor, momentum: float = 0.1, steps: int = 1) -> dict[str, torch.Tensor]:
    """BatchNorm's output for the same batch in train mode (batch statistics) and in eval
    mode (running averages after ``steps`` training batches)."""
    bn = torch.nn.BatchNorm2d(x.shape[1], momentum=momentum, affine=False)
    bn.train()
    for _ in range(steps):
        train_out = bn(x)
    bn.eval()
    return {"train": train_out.detach(), "eval": bn(x).detach(), "running_mean": bn.running_mean.clone(), "running_var": bn.running_var.clone()}
