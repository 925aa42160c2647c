"""The ensemble view of ResNet (Veit, Wilber & Belongie, "Residual Networks Behave Like
Ensembles of Relatively Shallow Networks", NeurIPS 2016, arXiv 1605.06431).

Deleting one block of a trained residual net barely hurts it: every block's input still
reaches the output through the identity shortcut, so the net behaves like an ensemble of
many paths of different lengths and losing one removes only some paths. Deleting one layer
of a plain net of the same depth breaks its only path. The experiment trains both on the
bundled digits with the project's training engine, then deletes each block in turn.
"""

from __future__ import annotations

import tempfile
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
    """Test accuracy of the trained net with each single block deleted (and with none)."""
    model, n = trainer.model, trainer.data.num_classes
    rows = [{"deleted": "none", "top1": evaluate(model, trainer.test_loader, n, trainer.device)["top1"]}]
    for name, stage, i in blocks(model):
        block = stage[i]
        stage[i] = DeletedBlock(block.downsample)
        try:
            rows.append({"deleted": name, "top1": evaluate(model, trainer.test_loader, n, trainer.device)["top1"]})
        finally:
            stage[i] = block
    return rows


def compare(residual: str = "resnet20_cifar", plain: str = "plain20_cifar", epochs: int = 3,
            progress: Progress | None = None) -> dict[str, list[dict]]:
    """Deletion accuracies of a residual net and of its plain twin, trained alike."""
    result = {}
    for i, name in enumerate((residual, plain)):
        step = (lambda f, text, i=i: progress((i + f) / 2, text)) if progress else None
        result[name] = deletion_accuracies(train_on_digits(name, epochs, progress=step))
    return result
