"""ResNet (He et al. 2015): the torchvision-compatible ImageNet nets and the paper's
CIFAR-10 nets, checked against torchvision and against Table 6 of the paper."""

import pytest
import torch
import torchvision
from model_checks import (
    assert_close_to_reference,
    check_model,
    check_stages,
    check_torchvision_logits,
    check_torchvision_names_and_shapes,
    meta_param_count,
)

from classifier import create_model, get_card
from classifier.models.resnet import Bottleneck, ResNet, ZeroPadShortcut

IMAGENET = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]
CIFAR = ["resnet20_cifar", "resnet32_cifar", "resnet44_cifar", "resnet56_cifar", "resnet110_cifar"]
PLAIN = ["plain20_cifar", "plain56_cifar"]

# Parameters printed in Table 6 of arXiv 1512.03385 (CIFAR-10, option A shortcuts), with
# half a unit of the last printed digit as tolerance: "1.7M" means 1.65M–1.75M.
TABLE_6 = {
    "resnet20_cifar": (270_000, 5_000),
    "resnet32_cifar": (460_000, 5_000),
    "resnet44_cifar": (660_000, 5_000),
    "resnet56_cifar": (850_000, 5_000),
    "resnet110_cifar": (1_700_000, 50_000),
}


@pytest.mark.parametrize("name", CIFAR)
def test_cifar_model_rules(name):
    check_model(name)


@pytest.mark.parametrize("name", PLAIN)
def test_plain_model_rules(name):
    check_model(name)


@pytest.mark.parametrize("name, twin", list(zip(PLAIN, ["resnet20_cifar", "resnet56_cifar"])))
def test_plain_net_is_its_resnet_without_shortcuts(name, twin):
    """Same parameters as the residual twin (option A shortcuts are free); only the sum differs."""
    assert meta_param_count(name) == meta_param_count(twin)
    torch.manual_seed(0)
    plain, residual = create_model(name), create_model(twin)
    residual.load_state_dict(plain.state_dict())
    block, x = plain.layer1[0], torch.randn(1, 16, 8, 8)
    with torch.no_grad():
        assert torch.allclose(block(x), block.relu_out(block.residual(x)))
        assert not torch.allclose(block(x), residual.layer1[0](x))


@pytest.mark.parametrize("name", IMAGENET)
def test_imagenet_model_rules(name):
    # 32×32 keeps the check fast; layer4 is then 1×1, which the net allows. ResNet-101/152
    # are ResNet-50's code with more blocks per stage: checked with one block per stage.
    check_model(name, size=32, **({"layers": (1, 1, 1, 1)} if name in ("resnet101", "resnet152") else {}))


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "resnet152"])
def test_torchvision_logits(name):
    check_torchvision_logits(name, size=64)


@pytest.mark.parametrize("name", ["resnet34", "resnet101"])
def test_torchvision_names_and_shapes(name):
    check_torchvision_names_and_shapes(name)


@pytest.mark.parametrize("name", IMAGENET)
def test_parameter_count_equals_torchvision(name):
    with torch.device("meta"):
        reference = torchvision.models.get_model(name, weights=None)
    expected = sum(p.numel() for p in reference.parameters())
    assert meta_param_count(name) == expected
    # The card's figure is torchvision's published count (weights metadata num_params).
    weights = torchvision.models.get_model_weights(name).IMAGENET1K_V1
    assert get_card(name).paper_params == weights.meta["num_params"] == expected


@pytest.mark.parametrize("name", CIFAR)
def test_parameter_count_matches_table_6(name):
    reference, half_unit = TABLE_6[name]
    assert get_card(name).paper_params == reference
    assert_close_to_reference(meta_param_count(name), reference, rel=half_unit / reference)


@pytest.mark.parametrize("name", IMAGENET + CIFAR)
def test_stages(name):
    check_stages(name)


@pytest.mark.parametrize(
    "tv_name, groups, width_per_group",
    [("resnext50_32x4d", 32, 4), ("wide_resnet50_2", 1, 128)],
)
def test_groups_and_width_reproduce_torchvision_variants(tv_name, groups, width_per_group):
    """ResNeXt and Wide ResNet are this class with other numbers: same names and shapes."""
    with torch.device("meta"):
        ours = ResNet(Bottleneck, (3, 4, 6, 3), groups=groups, width_per_group=width_per_group)
        reference = torchvision.models.get_model(tv_name, weights=None)
    shapes = {k: v.shape for k, v in ours.state_dict().items()}
    assert shapes == {k: v.shape for k, v in reference.state_dict().items()}


def test_zero_pad_shortcut_subsamples_and_pads_channels():
    x = torch.randn(2, 16, 8, 8)
    out = ZeroPadShortcut(extra_channels=16, stride=2)(x)
    assert out.shape == (2, 32, 4, 4)
    torch.testing.assert_close(out[:, :16], x[:, :, ::2, ::2])
    assert not out[:, 16:].any()
