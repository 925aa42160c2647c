"""Architecture search in miniature: regularized evolution (Real et al., "Regularized
Evolution for Image Classifier Architecture Search", 2018, arXiv 1802.01548 — the method
that found AmoebaNet) over a tiny space of two-node cells.

A population of genotypes is trained briefly and scored; each cycle samples a few
individuals, mutates the best of the sample (one operation or one input changes), trains
the child and drops the *oldest* member — ageing is the regularisation: a genotype
survives only by having good children, not by one lucky score. Candidates are built with
the same cell code as NASNet/AmoebaNet/ENAS and train for seconds on the bundled digits.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from typing import Callable

import torch
from torch.nn import functional as F

from classifier.data import get_info
from classifier.data.digits import load_digits_split
from classifier.models.nas_cells import CellNetwork, Genotype

SEARCH_OPS = ("sep_conv_3x3", "sep_conv_5x5", "max_pool_3x3", "avg_pool_3x3", "skip_connect")
NODES = 2
SIDE = 16  # digits at 16×16 keep each candidate's training to seconds on a CPU


@dataclass(frozen=True)
class Candidate:
    id: int
    genotype: Genotype
    accuracy: float
    parent: int | None
    mutation: str


def _random_cell(rng: random.Random) -> tuple[tuple[str, int], ...]:
    return tuple((rng.choice(SEARCH_OPS), rng.randrange(2 + node)) for node in range(NODES) for _ in range(2))


def _genotype(normal, reduce) -> Genotype:
    concat = tuple(range(2, 2 + NODES))
    return Genotype(tuple(normal), concat, tuple(reduce), concat)


def random_genotype(rng: random.Random) -> Genotype:
    return _genotype(_random_cell(rng), _random_cell(rng))


def mutate(genotype: Genotype, rng: random.Random) -> tuple[Genotype, str]:
    """Change one operation or one input of one cell (the paper's op and hidden-state
    mutations); the child always differs from its parent."""
    kind = rng.choice(("normal", "reduce"))
    cell = list(genotype.cell(kind)[0])
    slot = rng.randrange(len(cell))
    op, src = cell[slot]
    choices_src = [s for s in range(2 + slot // 2) if s != src]
    if rng.random() < 0.5 or not choices_src:
        new = rng.choice([o for o in SEARCH_OPS if o != op])
        cell[slot], text = (new, src), f"{kind} node {slot // 2}: {op} → {new}"
    else:
        new_src = rng.choice(choices_src)
        cell[slot], text = (op, new_src), f"{kind} node {slot // 2}: input {src} → {new_src}"
    normal, reduce = (cell, genotype.reduce) if kind == "normal" else (genotype.normal, cell)
    return _genotype(normal, reduce), text


def build(genotype: Genotype, num_classes: int = 10) -> CellNetwork:
    """A small CIFAR-style stack of the genotype's cells: one cell per stage, 8 channels."""
    return CellNetwork(genotype, c=8, cells_per_stage=1, num_classes=num_classes, stem="cifar", stem_channels=16)


def digits_tensors() -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """The bundled digits as normalised 3×16×16 tensors: (train x, y), (test x, y)."""
    info = get_info("digits")
    out = []
    for part in load_digits_split():
        x = F.interpolate(part.images.float() / 255, size=(SIDE, SIDE), mode="bilinear", align_corners=False)
        x = ((x - info.mean[0]) / info.std[0]).expand(-1, 3, -1, -1).contiguous()
        out.append((x, part.labels))
    return out[0], out[1]


def score(genotype: Genotype, data, steps: int = 60, seed: int = 0) -> float:
    """Train a candidate for ``steps`` Adam steps and return its test accuracy."""
    (x_train, y_train), (x_test, y_test) = data
    torch.manual_seed(seed)
    model = build(genotype)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        idx = torch.randint(len(x_train), (64,), generator=gen)
        loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        return (model(x_test).argmax(1) == y_test).float().mean().item()


def regularized_evolution(
    population: int = 6,
    sample: int = 3,
    candidates: int = 12,
    steps: int = 60,
    seed: int = 0,
    on_candidate: Callable[[Candidate, list[Candidate]], None] | None = None,
) -> list[Candidate]:
    """Evaluate ``candidates`` genotypes in all: ``population`` random ones, then children
    of tournament winners. ``on_candidate(candidate, alive)`` sees each as it is scored."""
    if not 1 <= sample <= population <= candidates:
        raise ValueError("need 1 ≤ sample ≤ population ≤ candidates")
    rng = random.Random(seed)
    data = digits_tensors()
    alive: deque[Candidate] = deque()
    history: list[Candidate] = []
    for i in range(candidates):
        if i < population:
            genotype, parent, text = random_genotype(rng), None, "random"
        else:
            winner = max(rng.sample(list(alive), sample), key=lambda c: c.accuracy)
            (genotype, text), parent = mutate(winner.genotype, rng), winner.id
        cand = Candidate(i, genotype, score(genotype, data, steps, seed=seed + i), parent, text)
        history.append(cand)
        alive.append(cand)
        if len(alive) > population:
            alive.popleft()  # the oldest dies, however good it was
        if on_candidate:
            on_candidate(cand, list(alive))
    return history
