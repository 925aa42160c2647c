"""The mobile nets: MobileNet v1/v2/v3, SqueezeNet, ShuffleNet v1/v2, checked against
torchvision and against the figures their papers print."""

import pytest
import torch
import torchvision
from model_checks import (
    assert_close_to_reference,
    check_model,
    check_stages,
    check_torchvision_logits,
    meta_macs,
    meta_param_count,
)

from classifier import create_model, get_card, list_models
from classifier.layers import ChannelShuffle, DepthwiseSeparableConv, InvertedResidual
from classifier.models.shufflenet import V1_TABLE1_MMACS

FAMILIES = ("MobileNet v1", "MobileNet v2", "MobileNet v3", "SqueezeNet", "ShuffleNet v1", "ShuffleNet v2")
MODELS = [n for f in FAMILIES for n in list_models(family=f)]
TORCHVISION = [n for n in MODELS if get_card(n).torchvision]


def test_every_family_has_its_models():
    assert len(TORCHVISION) == 9
    for family in FAMILIES:
        assert list_models(family=family, small_input=True), f"{family} has no 32×32 variant"


@pytest.mark.parametrize("name", MODELS)
def test_model_rules(name):
    # ImageNet nets at 64×64: every one of them still has a map at its last stage.
    check_model(name, size=None if get_card(name).small_input else 64)


@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_logits(name):
    check_torchvision_logits(name, size=64)


@pytest.mark.parametrize("name", TORCHVISION)
def test_parameter_count_equals_torchvision(name):
    # The card's figure is torchvision's published count (weights metadata num_params).
    weights = torchvision.models.get_model_weights(name).IMAGENET1K_V1
    assert meta_param_count(name) == get_card(name).paper_params == weights.meta["num_params"]


@pytest.mark.parametrize("name", MODELS)
def test_stages(name):
    check_stages(name)


def test_mobilenet_v1_parameters():
    # 4,231,976: the brief's exact figure for the 1000-class net of Table 1; the paper's
    # Table 6 prints 4.2M.
    assert meta_param_count("mobilenet_v1") == get_card("mobilenet_v1").paper_params == 4_231_976


# MobileNet v1 paper (arXiv 1704.04861) Table 6: width multiplier → (million multiply-
# adds, million parameters); parameters are printed to 0.1M.
TABLE_6 = {1.0: (569, 4.2), 0.75: (325, 2.6), 0.5: (149, 1.3), 0.25: (41, 0.5)}


@pytest.mark.parametrize("width", TABLE_6)
def test_mobilenet_v1_width_multiplier(width):
    mmacs, mparams = TABLE_6[width]
    assert_close_to_reference(meta_macs("mobilenet_v1", width_mult=width), mmacs * 10**6, rel=0.01)
    assert abs(meta_param_count("mobilenet_v1", width_mult=width) - mparams * 1e6) <= 0.05e6


# MobileNet v1 paper Table 7: input side for resolution multipliers 1, 6/7, 5/7, 4/7 →
# million multiply-adds of 1.0 MobileNet.
TABLE_7 = {224: 569, 192: 418, 160: 290, 128: 186}


@pytest.mark.parametrize("side", TABLE_7)
def test_mobilenet_v1_resolution_multiplier(side):
    rho = side / 224
    with torch.device("meta"):
        assert create_model("mobilenet_v1", resolution_mult=rho).input_resolution == side
    assert_close_to_reference(meta_macs("mobilenet_v1", size=side), TABLE_7[side] * 10**6, rel=0.01)


def test_mobilenet_v1_receptive_field():
    # Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional Neural Networks",
    # Distill 2019, table of architectures: MobileNet v1 final map, field 315, stride 32.
    from classifier.analysis import analyze

    a = analyze("mobilenet_v1")
    assert (a.final_rf, a.final_stride) == (315, 32)


# Published multiply-adds at 224×224, checked within 5%:
# MobileNet v2 300M (arXiv 1801.04381 Table 4), MobileNet v3 Large 219M and Small 56M
# (arXiv 1905.02244 Tables 3 and 4), ShuffleNet v2 1× 146M (arXiv 1807.11164 Table 5,
# "FLOPs" there are multiply-adds), SqueezeNet 1.1 "2.4× less computation than 1.0"
# (the 1.1 release notes in forresti/SqueezeNet) is checked as a ratio below.
PUBLISHED_MACS = {
    "mobilenet_v2": 300e6,
    "mobilenet_v3_large": 219e6,
    "mobilenet_v3_small": 56e6,
    "shufflenet_v2_x0_5": 41e6,
    "shufflenet_v2_x1_0": 146e6,
    "shufflenet_v2_x1_5": 299e6,
    "shufflenet_v2_x2_0": 591e6,
}


@pytest.mark.parametrize("name", PUBLISHED_MACS)
def test_published_macs(name):
    assert_close_to_reference(meta_macs(name), int(PUBLISHED_MACS[name]), rel=0.05)


def test_squeezenet_1_1_is_about_2_4_times_cheaper():
    ratio = meta_macs("squeezenet1_0") / meta_macs("squeezenet1_1")
    assert 2.2 < ratio < 2.6


def test_squeezenet_1_0_parameters_match_paper_table_1():
    # arXiv 1602.07360 Table 1, total parameters before compression: 1,248,424.
    assert meta_param_count("squeezenet1_0") == get_card("squeezenet1_0").paper_params == 1_248_424


@pytest.mark.parametrize("groups", V1_TABLE1_MMACS)
def test_shufflenet_v1_complexity_matches_table_1(groups):
    # arXiv 1707.01083 Table 1, "Complexity" row (MFLOPs, i.e. multiply-adds) at 1×.
    name = f"shufflenet_v1_g{groups}"
    assert_close_to_reference(meta_macs(name), V1_TABLE1_MMACS[groups] * 10**6, rel=0.02)


@pytest.mark.parametrize("groups", [3, 8])
def test_shufflenet_v1_parameters_match_reference(groups):
    # megvii-model/ShuffleNet-Series, ShuffleNetV1 README: 1.0x g3 1.9M, g8 2.4M (0.1M steps).
    reference = get_card(f"shufflenet_v1_g{groups}").paper_params
    assert reference == {3: 1_900_000, 8: 2_400_000}[groups]
    assert abs(meta_param_count(f"shufflenet_v1_g{groups}") - reference) <= 50_000


def test_channel_shuffle_interleaves_groups():
    x = torch.arange(6.0).view(1, 6, 1, 1)
    # Groups (0 1 2) and (3 4 5) interleave: each output pair takes one from each group.
    assert ChannelShuffle(2)(x).flatten().tolist() == [0, 3, 1, 4, 2, 5]
    torch.testing.assert_close(ChannelShuffle(3)(x), torch.nn.ChannelShuffle(3)(x))


def test_depthwise_separable_is_cheaper_by_the_papers_factor():
    # MobileNet v1 §3.1: cost ratio to a full conv is 1/N + 1/k² (N outputs, k = 3).
    full = torch.nn.Conv2d(64, 128, 3, padding=1, bias=False)
    separable = DepthwiseSeparableConv(64, 128)
    conv_weights = sum(m.weight.numel() for m in separable.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv_weights / full.weight.numel() == pytest.approx(1 / 128 + 1 / 9)
    bare = DepthwiseSeparableConv(64, 128, depthwise_norm=False, act=None)
    assert isinstance(bare.depthwise, torch.nn.Conv2d) and len(bare.pointwise) == 2


@pytest.mark.parametrize("layout, names", [("v2", ["conv.0.0", "conv.2", "conv.3"]), ("v3", ["block.0.0", "block.2.0"])])
def test_inverted_residual_layouts(layout, names):
    block = InvertedResidual(16, 16, 64, layout=layout)
    modules = dict(block.named_modules())
    assert all(n in modules for n in names)
    x = torch.randn(1, 16, 8, 8)
    # Same weights, either layout: the same function (the layout only names things).
    other = InvertedResidual(16, 16, 64, layout="v3" if layout == "v2" else "v2")
    other.load_state_dict(dict(zip(other.state_dict(), block.state_dict().values())))
    block.eval()
    other.eval()
    torch.testing.assert_close(block(x), other(x))
