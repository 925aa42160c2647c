"""Residual families built on ResNet: pre-activation ResNet, ResNeXt, Wide ResNet,
stochastic depth and SENet. Checked against torchvision (names, logits, parameters,
MACs), the papers' CIFAR tables, the reference SENet/DPN ports' counts, and each
family's mechanism (identity shortcuts, dropped branches, channel gates)."""

import pytest
import torch
import torchvision
from model_checks import (
    assert_close_to_reference,
    check_model,
    check_stages,
    check_torchvision_logits,
    check_torchvision_names_and_shapes,
    meta_macs,
    meta_param_count,
)
from torch import nn
from torchvision.models.resnet import Bottleneck as TVBottleneck
from torchvision.models.resnet import ResNet as TVResNet

from classifier import create_model, get_card
from classifier.models.preact_resnet import PreActBottleneck
from classifier.models.resnet import BasicBlock
from classifier.models.stochastic_depth import StochasticDepth

PREACT_IMAGENET = [f"preact_resnet{d}" for d in (18, 34, 50, 101, 152, 200)]
TORCHVISION = ["resnext50_32x4d", "resnext101_32x8d", "wide_resnet50_2", "wide_resnet101_2"]
ALL = [
    *PREACT_IMAGENET, "preact_resnet164_cifar", "preact_resnet1001_cifar",
    *TORCHVISION, "resnext29_8x64d_cifar", "resnext29_16x64d_cifar", "wrn28_10_cifar", "wrn40_4_cifar",
    "sd_resnet110_cifar", "sd_resnet152",
    "se_resnet50", "se_resnext50_32x4d", "senet154", "se_resnet110_cifar",
]

# The same builders at a narrower width or fewer blocks, where the full net costs
# seconds of CPU per check (tens of millions of weights to initialise, or 5-11 GFLOPs per
# 32×32 image) and runs no other code: the block classes, shortcuts and heads are the
# ones of the registered net.
REDUCED = {
    "resnext101_32x8d": {"width_per_group": 2},
    "wide_resnet50_2": {"width_per_group": 16},
    "wide_resnet101_2": {"width_per_group": 16},
    "resnext29_8x64d_cifar": {"width": 4},
    "resnext29_16x64d_cifar": {"width": 4},
    "wrn28_10_cifar": {"widen": 1},
    "sd_resnet152": {"layers": (2, 2, 2, 2)},
    "senet154": {"layers": (1, 2, 2, 1), "groups": 8},
    "preact_resnet101": {"layers": (2, 2, 2, 2)},
    "preact_resnet152": {"layers": (2, 2, 2, 2)},
    "preact_resnet200": {"layers": (2, 2, 2, 2)},
    "preact_resnet1001_cifar": {"layers": (2, 2, 2)},
}


@pytest.mark.parametrize("name", ALL)
def test_model_rules(name):
    # CIFAR nets at their 32×32; ImageNet nets at 32×32 too (their last stage is 1×1).
    check_model(name, size=32, **REDUCED.get(name, {}))


@pytest.mark.parametrize("name", [n for n in ALL if n != "preact_resnet1001_cifar"])
def test_stages(name):
    # ResNet-1001 has ResNet-164's stages (same code, 111 blocks per stage instead of 18);
    # its 3,000 layers take most of a minute on the meta device.
    check_stages(name)


# --- parameter counts -------------------------------------------------------------


@pytest.mark.parametrize("name", TORCHVISION)
def test_parameters_equal_torchvision(name):
    # torchvision's weights metadata (num_params) is the reference on the card.
    reference = torchvision.models.get_model_weights(name).IMAGENET1K_V1.meta["num_params"]
    assert get_card(name).paper_params == reference
    assert meta_param_count(name) == reference


@pytest.mark.parametrize("name", PREACT_IMAGENET)
def test_preact_imagenet_parameters_match_post_activation_resnet(name):
    """Pre-activation keeps every conv and the classifier of the ResNet of the same depth;
    only BatchNorms change size, by far less than 0.1 % of the weights."""
    depth = int(name.removeprefix("preact_resnet"))
    with torch.device("meta"):
        if depth == 200:  # torchvision has the ResNet class but no resnet200 builder
            reference_model = TVResNet(TVBottleneck, [3, 24, 36, 3])
        else:
            reference_model = torchvision.models.get_model(f"resnet{depth}")
    reference = sum(p.numel() for p in reference_model.parameters())
    assert get_card(name).paper_params == reference
    assert_close_to_reference(meta_param_count(name), reference, rel=0.001)


def _conv_and_linear_weights(model: nn.Module) -> int:
    return sum(p.numel() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)) for p in m.parameters())


@pytest.mark.parametrize(
    "name, reference", [("preact_resnet164_cifar", 1_700_000), ("preact_resnet1001_cifar", 10_200_000)]
)
def test_preact_cifar_parameters_match_table_3(name, reference):
    """He et al. 2016 (arXiv 1603.05027), Table 3: ResNet-164 1.7M, ResNet-1001 10.2M,
    within half a unit of the last printed digit. The figures count the convolutions and
    the classifier; BatchNorm's scales and shifts (0.15M in ResNet-1001) come on top.
    ResNet-1001 is built for real: its 3,000 modules build faster than on meta."""
    assert get_card(name).paper_params == reference
    model = create_model(name)
    assert abs(_conv_and_linear_weights(model) - reference) <= 0.05e6
    bn = sum(p.numel() for m in model.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters())
    assert sum(p.numel() for p in model.parameters()) == _conv_and_linear_weights(model) + bn


ROUNDED = {
    # Figures printed rounded in the papers; tolerance: half a unit of the last printed
    # digit or 1 %, whichever is larger.
    "resnext29_8x64d_cifar": (34_400_000, 50_000),  # Xie et al. 2016, Table 7: 34.4M
    "resnext29_16x64d_cifar": (68_100_000, 50_000),  # Xie et al. 2016, Table 7: 68.1M
    "wrn28_10_cifar": (36_500_000, 50_000),  # Zagoruyko & Komodakis 2016: WRN-28-10 36.5M
    "wrn40_4_cifar": (8_900_000, 50_000),  # Zagoruyko & Komodakis 2016: WRN-40-4 8.9M
    "sd_resnet110_cifar": (1_700_000, 50_000),  # Huang et al. 2016 train He et al.'s ResNet-110: 1.7M
}
EXACT = {
    # Cadene's pretrainedmodels port of the authors' SENets (the common reference).
    "se_resnet50": 28_088_024,
    "se_resnext50_32x4d": 27_559_896,
    "senet154": 115_088_984,
}


@pytest.mark.parametrize("name", sorted(ROUNDED))
def test_parameters_match_paper(name):
    reference, half_unit = ROUNDED[name]
    assert get_card(name).paper_params == reference
    assert_close_to_reference(meta_param_count(name), reference, rel=max(0.01, half_unit / reference))


@pytest.mark.parametrize("name", sorted(EXACT))
def test_parameters_equal_reference_implementation(name):
    assert get_card(name).paper_params == EXACT[name]
    assert meta_param_count(name) == EXACT[name]


def test_se_resnet110_adds_only_the_gates():
    """SE-ResNet-110 = ResNet-110 + one gate per block: two 1×1 convs with biases, C → C/16 → C."""
    gates = [m for m in create_model("se_resnet110_cifar").modules() if type(m).__name__ == "SqueezeExcitation"]
    assert len(gates) == 54
    extra = sum(2 * c * (c // 16) + c // 16 + c for c in (g.fc1.in_channels for g in gates))
    assert meta_param_count("se_resnet110_cifar") == meta_param_count("resnet110_cifar") + extra


# --- torchvision compatibility -------------------------------------------------------


@pytest.mark.parametrize("name", ["resnext50_32x4d", "wide_resnet50_2"])
def test_torchvision_logits(name):
    check_torchvision_logits(name, size=32)


@pytest.mark.parametrize("name", ["resnext101_32x8d", "wide_resnet101_2"])
def test_torchvision_names_and_shapes(name):
    # The 101-layer nets share the 50-layer nets' code; their 89M/127M weights are
    # compared key by key and shape by shape on the meta device.
    check_torchvision_names_and_shapes(name)


def test_stochastic_depth_resnet152_loads_torchvision_names():
    with torch.device("meta"):
        ours = create_model("sd_resnet152")
        reference = torchvision.models.resnet152()
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in reference.state_dict().items()}


@pytest.mark.parametrize(
    "name, gflops",
    [
        # torchvision's published costs at 224×224 (GFLOPS column of its model docs,
        # counted as multiply-adds): ResNeXt-50 32×4d 4.23, Wide ResNet-50-2 11.4.
        ("resnext50_32x4d", 4.23),
        ("wide_resnet50_2", 11.4),
    ],
)
def test_macs_match_torchvision(name, gflops):
    assert_close_to_reference(meta_macs(name), int(gflops * 1e9), rel=0.05)


# --- mechanisms -----------------------------------------------------------------------


def test_preact_block_output_is_not_rectified():
    """Pre-activation leaves the sum unrectified: the shortcut is a pure identity and the
    block adds a signed residual (a ResNet block ends with a ReLU)."""
    torch.manual_seed(0)
    block = PreActBottleneck(64, 16).eval()
    x = torch.randn(2, 64, 8, 8)
    with torch.no_grad():
        out = block(x)
        branch = block.conv1(block.act1(block.norm1(x)))
        branch = block.conv2(block.act2(block.norm2(branch)))
        branch = block.conv3(block.act3(block.norm3(branch)))
    torch.testing.assert_close(out, x + branch)
    assert (out < 0).any()


def test_wide_resnet_drops_out_between_convolutions():
    model = create_model("wrn40_4_cifar")
    block = model.layer1[1]
    assert isinstance(block.dropout, nn.Dropout) and block.dropout.p == 0.3
    x = torch.randn(2, 64, 8, 8)
    block.train()
    assert not torch.equal(block(x), block(x))
    block.eval()
    assert torch.equal(block(x), block(x))


def test_survival_decays_linearly_to_one_half():
    survival = [m.survival for m in create_model("sd_resnet110_cifar").modules() if isinstance(m, StochasticDepth)]
    assert len(survival) == 54
    # p_l = 1 - l / L * (1 - p_L), p_L = 0.5 (Huang et al. 2016, Eq. 4 and Sec. 4).
    torch.testing.assert_close(torch.tensor(survival), 1 - torch.arange(1, 55) / 54 * 0.5, check_dtype=False)


def test_stochastic_depth_random_in_training_scaled_in_eval():
    torch.manual_seed(0)
    model = create_model("sd_resnet110_cifar")
    block = model.layer3[-1]  # the last block: survival 0.5
    x = torch.randn(2, 64, 8, 8)
    block.eval()
    with torch.no_grad():
        out = block(x)
        torch.testing.assert_close(out, block.relu_out(0.5 * BasicBlock.residual(block, x) + x))
        assert torch.equal(out, block(x))
        block.train()
        kept = [not torch.equal(block(x), block.relu_out(x)) for _ in range(200)]
    # Each call keeps the whole branch or drops it for the whole batch; 200 draws at
    # p = 0.5 keep it 100 ± 35 times (5 standard deviations).
    assert 65 <= sum(kept) <= 135
    model.train()
    y = torch.randn(4, 3, 32, 32)
    assert not torch.equal(model(y), model(y))


def test_stochastic_depth_with_full_survival_is_resnet():
    """With p_L = 1 nothing is ever dropped and ResNet-110's weights give its logits."""
    torch.manual_seed(0)
    resnet = create_model("resnet110_cifar")
    ours = create_model("sd_resnet110_cifar", last_survival=1.0)
    ours.load_state_dict(resnet.state_dict(), strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), resnet(x))


def test_se_gate_rescales_each_channel_by_a_fraction():
    torch.manual_seed(0)
    block = create_model("se_resnet110_cifar").layer2[1].eval()
    x = torch.randn(2, 32, 8, 8)
    se = block.se
    with torch.no_grad():
        branch = BasicBlock.residual(block, x)
        gate = se.scale_activation(se.fc2(se.activation(se.fc1(branch.mean((2, 3), keepdim=True)))))
        torch.testing.assert_close(block(x), block.relu_out(branch * gate + x))
    assert gate.shape == (2, 32, 1, 1)
    assert ((gate > 0) & (gate < 1)).all()
