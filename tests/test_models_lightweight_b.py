"""IGCNets (V1-V3) and CondenseNet: sizes against the papers, the interleaving that makes
group convolutions complete, CondenseNet's condensation schedule and its conversion to
the efficient network, and the shared model checks."""

import math

import pytest
import torch
from torch import nn

from classifier import create_model, get_card, list_models
from classifier.registry import create_meta_model
from classifier.models.condensenet import (
    CondensedConv,
    CondensedLinear,
    LearnedGroupConv,
    condensation_stage,
    convert_to_efficient,
)
from classifier.models.igcnet import InterleavedGroupConv
from model_checks import (
    assert_close_to_reference,
    check_activation_rules,
    check_fx_trace,
    check_model,
    check_stages,
    meta_param_count,
)

FAMILIES = ("IGCV1", "IGCV2", "IGCV3", "CondenseNet")
MODELS = [n for n in list_models() if get_card(n).family.name in FAMILIES]

IGC_COUNTS = {
    # Zhang et al. 2017 (arXiv 1707.02725), comparison with the state of the art on
    # CIFAR: IGC-L32M26+Ident., 24.1M.
    "igcv1_l32m26_cifar": 24_100_000,
    # hellozting/InterleavedGroupConvolutions README, ImageNet table: IGC-L100M2+Ident., 8.61M.
    "igcv1_l100m2": 8_610_000,
    # Sun et al. 2018 (arXiv 1806.00178), ImageNet comparison with MobileNet v2: IGCV3-D, 3.5M.
    "igcv3_d": 3_500_000,
}
CONDENSED_COUNTS = {
    # Huang et al. 2017 (arXiv 1711.09224), CIFAR table: CondenseNet-86, 0.52M.
    "condensenet_86_cifar": 520_000,
    # Huang et al. 2017, CIFAR table: CondenseNet-182, 4.2M.
    "condensenet_182_cifar": 4_200_000,
    # Huang et al. 2017, ImageNet table: CondenseNet (G=C=4), 4.8M.
    "condensenet_g4": 4_800_000,
}


def test_every_model_is_covered():
    expected = {*IGC_COUNTS, *CONDENSED_COUNTS, "igcv2_c64_cifar", "igcv3_d_cifar"}
    assert set(MODELS) == expected
    for name, count in {**IGC_COUNTS, **CONDENSED_COUNTS}.items():
        assert get_card(name).paper_params == count


@pytest.mark.parametrize("name", sorted(IGC_COUNTS))
def test_igc_parameter_count_matches_the_paper(name):
    assert_close_to_reference(meta_param_count(name), IGC_COUNTS[name], rel=0.01)


def test_igcv3_cifar_is_the_imagenet_network_with_another_head():
    """Strides cost no parameters: only the classifier differs."""
    def head(classes: int) -> int:
        return 1280 * classes + classes

    assert meta_param_count("igcv3_d_cifar") - head(10) == meta_param_count("igcv3_d") - head(1000)


def test_igcv3_cifar_card_states_its_measured_counts():
    """The card explains the gap to the authors' 2.4M with these counts; keep them true."""
    notes = get_card("igcv3_d_cifar").notes
    model = create_meta_model("igcv3_d_cifar", num_classes=100)
    running = sum(b.numel() for n, b in model.named_buffers() if n.endswith(("running_mean", "running_var")))
    for count in (meta_param_count("igcv3_d_cifar"), meta_param_count("igcv3_d_cifar", num_classes=100)):
        assert f"{count:,}" in notes
    assert f"{meta_param_count('igcv3_d_cifar', num_classes=100) + running:,}" in notes


@pytest.mark.parametrize("name", MODELS)
def test_stages(name):
    check_stages(name)


# 32×32 nets at 32, except IGC-L32M26 (832 to 3328 channels, about 4 GMACs a picture at
# 32×32) at 16; ImageNet nets at 64.
@pytest.mark.parametrize(
    "name, size",
    [("igcv1_l32m26_cifar", 16), ("igcv1_l100m2", 64), ("igcv2_c64_cifar", None), ("igcv3_d", 64),
     ("igcv3_d_cifar", None), ("condensenet_86_cifar", None), ("condensenet_182_cifar", 16),
     ("condensenet_g4", 64)],
)
def test_model_checks(name, size):
    check_model(name, size=size)


def _paths(conv: InterleavedGroupConv, in_ch: int) -> torch.Tensor:
    """Number of paths from input channels to each output channel through the chain of
    group convolutions: all weights set to one, one-hot inputs on a single pixel. Wide
    layers are probed with about 128 inputs spread over all groups."""
    conv = conv.to_empty(device="cpu").eval()
    with torch.no_grad():
        for m in conv.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.fill_(1.0)
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_parameters()  # identity: zero mean, unit variance, unit scale
        probes = torch.eye(in_ch)[:: max(1, in_ch // 128)]
        out = conv(probes.view(len(probes), in_ch, 1, 1))
    return (out.flatten(1) * math.sqrt(1 + conv.bn.eps)).round()


@pytest.mark.parametrize("name", ["igcv1_l32m26_cifar", "igcv1_l100m2", "igcv2_c64_cifar"])
def test_interleaved_group_convs_connect_every_input_to_every_output_once(name):
    """The complementary condition: after the permutations, each output channel is reached
    from each input channel by exactly one path, as in a dense convolution."""
    with torch.device("meta"):
        model = create_model(name)
    for layer in ("layer1", "layer2", "layer3"):
        conv = model.get_submodule(layer)[-1].igc2
        assert len([m for m in conv if isinstance(m, nn.Conv2d)]) == (3 if name.startswith("igcv2") else 2)
        paths = _paths(conv, conv.conv1.in_channels)
        assert torch.equal(paths, torch.ones_like(paths)), f"{name}.{layer}"


def test_interleaving_is_what_makes_it_complete():
    """Without the shuffle the secondary groups only see their own primary group."""
    conv = InterleavedGroupConv(8, 8, (2, 4))
    assert torch.equal(_paths(conv, 8), torch.ones(8, 8))
    del conv.shuffle1
    paths = _paths(conv, 8)
    assert paths.sum() == 64 and paths.max() == 2  # same number of paths, now doubled up


# --------------------------------------------------------------------------------------
# CondenseNet


@pytest.mark.parametrize("name", sorted(CONDENSED_COUNTS))
def test_condensed_network_size_matches_the_paper(name):
    """The paper counts the efficient network, after condensation and with the authors'
    halving of the classifier's inputs."""
    torch.manual_seed(0)
    model = create_model(name)
    model.condense_step(1.0)
    efficient = convert_to_efficient(model, classifier_keep=0.5)
    count = sum(p.numel() for p in efficient.parameters())
    assert_close_to_reference(count, CONDENSED_COUNTS[name], rel=0.01)
    assert count < sum(p.numel() for p in model.parameters()) / 2


def test_converted_builder_has_the_layout_convert_to_efficient_gives():
    """``converted=True`` (what trained ImageNet weights load into) builds the network
    convert_to_efficient(classifier_keep=0.5) returns: the same tensors, names and shapes."""
    model = create_model("condensenet_86_cifar")
    model.condense_step(1.0)
    efficient = convert_to_efficient(model, classifier_keep=0.5)
    built = create_meta_model("condensenet_86_cifar", converted=True)
    shapes = lambda m: {k: tuple(v.shape) for k, v in m.state_dict().items()}  # noqa: E731
    assert shapes(built) == shapes(efficient)


def test_condensation_schedule():
    # C=4: three pruning stages, after 1/6, 2/6 and 3/6 of training.
    assert [condensation_stage(p, 4) for p in (0.0, 0.16, 1 / 6, 0.3, 1 / 3, 0.49, 0.5, 0.9, 1.0)] == [
        0, 0, 1, 1, 2, 2, 3, 3, 3,
    ]
    assert condensation_stage(0.25, 8) == 3
    with pytest.raises(ValueError, match="progress"):
        condensation_stage(1.5, 4)


def test_each_stage_prunes_the_weakest_quarter_of_every_group():
    torch.manual_seed(0)
    conv = LearnedGroupConv(16, 8, groups=4, condense_factor=4)
    with torch.no_grad():
        conv.weight.copy_(torch.rand(8, 16, 1, 1) + 0.1)
    for stage, progress in enumerate((1 / 6, 1 / 3, 1 / 2), start=1):
        before = (conv.weight * conv.mask).abs().flatten(1)
        kept_before = [conv.group_mask(g).clone() for g in range(4)]
        conv.condense_to(progress)
        conv.condense_to(progress)  # a second call in the same stage prunes nothing
        assert int(conv.stage) == stage
        for g in range(4):
            kept = conv.group_mask(g)
            assert int(kept.sum()) == 16 - 4 * stage
            assert torch.equal(conv.mask[g::4, :, 0, 0], kept.float().expand(2, 16))  # same for the group's rows
            dropped = kept_before[g] & ~kept
            importance = before[g::4].sum(0)
            assert importance[dropped].max() <= importance[kept].min()
    assert conv.lasso_loss().item() == 0.0


def test_pruned_weights_stay_pruned_and_the_lasso_pushes_on_columns():
    torch.manual_seed(0)
    model = create_model("condensenet_86_cifar")
    x = torch.randn(4, 3, 32, 32)
    assert model.lasso_loss().item() > 0
    model.condense_step(0.2)
    model.train()
    (model(x).square().mean() + 1e-4 * model.lasso_loss()).backward()
    for m in model.modules():
        if isinstance(m, LearnedGroupConv):
            assert int(m.stage) == 1
            assert not (m.weight.grad * (1 - m.mask)).any()
    model.condense_step(1.0)
    assert model.lasso_loss().item() == 0.0


def _with_trained_statistics(model: nn.Module) -> nn.Module:
    """Random BatchNorm statistics and affine terms, so a wrong channel shows in the logits."""
    torch.manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


@pytest.mark.parametrize("progress", [0.2, 1.0])
def test_efficient_network_computes_the_same_logits(progress):
    torch.manual_seed(0)
    model = create_model("condensenet_86_cifar")
    model.condense_step(progress)
    model = _with_trained_statistics(model)
    efficient = convert_to_efficient(model)
    assert not any(isinstance(m, LearnedGroupConv) for m in efficient.modules())
    learned = [m for m in model.modules() if isinstance(m, LearnedGroupConv)]
    condensed = [m for m in efficient.modules() if isinstance(m, CondensedConv)]
    assert len(condensed) == len(learned) == 42
    stage = condensation_stage(progress, 4)
    for m, c in zip(learned, condensed):
        # each of the 4 groups reads what it kept: all inputs minus a quarter per stage
        assert c.conv.groups == 4 and len(c.index) == 4 * (m.in_channels - stage * m.in_channels // 4)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(efficient(x), model(x), rtol=1e-4, atol=1e-5)
    assert sum(p.numel() for p in efficient.parameters()) < sum(p.numel() for p in model.parameters())


def test_efficient_network_follows_the_model_rules():
    torch.manual_seed(0)
    model = create_model("condensenet_86_cifar")
    model.condense_step(1.0)
    efficient = convert_to_efficient(_with_trained_statistics(model), classifier_keep=0.5)
    assert isinstance(efficient.classifier, CondensedLinear) and len(efficient.classifier.index) == 400
    x = torch.randn(2, 3, 32, 32)
    check_activation_rules(efficient, x)
    check_fx_trace(efficient, x)
    with pytest.raises(ValueError, match="classifier_keep"):
        convert_to_efficient(model, classifier_keep=0.0)


def test_condensation_survives_a_checkpoint():
    torch.manual_seed(0)
    model = create_model("condensenet_86_cifar")
    model.condense_step(0.4)
    restored = create_model("condensenet_86_cifar")
    restored.load_state_dict(model.state_dict())
    pairs = [(a, b) for a, b in zip(model.modules(), restored.modules()) if isinstance(a, LearnedGroupConv)]
    assert all(torch.equal(a.mask, b.mask) and int(b.stage) == 2 for a, b in pairs)
    restored.condense_step(0.4)  # already there: nothing more is pruned
    assert all(torch.equal(a.mask, b.mask) for a, b in pairs)
