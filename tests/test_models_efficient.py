"""EfficientNet (Tan & Le 2019): torchvision-compatible B0–B7, the paper's multiply-adds,
and compound scaling as code."""

import math

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
)

from classifier import create_model, get_card, list_models
from classifier.layers import InvertedResidual
from classifier.models.efficientnet import ALPHA, BASELINE, BETA, GAMMA, PUBLISHED, compound_scaling

VARIANTS = [f"efficientnet_b{i}" for i in range(8)]

# torchvision's published parameter counts (EfficientNet_B*_Weights.IMAGENET1K_V1
# meta["num_params"]).
TORCHVISION_PARAMS = {
    "efficientnet_b0": 5_288_548,
    "efficientnet_b1": 7_794_184,
    "efficientnet_b2": 9_109_994,
    "efficientnet_b3": 12_233_232,
    "efficientnet_b4": 19_341_616,
    "efficientnet_b5": 30_389_784,
    "efficientnet_b6": 43_040_704,
    "efficientnet_b7": 66_347_960,
}

# Paper (arXiv 1905.11946) Table 2, FLOPS column (multiply-adds) in billions, each at the
# variant's own resolution (B0–B3; see CHEAP below).
TABLE_2_GMACS = {"efficientnet_b0": 0.39, "efficientnet_b1": 0.70, "efficientnet_b2": 1.0, "efficientnet_b3": 1.8}


def test_registered_variants():
    assert set(VARIANTS) <= set(list_models(family="EfficientNet"))
    assert list_models(family="EfficientNet", small_input=True) == ["efficientnet_b0_cifar"]


@pytest.mark.parametrize("name", VARIANTS)
def test_torchvision_names_shapes_and_parameter_count(name):
    weights = torchvision.models.get_model_weights(name).IMAGENET1K_V1
    assert weights.meta["num_params"] == TORCHVISION_PARAMS[name]
    # Also checks the BatchNorm settings: B5–B7 use eps 1e-3, momentum 0.01 as in torchvision.
    model = check_torchvision_names_and_shapes(name)
    assert sum(p.numel() for p in model.parameters()) == get_card(name).paper_params == TORCHVISION_PARAMS[name]


@pytest.mark.parametrize("name", ["efficientnet_b0", "efficientnet_b1"])
def test_torchvision_logits(name):
    check_torchvision_logits(name, size=32)


# B4–B7 are left out of the checks below to keep the file within its time budget: they
# are the same code with larger multipliers, and their names, shapes, BatchNorm settings
# and parameter counts are checked above.
CHEAP = VARIANTS[:4]


@pytest.mark.parametrize("name", TABLE_2_GMACS)
def test_macs_match_table_2(name):
    assert_close_to_reference(meta_macs(name), int(TABLE_2_GMACS[name] * 1e9), rel=0.05)


@pytest.mark.parametrize("name", CHEAP + ["efficientnet_b0_cifar"])
def test_model_rules(name):
    # 32×32 keeps the check cheap; the last stage is then 1×1, which the net allows.
    check_model(name, size=32)


@pytest.mark.parametrize("name", CHEAP + ["efficientnet_b0_cifar"])
def test_stages(name):
    check_stages(name)


def test_compound_coefficients_double_the_cost_per_step():
    # Paper §3.3: α·β²·γ² ≈ 2 with α = 1.2, β = 1.1, γ = 1.15.
    assert (ALPHA, BETA, GAMMA) == (1.2, 1.1, 1.15)
    assert ALPHA * BETA**2 * GAMMA**2 == pytest.approx(2, abs=0.1)
    s = compound_scaling(2)
    assert (s.depth_mult, s.width_mult, s.resolution) == pytest.approx((1.44, 1.21, 296))


@pytest.mark.parametrize("phi", [1, 2])
def test_builder_follows_any_phi(phi):
    """The builder turns a φ's multipliers into depth and width the reference's way:
    blocks per stage rounded up, widths rounded to multiples of 8."""
    s = compound_scaling(phi)
    with torch.device("meta"):
        model = create_model("efficientnet_b0", **s.builder_kwargs)
    depths = [len(stage) for stage in model.features[1:-1]]
    assert depths == [math.ceil(n * s.depth_mult) for *_, n in BASELINE]
    widths = [stage[-1].out_channels for stage in model.features[1:-1]]
    assert all(w % 8 == 0 and w >= 0.9 * out * s.width_mult for w, (*_, out, _) in zip(widths, BASELINE))


def test_b7_follows_its_published_coefficients():
    # B7: width 2.0, depth 3.1, 600 px, dropout 0.5 (PUBLISHED). Depth 3.1 rounds the
    # seven stages' 1, 2, 2, 3, 3, 4, 1 blocks up to 4, 7, 7, 10, 10, 13, 4: 55 blocks;
    # width 2.0 makes the head 2 · 1280 = 2560 channels.
    assert PUBLISHED["b7"] == (2.0, 3.1, 600, 0.5)
    assert get_card("efficientnet_b7").input_size == (3, 600, 600)
    with torch.device("meta"):
        b7 = create_model("efficientnet_b7")
    assert sum(isinstance(m, InvertedResidual) for m in b7.modules()) == 55
    assert b7.classifier[1].in_features == 2560 and b7.classifier[0].p == 0.5


def test_stochastic_depth_grows_linearly():
    # torchvision's rule: block i of n drops its branch with probability 0.2 · i / n.
    with torch.device("meta"):
        model = create_model("efficientnet_b0")
    blocks = [m for m in model.modules() if isinstance(m, InvertedResidual)]
    rates = {i: m.drop_path.p for i, m in enumerate(blocks) if m.use_res_connect}
    assert rates and all(p == pytest.approx(0.2 * i / len(blocks)) for i, p in rates.items())
