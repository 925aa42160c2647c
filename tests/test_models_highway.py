"""Highway networks (Srivastava, Greff and Schmidhuber 2015): model rules, the published
size of the CIFAR-10 net, and what the transform and carry gates do."""

import pytest
import torch
from model_checks import assert_close_to_reference, check_model, check_stages, meta_param_count
from torch import nn

from classifier import create_model, get_card
from classifier.models.highway import Highway

NAMES = ["highway19_cifar", "highway_fc10"]


@pytest.mark.parametrize("name", NAMES)
def test_model_rules(name):
    check_model(name)


def test_stages():
    check_stages("highway19_cifar")


def test_cifar_net_is_small_input():
    card = get_card("highway19_cifar")
    assert card.small_input and card.input_size == (3, 32, 32) and card.num_classes == 10


def test_parameter_count_matches_table_1():
    """Table 1 of arXiv 1507.06228 prints 2.3M for the 19-layer CIFAR-10 highway net;
    half a unit of the last printed digit is the tolerance (2.25M–2.35M)."""
    reference = get_card("highway19_cifar").paper_params
    assert reference == 2_300_000
    assert_close_to_reference(meta_param_count("highway19_cifar"), reference, rel=50_000 / reference)


def test_nineteen_layers_and_gate_bias():
    """The authors' cifar10-19layers net (flukeskywalker/highway-networks): three plain
    convs, 14 highway convs, a 1×1 conv and a linear layer are 19 weighted layers, and
    every transform gate's bias starts at −2."""
    model = create_model("highway19_cifar")
    highways = [m for m in model.modules() if isinstance(m, Highway)]
    inside = {id(m) for h in highways for m in (h.transform, h.gate)}
    plain = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)) and id(m) not in inside]
    assert (len(plain), len(highways)) == (5, 14)
    assert all(torch.all(h.gate.bias == -2.0) for h in highways)


def test_fc_highway_layer_costs_a_plain_layer():
    """arXiv 1505.00387, Section 4.1: 50-unit highway layers were compared with 71-unit
    plain layers, both about 5000 parameters a layer."""
    highway = sum(p.numel() for p in Highway.linear(50).parameters())
    plain = sum(p.numel() for p in nn.Linear(71, 71).parameters())
    assert_close_to_reference(highway, plain, rel=0.01)
    assert_close_to_reference(highway, 5000, rel=0.05)


@pytest.mark.parametrize("make, shape", [(Highway.conv, (2, 8, 6, 6)), (Highway.linear, (2, 8))])
def test_gate_chooses_between_transform_and_carry(make, shape):
    """y = T·H(x) + (1 − T)·x: a shut gate carries x unchanged, an open one gives
    relu(transform(x)), and in between the output is their T-weighted mix."""
    layer = make(shape[1])
    x = torch.randn(shape)
    h = torch.relu(layer.transform(x)).detach()
    with torch.no_grad():
        layer.gate.weight.zero_()
        for bias, expected in ((-40.0, x), (40.0, h), (0.0, (x + h) / 2)):
            layer.gate.bias.fill_(bias)
            torch.testing.assert_close(layer(x), expected)


@pytest.mark.parametrize("name", NAMES)
def test_negative_gate_bias_starts_near_carry(name):
    """With the gate bias at −2 every highway layer of a fresh net opens its transform gate
    only about sigmoid(−2) ≈ 0.12 of the way, i.e. it mostly carries its input."""
    torch.manual_seed(0)
    model = create_model(name)
    gates: list[torch.Tensor] = []
    hooks = [m.sigmoid.register_forward_hook(lambda m, i, o: gates.append(o)) for m in model.modules()
             if isinstance(m, Highway)]
    with torch.no_grad():
        model(torch.randn(8, *get_card(name).input_size))
    for h in hooks:
        h.remove()
    means = torch.stack([g.mean() for g in gates])
    assert len(gates) == (14 if name == "highway19_cifar" else 9)
    assert torch.all((means > 0.05) & (means < 0.25)), means
