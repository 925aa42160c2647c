"""The training recipe each model starts from: its paper's small-input recipe where the
paper gives one, else one measured here on the bundled digits: per model (LeNet-5) or,
for the nets whose papers are ImageNet-only, one per kind of net (Adam without
normalisation layers, AdamW with them), measured on a few nets of that kind and not
tuned for each (its ``source`` says which).

A recipe fills the :class:`~classifier.train.config.TrainConfig` fields a user leaves
unset, so ``python -m classifier train --model X`` trains X the way X is meant to be
trained; any field the user sets wins. ``source`` says where the numbers come from in
one line, and the CLI and the Train page show it.

Two deliberate departures from the papers, written into each ``source``: the papers'
step decays (÷10 at fixed epochs) become cosine annealing, which needs no milestones
when a user shortens the run and ends at the same rate; and the papers' epoch counts
are kept as written, so a short run is a matter of ``--epochs``.

Recipes are looked up by model name first, then, for the 32×32 variants, by family
(:func:`recipe_for`); the ImageNet-sized nets, trained here only to fine-tune their
weights, get :data:`GENERAL`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class Recipe:
    """One model's default training settings; ``source`` is where they come from."""

    optimizer: str
    lr: float
    weight_decay: float
    batch_size: int
    schedule: str
    epochs: int
    augment: str
    source: str
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    nesterov: bool = False


# The TrainConfig fields a recipe fills (every Recipe field but its source).
RECIPE_FIELDS = tuple(f.name for f in fields(Recipe) if f.name != "source")

COSINE = "its step decays become cosine annealing"

# He et al. 2016, "Deep Residual Learning", §4.2 (CIFAR-10): SGD, momentum 0.9, lr 0.1,
# weight decay 1e-4, batch 128, 64k iterations (164 epochs) with ÷10 at 32k and 48k,
# 4-pixel padding + 32×32 crop + horizontal flip.
RESNET = Recipe(
    "sgd", 0.1, 1e-4, 128, "cosine", 164, "standard",
    f"He et al. 2016 §4.2, CIFAR-10 (SGD 0.1, wd 1e-4, batch 128, 164 epochs; {COSINE})",
)
# He et al. 2016, "Identity Mappings", §5 and appendix: the same recipe, with a 0.01
# warm-up for ResNet-1001 and -164 (about 400 iterations, one epoch at batch 128).
PREACT = Recipe(
    "sgd", 0.1, 1e-4, 128, "cosine", 164, "standard",
    f"He et al. 2016 (Identity Mappings) appendix, CIFAR (SGD 0.1, wd 1e-4, batch 128, 164 epochs, "
    f"one warm-up epoch; {COSINE})",
    warmup_epochs=1.0,
)
# Huang et al. 2017, "Densely Connected Convolutional Networks", §4.2: SGD, Nesterov
# momentum 0.9 without dampening, lr 0.1 ÷10 at 50 % and 75 %, wd 1e-4, batch 64, 300 epochs.
DENSENET = Recipe(
    "sgd", 0.1, 1e-4, 64, "cosine", 300, "standard",
    f"Huang et al. 2017 §4.2, CIFAR (Nesterov SGD 0.1, wd 1e-4, batch 64, 300 epochs; {COSINE})",
    nesterov=True,
)

FAMILY_RECIPES: dict[str, Recipe] = {
    "ResNet": RESNET,
    "Pre-activation ResNet": PREACT,
    "DenseNet": DENSENET,
    # Huang et al. 2018, "CondenseNet", §5: Nesterov SGD, lr 0.1 annealed with a cosine
    # shape, wd 1e-4, batch 64, 300 epochs.
    "CondenseNet": Recipe(
        "sgd", 0.1, 1e-4, 64, "cosine", 300, "standard",
        "Huang et al. 2018 (CondenseNet) §5, CIFAR (Nesterov SGD 0.1 cosine, wd 1e-4, batch 64, 300 epochs)",
        nesterov=True,
    ),
    # Zagoruyko & Komodakis 2016, "Wide Residual Networks", §3: Nesterov SGD, lr 0.1
    # ×0.2 at epochs 60, 120 and 160 of 200, wd 5e-4, batch 128.
    "Wide ResNet": Recipe(
        "sgd", 0.1, 5e-4, 128, "cosine", 200, "standard",
        f"Zagoruyko & Komodakis 2016 §3, CIFAR (Nesterov SGD 0.1, wd 5e-4, batch 128, 200 epochs; {COSINE})",
        nesterov=True,
    ),
    # Xie et al. 2017, "Aggregated Residual Transformations", §5.3 CIFAR: SGD 0.1 ÷10 at
    # epochs 150 and 225 of 300, wd 5e-4, momentum 0.9, batch 128.
    "ResNeXt": Recipe(
        "sgd", 0.1, 5e-4, 128, "cosine", 300, "standard",
        f"Xie et al. 2017 §5.3, CIFAR (SGD 0.1, wd 5e-4, batch 128, 300 epochs; {COSINE})",
    ),
    # Huang et al. 2016, "Deep Networks with Stochastic Depth", §4: Nesterov SGD, lr 0.1
    # ÷10 at epochs 250 and 375 of 500, wd 1e-4, batch 128.
    "Stochastic Depth": Recipe(
        "sgd", 0.1, 1e-4, 128, "cosine", 500, "standard",
        f"Huang et al. 2016 (Stochastic Depth) §4, CIFAR (Nesterov SGD 0.1, wd 1e-4, batch 128, 500 epochs; {COSINE})",
        nesterov=True,
    ),
    # Huang et al. 2018, "Multi-Scale Dense Networks", §5: Nesterov SGD, lr 0.1 ÷10 at
    # epochs 150 and 225 of 300, wd 1e-4, batch 64.
    "MSDNet": Recipe(
        "sgd", 0.1, 1e-4, 64, "cosine", 300, "standard",
        f"Huang et al. 2018 (MSDNet) §5, CIFAR (Nesterov SGD 0.1, wd 1e-4, batch 64, 300 epochs; {COSINE})",
        nesterov=True,
    ),
    # AlexNet's own rule (Krizhevsky et al. 2012 §5: divide the rate by 10 whenever the
    # validation error stops improving) on the original project's recipe (Adam, wd 1e-4,
    # batch 128, flip-only, 50 epochs; shared/research/weights-sources.md), which is how
    # that project trained its 32×32 AlexNet.
    "AlexNet": Recipe(
        "adam", 1e-3, 1e-4, 128, "plateau", 50, "flip",
        "the original project's AlexNet recipe (Adam 1e-3, wd 1e-4, batch 128, flip-only, 50 epochs) with "
        "Krizhevsky et al. 2012 §5's ÷10 when the test loss stops improving",
    ),
}

# The nets below have no small-input recipe in their papers (ImageNet-only papers). They get
# one of two starting points, each measured here on digits but not tuned per net: Adam for
# the nets without normalisation layers, AdamW for the rest. The Adam one was measured on
# SqueezeNet 1.1 (CIFAR stem, He-initialised as torchvision does): Adam 1e-3 at batch 64
# kept it at chance for two epochs, SGD 0.01 too; Adam 3e-4 at batch 32 left the test
# split at 31 % after three epochs, 56 % with one warm-up epoch. NIN, whose last mlpconv
# ends in a ReLU before the global pool, settles at a loss of ln 10 (equal scores for
# every class: its class maps have gone to zero) under SGD 0.1 or 0.02, Adam 1e-3 or Adam
# 3e-4 without warm-up; with it, it reaches 23 % in 3 epochs and 39 % in 6 (bench/recipes.py,
# one thread, seed 0). The AdamW one replaced the CIFAR ResNet recipe's SGD 0.1 at batch
# 64, under which MobileNet v2, IGCV2, ShuffleNet v1 and EfficientNet-B0 stayed
# below 20 % after one epoch, their training loss rising; one epoch of AdamW 2e-3 at batch
# 32 (one thread, seed 0) gave ShuffleNet v1 88 %, IGCV2 92 %, MobileNet v2 72 %, MnasNet
# 63 %, ShuffleNet v2 61 % and EfficientNet-B0 58 %. SGD 0.02 at batch 32 did better on
# MobileNet v2 (82 %) and MnasNet (85 %) but left ShuffleNet v1 at 17 %.
ADAM = Recipe(
    "adam", 3e-4, 0.0, 32, "cosine", 30, "standard",
    "measured here: Adam 3e-4, batch 32, one warm-up epoch, cosine, for the nets without normalisation layers; "
    "in 3 epochs on digits the warm-up lifted SqueezeNet 1.1 from 31 % to 56 % and NIN from 12 % to 23 %",
    warmup_epochs=1.0,
)
ADAMW = Recipe(
    "adamw", 2e-3, 0.05, 32, "cosine", 30, "standard",
    "measured here: AdamW 2e-3, wd 0.05, batch 32, cosine, for the nets whose papers train on ImageNet only; "
    "after one epoch on digits MobileNet v2 reached 72 % and ShuffleNet v1 88 %, where SGD 0.1 at batch 64 "
    "left both below 20 %",
)

MODEL_RECIPES: dict[str, Recipe] = {
    # He et al. 2016 §4.2: for the 110-layer net "0.1 is slightly too large to start
    # converging", so it warms up at 0.01 until the training error is below 80 % (about
    # 400 iterations, one CIFAR epoch at batch 128); here one linear warm-up epoch.
    "resnet110_cifar": replace(
        RESNET, warmup_epochs=1.0,
        source=f"He et al. 2016 §4.2, CIFAR-10 (SGD 0.1, wd 1e-4, batch 128, 164 epochs, one warm-up epoch as "
        f"the paper does for 110 layers; {COSINE})",
    ),
    # Stochastic depth's ResNet-110 is He et al.'s 110-layer net, with the same trouble
    # starting at 0.1: without a warm-up it was at 15.8 % on digits after 400 steps, with
    # He et al.'s warm-up epoch (added here, not Huang et al.'s) at 86.9 % (bench/recipes.py).
    "sd_resnet110_cifar": replace(
        FAMILY_RECIPES["Stochastic Depth"], warmup_epochs=1.0,
        source=FAMILY_RECIPES["Stochastic Depth"].source + ", with He et al. 2016's warm-up epoch for 110 layers",
    ),
    # LeNet-5's own training (LeCun et al. 1998 §II-B: 20 passes of stochastic diagonal
    # Levenberg-Marquardt over MNIST) uses an optimizer torch does not have. SGD at 0.1,
    # the CLI's old default, left it at 15.6 % on digits after 5 epochs; this reaches 95 %
    # in 5 (tests/test_recipes.py runs exactly that).
    "lenet5": Recipe(
        "adamw", 5e-3, 0.05, 32, "cosine", 10, "none",
        "measured here: AdamW 5e-3, batch 32, passes 95 % on digits in 5 epochs where SGD 0.1 stays at chance",
    ),
}
for _family in ("NIN", "ZFNet", "VGG", "Highway Network", "SqueezeNet"):
    FAMILY_RECIPES.setdefault(_family, ADAM)
for _family in (
    "GoogLeNet", "BN-Inception", "Inception-v3", "Inception-v4", "Xception", "DPN", "IGCV1",
    "IGCV2", "IGCV3", "MobileNet v1", "MobileNet v2", "MobileNet v3", "ShuffleNet v1", "ShuffleNet v2",
    "MnasNet", "EfficientNet", "SENet", "NASNet", "AmoebaNet", "ENAS", "CliqueNet",
):
    FAMILY_RECIPES.setdefault(_family, ADAMW)
# Hassani et al. 2021 ("Escaping the Big Data Paradigm with Compact Transformers", the
# ViT-Lite paper) train with AdamW, label smoothing 0.1, warm-up and cosine decay; the rate
# and decay here are AdamW's usual ones, not the paper's.
FAMILY_RECIPES["ViT"] = Recipe(
    "adamw", 1e-3, 0.05, 64, "cosine", 30, "standard",
    "not tuned for this net: the ViT-Lite paper's (Hassani et al. 2021) AdamW, warm-up, cosine and label "
    "smoothing 0.1, at AdamW's usual 1e-3 and wd 0.05",
    warmup_epochs=1.0, label_smoothing=0.1,
)

GENERAL = Recipe(
    "adamw", 1e-3, 0.05, 64, "cosine", 10, "standard",
    "general default (not tuned for this net): AdamW 1e-3, wd 0.05, cosine",
)


def recipe_for(model) -> Recipe:
    """The recipe of ``model`` (a registered name or its card)."""
    from classifier.registry import get_card

    card = get_card(model) if isinstance(model, str) else model
    if card.name in MODEL_RECIPES:
        return MODEL_RECIPES[card.name]
    return FAMILY_RECIPES.get(card.family.name, GENERAL) if card.small_input else GENERAL
