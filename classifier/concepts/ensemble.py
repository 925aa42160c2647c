"""The ensemble view of ResNet (Veit, Wilber & Belongie, "Residual Networks Behave Like
Ensembles of Relatively Shallow Networks", NeurIPS 2016, arXiv 1605.06431).

Deleting one block of a trained residual net barely hurts it: every block's input still
reaches the output through the identity shortcut, so the net behaves like an ensemble of
many paths of different lengths and losing one removes only some paths. Deleting one layer
of a plain net of the same depth breaks its only path. The experiment trains both on the
bundled digits with the project's training engine, then deletes each block in turn.

The two nets start from different accuracies (the plain one trains more slowly), so they
are compared by the share of their accuracy above chance that survives a deletion, not by
the raw drop: a net near chance cannot drop far whatever it loses.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Callable

from torch import nn

from classifier.train.config import TrainConfig
from classifier.train.engine import Trainer, evaluate
from classifier.train.runs import RunDir

Progress = Callable[[float, str], None]


class DeletedBlock(nn.Module):
    """What is left of a block once its residual branch is deleted: only the shortcut
    (the identity, or the parameter-free zero-padding shortcut of a downsampling block)."""

    def __init__(self, shortcut: nn.Module | None):
        super().__init__()
        self.shortcut = shortcut if shortcut is not None else nn.Identity()

    def forward(self, x):
        return self.shortcut(x)


def blocks(model: nn.Module) -> list[tuple[str, nn.Sequential, int]]:
    """(name, parent stage, index) of every block of a CIFAR ResNet-style net."""
    found = []
    for stage_name in ("layer1", "layer2", "layer3"):
        stage = getattr(model, stage_name)
        found += [(f"{stage_name}.{i}", stage, i) for i in range(len(stage))]
    return found


def train_on_digits(model: str, epochs: int, seed: int = 0, progress: Progress | None = None) -> Trainer:
    """Train a registered 32×32 model on the bundled digits with the project's engine,
    in a throw-away run directory; returns the trainer (its ``model`` and ``test_loader``)."""
    cfg = TrainConfig(model=model, dataset="digits", epochs=epochs, batch_size=64, optimizer="sgd", lr=0.05,
                      schedule="cosine", augment="none", seed=seed, device="cpu")
    trainer = Trainer(cfg, RunDir(tempfile.mkdtemp(prefix="concept-"), "run"))
    while trainer.epoch < epochs:
        trainer.train_epoch()
        if progress:
            progress(trainer.epoch / epochs, f"{model}: epoch {trainer.epoch}/{epochs}")
    return trainer


def deletion_accuracies(trainer: Trainer) -> list[dict]:
    """Test accuracy of the trained net with each single block deleted (and with none);
    ``downsampling`` marks the blocks that change the resolution, which Veit et al.
    found costly to delete even in a ResNet."""
    model, n = trainer.model, trainer.data.num_classes
    rows = [{"deleted": "none", "top1": evaluate(model, trainer.test_loader, n, trainer.device)["top1"],
             "downsampling": False}]
    for name, stage, i in blocks(model):
        block = stage[i]
        stage[i] = DeletedBlock(block.downsample)
        try:
            rows.append({"deleted": name, "top1": evaluate(model, trainer.test_loader, n, trainer.device)["top1"],
                         "downsampling": block.downsample is not None})
        finally:
            stage[i] = block
    return rows


def kept_share(rows: list[dict], chance: float, downsampling: bool | None = None) -> float:
    """Mean, over single-block deletions, of the share of the intact net's accuracy above
    chance that survives the deletion (1: unharmed, 0: down to chance); ``downsampling``
    True or False averages over those blocks only."""
    intact, deleted = rows[0]["top1"], [r for r in rows[1:] if downsampling in (None, r["downsampling"])]
    if intact <= chance or not deleted:
        return 0.0
    return sum(max(0.0, r["top1"] - chance) / (intact - chance) for r in deleted) / len(deleted)


@dataclass
class Deletions:
    """Each net's deletion accuracies, and the chance level of the task."""

    nets: dict[str, list[dict]]
    chance: float

    def kept(self, name: str, downsampling: bool | None = None) -> float:
        return kept_share(self.nets[name], self.chance, downsampling)

    def learned(self, name: str, margin: float = 0.25) -> bool:
        """Whether the intact net is far enough above chance for its deletions to mean
        anything (a net at 15 % on ten classes has almost nothing to lose)."""
        return self.nets[name][0]["top1"] >= self.chance + margin

    def verdict(self) -> tuple[bool, str]:
        """(whether this run shows the paper's effect, one sentence saying so or why not)."""
        residual, plain = self.nets
        slow = [name for name in self.nets if not self.learned(name)]
        if slow:
            return False, (f"{' and '.join(slow)} reached only {self.nets[slow[0]][0]['top1']:.0%}: too close to "
                           "chance for its deletions to say anything. Train for more epochs.")
        if self.kept(residual) > self.kept(plain):
            return True, f"As in the paper: {residual} survives single deletions better than {plain}."
        return False, (f"This run does not show the paper's effect: {plain} kept as much as {residual}. "
                       "Train for more epochs, or try again: short runs vary.")


def compare(residual: str = "resnet20_cifar", plain: str = "plain20_cifar", epochs: int = 3,
            progress: Progress | None = None) -> Deletions:
    """Deletion accuracies of a residual net and of its plain twin, trained alike."""
    nets, chance = {}, 0.0
    for i, name in enumerate((residual, plain)):
        step = (lambda f, text, i=i: progress((i + f) / 2, text)) if progress else None
        trainer = train_on_digits(name, epochs, progress=step)
        nets[name], chance = deletion_accuracies(trainer), 1 / trainer.data.num_classes
    return Deletions(nets, chance)
