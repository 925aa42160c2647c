"""CondenseNet — "CondenseNet: An Efficient DenseNet using Learned Group Convolutions",
Huang, Liu, van der Maaten and Weinberger, 2017 (arXiv 1711.09224).

A DenseNet whose 1×1 convolutions learn their own grouping: during the first half of
training the least important input channels of each group are pruned in C stages (a
mask on a dense convolution); afterwards the network is converted into an efficient one
where each such layer is an index selection followed by an ordinary group convolution.
Growth rates double from stage to stage, since deep layers rely more on fresh features.

Trained by :mod:`classifier.train.engine`, a CondenseNet drives its own condensation
through the engine's model hooks (``training_progress``, ``regularization_loss``,
``training_status``, ``inference_form``): the pruning stages run at the fractions of
training the authors' code uses, the group lasso joins the loss with their weight, and
the run's best.pt holds the converted, efficient network.
"""

from __future__ import annotations

import copy
import math
from collections import OrderedDict
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from classifier.layers import ChannelShuffle, NormActConv
from classifier.registry import Family, register_model
from classifier.weights.convert import by_order
from classifier.weights.entries import WeightEntry, register_weights
from classifier.weights.preprocess import Preprocess

CONDENSENET = Family(
    name="CondenseNet",
    year=2017,
    paper="CondenseNet: An Efficient DenseNet using Learned Group Convolutions",
    arxiv="1711.09224",
    authors="Gao Huang, Shichen Liu, Laurens van der Maaten, Kilian Q. Weinberger",
    ideas=(
        "Learned group convolution: each group of a 1×1 convolution learns which input "
        "channels it keeps, pruning the weakest in C stages during the first half of training.",
        "After training, a layer becomes an index selection plus a plain group convolution, "
        "cheap at inference time.",
        "The growth rate doubles at every resolution change, because deep layers depend more "
        "on new features than on old ones.",
        "Dense connections also run across blocks (average pooling keeps every feature map).",
    ),
)


# The group-lasso weight λ. The paper (Sec. 3.1, "Group Lasso") adds the term without a
# value; the authors' script.sh trains ImageNet CondenseNets with `--group-lasso 0.00001`
# (main.py's --group-lasso-lambda, github.com/ShichenLiu/CondenseNet, commit 833a91d).
LASSO_WEIGHT = 1e-5


def condensation_stage(progress: float, condense_factor: int) -> int:
    """How many pruning stages should be done at ``progress`` ∈ [0, 1] of training: one
    more after each (1 / (2·(C−1)))-th of training, all C−1 of them by the half-way point."""
    if not 0.0 <= progress <= 1.0:
        raise ValueError(f"progress is a fraction of training in [0, 1], got {progress}")
    return min(condense_factor - 1, math.floor(2 * (condense_factor - 1) * progress))


# ---------------------------------------------------------------------------------------
# Blocks


class LearnedGroupConv(nn.Module):
    """BN → ReLU → 1×1 convolution whose weight is masked. Output channel ``o`` belongs to
    group ``o % groups``; each pruning stage removes, in every group, the ``in/C`` still
    active input channels with the smallest summed weight magnitude over that group.

    The mask is a buffer, so a checkpoint keeps the learned structure; ``stage`` counts the
    pruning stages done. The convolution is applied functionally with ``weight * mask``,
    which torch.fx traces as an ordinary conv2d.
    """

    def __init__(self, in_ch: int, out_ch: int, groups: int, condense_factor: int):
        super().__init__()
        if in_ch % condense_factor or out_ch % groups:
            raise ValueError(f"{in_ch} inputs / {out_ch} outputs do not split into C={condense_factor}, G={groups}")
        self.in_channels, self.out_channels = in_ch, out_ch
        self.groups, self.condense_factor = groups, condense_factor
        self.norm = nn.BatchNorm2d(in_ch)
        self.relu = nn.ReLU()
        self.weight = nn.Parameter(torch.empty(out_ch, in_ch, 1, 1))
        nn.init.kaiming_normal_(self.weight, mode="fan_out", nonlinearity="relu")
        self.register_buffer("mask", torch.ones(out_ch, in_ch, 1, 1))
        self.register_buffer("stage", torch.zeros((), dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(self.relu(self.norm(x)), self.weight * self.mask)

    def group_mask(self, group: int) -> torch.Tensor:
        """Which input channels ``group`` still reads (its rows of the mask are identical)."""
        return self.mask[group, :, 0, 0] > 0

    @torch.no_grad()
    def condense_to(self, progress: float) -> None:
        """Run the pruning stages due at ``progress`` that have not run yet."""
        target = condensation_stage(progress, self.condense_factor)
        delta = self.in_channels // self.condense_factor
        while int(self.stage) < target:
            importance = (self.weight * self.mask).abs().flatten(1)
            for g in range(self.groups):
                score = importance[g :: self.groups].sum(0).masked_fill(~self.group_mask(g), math.inf)
                self.mask[g :: self.groups, score.topk(delta, largest=False).indices] = 0
            self.stage += 1

    def lasso_loss(self) -> torch.Tensor:
        """Group lasso over (group, input channel) weight columns: the regulariser the paper
        adds to the loss so whole columns shrink before they are pruned. Zero once condensed."""
        if int(self.stage) >= self.condense_factor - 1:
            return self.weight.new_zeros(())
        return self.group_lasso()

    def group_lasso(self) -> torch.Tensor:
        """The lasso term without the check of the stage (which waits for the device)."""
        w = (self.weight * self.mask).squeeze(-1).squeeze(-1).pow(2)
        per_group = w.unflatten(0, (-1, self.groups)).sum(0)  # rows o = k·G + g → sum over k
        return per_group.clamp(min=1e-6).sqrt().sum()


class CondensedConv(nn.Module):
    """The inference form of a :class:`LearnedGroupConv`: select each group's kept input
    channels (a channel kept by two groups is copied twice), BN → ReLU, a 1×1 group
    convolution, and a shuffle that puts output ``k`` of group ``g`` back at ``k·G + g``."""

    def __init__(self, index: torch.Tensor, out_ch: int, groups: int):
        super().__init__()
        self.register_buffer("index", index)
        self.norm = nn.BatchNorm2d(len(index))
        self.relu = nn.ReLU()
        self.conv = nn.Conv2d(len(index), out_ch, 1, groups=groups, bias=False)
        self.shuffle = ChannelShuffle(groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.index_select(x, 1, self.index)
        return self.shuffle(self.conv(self.relu(self.norm(x))))

    @classmethod
    @torch.no_grad()
    def from_learned(cls, learned: LearnedGroupConv) -> "CondensedConv":
        g = learned.groups
        kept = [learned.group_mask(i).nonzero().flatten() for i in range(g)]
        if len({len(k) for k in kept}) != 1:
            raise ValueError("groups keep different numbers of channels; the mask was edited by hand")
        index = torch.cat(kept)
        new = cls(index, learned.out_channels, g).to(learned.weight.device)
        new.conv.weight.copy_(torch.cat([learned.weight[i::g][:, k] for i, k in enumerate(kept)]))
        bn, old = new.norm, learned.norm
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(bn, name).copy_(getattr(old, name)[index])
        bn.num_batches_tracked.copy_(old.num_batches_tracked)
        bn.eps, bn.momentum = old.eps, old.momentum
        return new.train(learned.training)


class DenseLayer(nn.Module):
    """Learned 1×1 group conv to ``bottleneck·k`` channels, 3×3 group conv to ``k``, and
    the new ``k`` maps appended to the input. ``converted=True`` builds the 1×1 in its
    inference form (a :class:`CondensedConv` whose index the weights fill in)."""

    def __init__(
        self, in_ch: int, growth: int, bottleneck: int, groups_1x1: int, groups_3x3: int, condense_factor: int,
        converted: bool = False,
    ):
        super().__init__()
        if converted:
            kept = torch.zeros(groups_1x1 * (in_ch // condense_factor), dtype=torch.long)
            self.conv_1: nn.Module = CondensedConv(kept, bottleneck * growth, groups_1x1)
        else:
            self.conv_1 = LearnedGroupConv(in_ch, bottleneck * growth, groups_1x1, condense_factor)
        self.conv_2 = NormActConv(bottleneck * growth, growth, 3, groups=groups_3x3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.conv_2(self.conv_1(x))], 1)


# ---------------------------------------------------------------------------------------
# Network


class CondenseNet(nn.Module):
    """Stem conv (no BN, as in the reference), dense blocks of ``layers[i]`` layers with
    growth ``growth[i]``, 2×2 average pooling between blocks, BN-ReLU, global pool, linear.

    Training: call :meth:`condense_step` with the fraction of training done (every epoch
    is enough) and add ``λ·lasso_loss()`` to the loss if you like; then
    :func:`convert_to_efficient` gives the inference network. The training engine does
    all of this through the hooks at the end of the class.

    ``converted=True`` builds that inference network directly, as the authors'
    ``convert_model`` leaves it (condensed 1×1 convs and, for ``classifier_keep`` < 1, a
    classifier reading that fraction of the pooled features), with placeholder indices
    for a trained state dict (its ``index`` buffers) to fill in.
    """

    def __init__(
        self,
        layers: Sequence[int],
        growth: Sequence[int],
        num_classes: int,
        stem_stride: int,
        bottleneck: int = 4,
        groups_1x1: int = 4,
        groups_3x3: int = 4,
        condense_factor: int = 4,
        converted: bool = False,
        classifier_keep: float = 0.5,
    ):
        super().__init__()
        if len(layers) != len(growth):
            raise ValueError("one growth rate per dense block")
        channels = 2 * growth[0]
        features: OrderedDict[str, nn.Module] = OrderedDict(
            init_conv=nn.Conv2d(3, channels, 3, stem_stride, 1, bias=False)
        )
        for i, (n, k) in enumerate(zip(layers, growth), start=1):
            block = []
            for _ in range(n):
                block.append(DenseLayer(channels, k, bottleneck, groups_1x1, groups_3x3, condense_factor, converted))
                channels += k
            features[f"denseblock_{i}"] = nn.Sequential(
                OrderedDict((f"denselayer_{j}", layer) for j, layer in enumerate(block, start=1))
            )
            if i < len(layers):
                features[f"transition_{i}"] = nn.AvgPool2d(2)
        features["norm_last"] = nn.BatchNorm2d(channels)
        features["relu_last"] = nn.ReLU()
        features["pool_last"] = nn.AdaptiveAvgPool2d(1)
        self.features = nn.Sequential(features)
        self.flatten = nn.Flatten(1)
        self.condense_factor = condense_factor
        self._stage: int | None = None  # pruning stages done, as training_progress last saw them
        if converted and classifier_keep < 1.0:
            kept = torch.zeros(int(channels * classifier_keep), dtype=torch.long)
            self.classifier: nn.Module = CondensedLinear(kept, num_classes)
        else:
            self.classifier = nn.Linear(channels, num_classes)
            nn.init.zeros_(self.classifier.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(self.features(x)))

    def condense_step(self, progress: float) -> None:
        """Prune every learned group convolution up to the stage due at ``progress``
        ∈ [0, 1]; a no-op once the half-way point has been passed and applied."""
        for m in self.modules():
            if isinstance(m, LearnedGroupConv):
                m.condense_to(progress)

    def lasso_loss(self) -> torch.Tensor:
        """Sum of the group-lasso terms of every learned group convolution."""
        terms = [m.lasso_loss() for m in self.modules() if isinstance(m, LearnedGroupConv)]
        return torch.stack(terms).sum() if terms else self.features.init_conv.weight.new_zeros(())

    # The training engine's model hooks (see classifier.train.engine). -----------------
    def _learned(self) -> list[LearnedGroupConv]:
        return [m for m in self.modules() if isinstance(m, LearnedGroupConv)]

    def training_progress(self, fraction: float) -> None:
        """Condense as the authors' training loop does: it sets the fraction of training
        done before every batch (main.py's ``progress``) and each learned convolution
        prunes when a new stage is due. Stages are counted here in Python so that the
        batches in between never wait for the device to read the ``stage`` buffers."""
        if self._stage is None or condensation_stage(fraction, self.condense_factor) > self._stage:
            self.condense_step(fraction)
            self._stage = min((int(m.stage) for m in self._learned()), default=0)

    def regularization_loss(self) -> torch.Tensor:
        """``LASSO_WEIGHT`` times the group lasso, which ends with the condensing stages
        (the authors' ``lasso_loss`` is 0 once the last stage is reached)."""
        learned = self._learned()
        done = self._stage if self._stage is not None else min((int(m.stage) for m in learned), default=0)
        if not learned or done >= self.condense_factor - 1:
            return self.features.init_conv.weight.new_zeros(())
        return LASSO_WEIGHT * torch.stack([m.group_lasso() for m in learned]).sum()

    def training_status(self) -> str | None:
        """One line on the condensation for the run's status: the paper's C − 1
        condensing stages, then the optimisation stage."""
        learned = self._learned()
        if not learned:
            return None
        done, c = int(learned[0].stage), self.condense_factor
        kind = "optimisation" if done == c - 1 else "condensing"
        return (f"Condensation: stage {done + 1} of {c} ({kind}), {done / c:.0%} of the learned group "
                f"convolutions' inputs pruned")

    def inference_form(self) -> tuple[nn.Module, dict] | None:
        """Once every learned convolution keeps its final 1/C of the inputs: the converted
        network and the builder options that rebuild it (``converted=True``). The
        classifier keeps all its inputs, unlike the authors' ``convert_model`` (which
        halves them and so changes the logits), so the saved network computes exactly
        what the run evaluated. None while condensation is still going on, or when
        there is nothing to convert."""
        learned = self._learned()
        if not learned or any(int(m.stage) < m.condense_factor - 1 for m in learned):
            return None
        return convert_to_efficient(self, classifier_keep=1.0), {"converted": True, "classifier_keep": 1.0}


class CondensedLinear(nn.Module):
    """A classifier that reads only the features whose weights matter most: the
    reference conversion keeps the half of the pooled features with the largest summed
    absolute weight over all classes."""

    def __init__(self, index: torch.Tensor, out_features: int):
        super().__init__()
        self.register_buffer("index", index)
        self.linear = nn.Linear(len(index), out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(torch.index_select(x, 1, self.index))

    @classmethod
    @torch.no_grad()
    def from_linear(cls, linear: nn.Linear, keep: float) -> "CondensedLinear":
        n = int(linear.in_features * keep)
        index = linear.weight.abs().sum(0).topk(n).indices.sort().values
        new = cls(index, linear.out_features).to(linear.weight.device)
        new.linear.weight.copy_(linear.weight[:, index])
        new.linear.bias.copy_(linear.bias)
        return new.train(linear.training)


def convert_to_efficient(model: nn.Module, classifier_keep: float = 1.0) -> nn.Module:
    """A copy of ``model`` with every :class:`LearnedGroupConv` replaced by its
    :class:`CondensedConv`: index selection and a real group convolution instead of a
    masked dense one, computing the same outputs. Call it after training (or at least
    after ``condense_step(0.5)``); earlier, the groups simply keep more channels.

    ``classifier_keep < 1`` also prunes the inputs of the final linear layer as the
    authors' conversion does (with 0.5, which the paper's parameter counts include);
    unlike the rest, that changes the logits a little."""
    if not 0.0 < classifier_keep <= 1.0:
        raise ValueError(f"classifier_keep is a fraction in (0, 1], got {classifier_keep}")
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, LearnedGroupConv):
                setattr(parent, name, CondensedConv.from_learned(child))
    if classifier_keep < 1.0:
        model.classifier = CondensedLinear.from_linear(model.classifier, classifier_keep)
    return model


# ---------------------------------------------------------------------------------------
# Builders

_CONVERTED = "paper_params counts the network convert_to_efficient(model, classifier_keep=0.5) returns."


@register_model(
    "condensenet_86_cifar",
    family=CONDENSENET,
    variant="CondenseNet-86 (G=C=4, k=8-16-32), CIFAR-10",
    input_size=(3, 32, 32),
    num_classes=10,
    small_input=True,
    paper_params=520_000,
    params_source="Huang et al. 2017, CIFAR results table: CondenseNet-86, 0.52M",
    stages=[("features.denseblock_1", 128, 1), ("features.denseblock_2", 352, 2), ("features.denseblock_3", 800, 4)],
    block="features.denseblock_1.denselayer_2",
    notes=_CONVERTED,
    layers=(14, 14, 14), growth=(8, 16, 32), stem_stride=1,
)
@register_model(
    "condensenet_182_cifar",
    family=CONDENSENET,
    variant="CondenseNet-182 (G=C=4, k=12-24-48), CIFAR-10",
    input_size=(3, 32, 32),
    num_classes=10,
    small_input=True,
    paper_params=4_200_000,
    params_source="Huang et al. 2017, CIFAR results table: CondenseNet-182, 4.2M",
    stages=[("features.denseblock_1", 384, 1), ("features.denseblock_2", 1104, 2), ("features.denseblock_3", 2544, 4)],
    block="features.denseblock_1.denselayer_2",
    notes=_CONVERTED,
    layers=(30, 30, 30), growth=(12, 24, 48), stem_stride=1,
)
@register_model(
    "condensenet_g4",
    family=CONDENSENET,
    variant="CondenseNet (G=C=4), ImageNet",
    paper_params=4_800_000,
    params_source="Huang et al. 2017, ImageNet results table: CondenseNet (G=C=4), 4.8M",
    stages=[("features.denseblock_1", 48, 2), ("features.denseblock_2", 144, 4), ("features.denseblock_3", 400, 8),
            ("features.denseblock_4", 1040, 16), ("features.denseblock_5", 2064, 32)],
    block="features.denseblock_2.denselayer_2",
    notes=_CONVERTED + " Blocks of 4-6-8-10-8 layers, growth 8-16-32-64-128. Trained ImageNet weights "
    "load into the builder's converted=True form, the inference network the authors' convert_model "
    "leaves (condensed 1×1 convs, a classifier reading half the pooled features).",
    layers=(4, 6, 8, 10, 8), growth=(8, 16, 32, 64, 128), stem_stride=2,
)
def condensenet(num_classes: int, **config) -> CondenseNet:
    """CondenseNet as trained: learned group convolutions with their pruning masks."""
    return CondenseNet(num_classes=num_classes, **config)


register_weights(
    WeightEntry(
        model="condensenet_g4", source="pytorchcv", source_model="condensenet74_c4_g4", tag="in1k",
        dataset="ImageNet-1k", num_classes=1000,
        preprocess=Preprocess.imagenet(224, 0.875, "bilinear"),
        url="https://github.com/osmr/imgclsmob/releases/download/v0.0.4/condensenet74_c4_g4-0828-5ba55049.pth.zip",
        checksum="sha1:5ba550494cae7081d12c14b02b2a02365539d377",
        top1=73.75, top5=91.72, metric_source="pytorchcv README (top-1 error 26.25, top-5 error 8.28)",
        license="MIT",
        build={"converted": True},
        convert=(by_order("condensenet_g4", converted=True),),
        notes="The authors' converted CondenseNet-74 (C=G=4; pytorchcv's port of ShichenLiu/CondenseNet), "
        "index buffers included, maps by order onto our converted=True network.",
    ),
)
