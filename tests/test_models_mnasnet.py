"""MnasNet (arXiv 1807.11626) checked against torchvision's MNASNet: names, normalisation
settings, logits, parameter counts and multiply-adds from its weights metadata."""

import pytest
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

from classifier import get_card, list_models

MODELS = list_models(family="MnasNet")
TORCHVISION = [n for n in MODELS if get_card(n).torchvision]


def test_family_has_imagenet_and_cifar_variants():
    assert TORCHVISION == ["mnasnet0_5", "mnasnet1_0"]
    assert list_models(family="MnasNet", small_input=True) == ["mnasnet1_0_cifar"]


# Sampled to keep the suite fast: mnasnet1_0 is mnasnet0_5's code at another width (its
# logits against torchvision are checked below); the CIFAR net covers the stride-1 stem.
@pytest.mark.parametrize("name", ["mnasnet0_5", "mnasnet1_0_cifar"])
def test_model_rules(name):
    # The ImageNet net at 64×64 (a 2×2 last map), the CIFAR net at its own 32×32.
    check_model(name, size=None if get_card(name).small_input else 64)


@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_names_and_batchnorm_settings(name):
    # BatchNorm momentum 0.0003 is not in the state dict but is torchvision's setting.
    check_torchvision_names_and_shapes(name)


@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_logits(name):
    check_torchvision_logits(name, size=64)


@pytest.mark.parametrize("name", TORCHVISION)
def test_parameters_and_macs_equal_torchvision_metadata(name):
    # torchvision's weights metadata: num_params 2,218,512 / 4,383,312 and "_ops" (GFLOPS,
    # which torchvision counts as multiply-adds) 0.104 / 0.314, printed to 0.001 G.
    meta = torchvision.models.get_model_weights(name).IMAGENET1K_V1.meta
    assert meta_param_count(name) == get_card(name).paper_params == meta["num_params"]
    assert abs(meta_macs(name) - meta["_ops"] * 1e9) <= 0.0005e9


def test_paper_multiply_adds_of_the_b1_net():
    # 0.314 G above; the paper's A1 net (with SE) costs 312M (arXiv 1807.11626 Table 1):
    # the B1 net without SE lands within 2% of it.
    assert_close_to_reference(meta_macs("mnasnet1_0"), 312 * 10**6, rel=0.02)


@pytest.mark.parametrize("name", MODELS)
def test_stages(name):
    check_stages(name)
