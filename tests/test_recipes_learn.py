"""Every 32×32 variant learns with its own default recipe.

Two checks, sized for CI on two cores (bench/recipes.py trains every variant for real and
prints the table):

- the first epoch of the plain default run (``TrainConfig(model=name)``, nothing set: the
  recipe's full run length, so its rate is at full strength) lifts MobileNet v2 and
  MnasNet-1.0 (a network found by architecture search, Tan et al. 2019) to 40 % or more
  on digits' test split, four times chance; they measured 72 % and 63 % here with one
  thread. NASNet-A, AmoebaNet-A and ENAS cells train at a few images/s here, minutes an
  epoch, so the bench covers those; ResNet-20's first epoch is in tests/test_batchnorm.py;
- each recipe lowers the training loss of its cheapest variant on a fixed batch of 16
  digits within 24 steps. The probe steps 16 images at a time where the recipe's batch
  is 32–128, so an SGD rate is scaled by 16 / batch (the linear scaling rule, Goyal et
  al. 2017, §2.1); Adam's steps do not grow with the gradient's size, so its rate is
  kept. The loss must fall by at least 3 %: in 24 steps the slowest starters fall by 5–8 %
  (SqueezeNet, ViT-Lite, PreAct-164; measured here), a dead or diverging net not at all.
  Sampled, because probing every variant took over 15 minutes on this machine: one variant
  per recipe, the cheapest below 1.2 G MACs (the Wide ResNet and ResNeXt recipes have
  none, and CondenseNet trains with its recipe's SGD 0.1 in tests/test_condensenet_training.py).
"""

from __future__ import annotations

import math

import pytest
import torch

from classifier.analysis import analyze
from classifier.registry import get_card, list_models
from classifier.train import RunDir, TrainConfig, Trainer

PROBE_IMAGES, PROBE_STEPS = 16, 24
FIRST_EPOCH = ("mobilenet_v2_cifar", "mnasnet1_0_cifar")
HEAVY = 1.2e9  # MACs


def cheapest_per_recipe() -> list[str]:
    """The cheapest variant below ``HEAVY`` of each recipe, but LeNet-5's, ResNet-20's and
    CondenseNet's, which their own tests train."""
    cheapest: dict[int, tuple[float, str]] = {}
    for name in list_models(small_input=True):
        macs, recipe = analyze(name).macs, get_card(name).recipe
        if macs <= HEAVY and macs < cheapest.get(id(recipe), (math.inf, ""))[0]:
            cheapest[id(recipe)] = (macs, name)
    return sorted(n for _, n in cheapest.values() if n not in ("lenet5", "resnet20_cifar", "condensenet_86_cifar"))


@pytest.mark.parametrize("name", FIRST_EPOCH)
def test_first_epoch_of_the_plain_default_run_is_far_above_chance(name, tmp_path):
    trainer = Trainer(TrainConfig(model=name), RunDir(tmp_path, name))
    assert trainer.train_epoch()
    top1 = trainer.evaluate()["top1"]
    trainer.close()
    assert top1 >= 0.4, f"{name}: {top1:.1%} on digits' test split after one epoch (chance 10 %)"


def probe_losses(name: str, root) -> list[float]:
    """The training loss at each of ``PROBE_STEPS`` steps of the engine's own training
    loop, fed the first ``PROBE_IMAGES`` training images (augmented afresh for each
    step) instead of its loader, with the model's recipe."""
    cfg = TrainConfig(model=name)
    if cfg.optimizer == "sgd":
        cfg.lr *= PROBE_IMAGES / cfg.batch_size
    trainer = Trainer(cfg, RunDir(root, name))
    images = trainer.train_loader.dataset

    def fixed_batch() -> tuple[torch.Tensor, torch.Tensor]:
        x, y = zip(*(images[i] for i in range(PROBE_IMAGES)))
        return torch.stack(x), torch.tensor(y)

    trainer.train_loader = [fixed_batch() for _ in range(PROBE_STEPS)]
    assert trainer.train_epoch() and trainer.log_every == 1
    trainer.close()
    return [m["loss"] for m in trainer.run.read_metrics() if m["kind"] == "train"]


@pytest.mark.parametrize("name", cheapest_per_recipe())
def test_the_recipe_lowers_the_training_loss_within_24_steps(name, tmp_path):
    losses = probe_losses(name, tmp_path)
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    recipe = get_card(name).recipe
    assert last < 0.97 * first, (f"{name} with {recipe.optimizer} {recipe.lr:g}: mean loss of the first three "
                                 f"steps {first:.3f}, of the last three {last:.3f}")
