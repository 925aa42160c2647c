"""Optimizers and learning-rate schedules, stepped once per batch.

Weight decay applies to weight matrices and kernels only: decaying BatchNorm scales and
biases pulls them towards zero without regularising anything useful. Warm-up ramps the
rate linearly from almost nothing over the first ``warmup_epochs``; cosine then
anneals to zero, step multiplies by ``step_gamma`` every ``step_epochs``. One-cycle is
torch's OneCycleLR (Smith & Topin 2017): its rise is the warm-up (30% of the run when
none is given) and it cycles momentum opposite to the rate. Plateau is torch's
ReduceLROnPlateau, AlexNet's rule (Krizhevsky et al. 2012 §5): the rate is multiplied by
``step_gamma`` once the test loss has not improved for ``PLATEAU_PATIENCE`` epochs; it
is the one schedule that listens to the test set, at the end of each epoch
(:func:`end_epoch`).
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import nn

from classifier.train.config import TrainConfig

PLATEAU_PATIENCE = 2  # epochs without a lower test loss before a cut: short runs cannot wait long


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    rest = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr)
    return torch.optim.AdamW(groups, lr=cfg.lr)


def lr_factor(cfg: TrainConfig, steps_per_epoch: int):
    """The multiplier of the base rate at each step, for every schedule but one-cycle and
    plateau."""
    total = cfg.epochs * steps_per_epoch
    warm = round(cfg.warmup_epochs * steps_per_epoch)
    step_every = cfg.step_epochs * steps_per_epoch

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        if cfg.schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))
        if cfg.schedule == "step":
            return cfg.step_gamma ** (step // step_every)
        return 1.0

    return factor


class PlateauSchedule:
    """Per batch: the linear warm-up only. Per epoch (:meth:`end_epoch`): torch's
    ReduceLROnPlateau on the test loss, once the warm-up is over."""

    def __init__(self, optimizer: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int):
        self.optimizer = optimizer
        self.warm = round(cfg.warmup_epochs * steps_per_epoch)
        self.base = [group["lr"] for group in optimizer.param_groups]
        self.steps = 0
        self.plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=cfg.step_gamma, patience=PLATEAU_PATIENCE)
        self._warm_up()

    def _warm_up(self) -> None:
        """The rate at this step of the warm-up (LambdaLR's ``(step + 1) / warm``)."""
        if self.warm and self.steps <= self.warm:
            for group, base in zip(self.optimizer.param_groups, self.base):
                group["lr"] = base * min(1.0, (self.steps + 1) / self.warm)

    def step(self) -> None:
        self.steps += 1
        self._warm_up()

    def end_epoch(self, test_loss: float) -> None:
        if self.steps >= self.warm:
            self.plateau.step(test_loss)

    def state_dict(self) -> dict:
        return {"steps": self.steps, "plateau": self.plateau.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.steps = state["steps"]
        self.plateau.load_state_dict(state["plateau"])


def end_epoch(scheduler, test_loss: float) -> None:
    """Tell the schedule an epoch ended with ``test_loss`` (only plateau listens)."""
    if isinstance(scheduler, PlateauSchedule):
        scheduler.end_epoch(test_loss)


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int):
    total = cfg.epochs * steps_per_epoch
    if cfg.schedule == "plateau":
        return PlateauSchedule(optimizer, cfg, steps_per_epoch)
    if cfg.schedule == "onecycle":
        warm = round(cfg.warmup_epochs * steps_per_epoch)
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=cfg.lr, total_steps=total, pct_start=warm / total if warm else 0.3,
            cycle_momentum=cfg.optimizer != "sgd" or cfg.momentum > 0,
        )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(cfg, steps_per_epoch))


def restore_scheduler(scheduler, state: dict | None, done_steps: int, total_steps: int, saved_total: int | None) -> None:
    """Put a fresh scheduler where a resumed run left off.

    With the same run length the saved state loads as is. When resuming to a different
    epoch count the schedule's shape changed, so the new schedule is replayed up to the
    step reached instead (the scheduler's step-before-optimizer warning is moot here).
    """
    if state is not None and saved_total == total_steps:
        scheduler.load_state_dict(state)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(min(done_steps, total_steps)):
            scheduler.step()
