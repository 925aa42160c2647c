"""classifier.explain.layer_sweep and the default layer: the sweep's views are the
explain package's own (Grad-CAM, the strongest channel, its receptive-field box) at each
layer, the field grows with depth, and each model's default layer is a real unit's layer
with a sentence saying why."""

import numpy as np
import pytest
import torch

from classifier import create_model, get_card
from classifier.explain import activations, attribute, default_layer, explainable_layers
from classifier.explain.layer_info import ACTIVATION_TYPES, PASS_THROUGH_TYPES, default_layer_reason
from classifier.explain.layer_sweep import MAX_LAYERS, layer_sweep, sweep_figure, sweep_layers
from classifier.images import decode_image, sample_images
from classifier.weights import load_weights

SAMPLE = next(iter(sample_images().values()))


def loaded_with_layers(name: str):
    loaded = load_weights(name, "random")
    layers = explainable_layers(name, loaded.input_size, loaded.model)
    return loaded, layers, loaded.preprocess(decode_image(SAMPLE.read_bytes()))


@pytest.fixture(scope="module")
def resnet():
    return loaded_with_layers("resnet20_cifar")


def test_sweep_layers_span_the_depth_and_keep_the_default_and_the_last_map(resnet):
    _, layers, _ = resnet
    picked = sweep_layers(layers)
    names = [layer.name for layer in layers]
    assert 8 <= len(picked) <= MAX_LAYERS
    assert [names.index(p.name) for p in picked] == sorted(names.index(p.name) for p in picked)
    assert all(p.type in ACTIVATION_TYPES for p in picked)
    assert layers[default_layer(layers)] in picked
    assert picked[0] == next(la for la in layers if la.type in ACTIVATION_TYPES)  # the first activation
    assert picked[-1].name == "layer3.2.relu_out"  # the last map before global pooling


def test_each_step_is_gradcam_activation_and_box_of_its_layer(resnet):
    loaded, layers, x = resnet
    picked = sweep_layers(layers, max_layers=5)
    heard = []
    steps = layer_sweep(loaded.model, x, picked, target=2, progress=lambda done, total: heard.append((done, total)))
    assert heard == [(n, len(picked)) for n in range(1, len(picked) + 1)]
    middle = steps[len(steps) // 2]
    acts = activations(loaded.model, x, middle.layer)
    assert middle.channel == acts.order[0] and middle.unit == acts.strongest_unit(middle.channel)
    assert np.array_equal(middle.activation, acts.maps[middle.channel].numpy())
    assert np.allclose(middle.gradcam, attribute(loaded.model, x, "gradcam", 2, layer=middle.layer)[0].numpy())
    assert all(s.box == s.layer.box(s.unit, (32, 32)) for s in steps)
    assert all(s.gradcam.shape == (32, 32) and s.activation.shape == s.layer.grid for s in steps)
    # the theoretical field only grows through a plain chain of convolutions
    fields = [s.layer.rf[0] for s in steps]
    assert fields == sorted(fields) and fields[0] < fields[-1]
    figure = sweep_figure(middle, np.asarray(loaded.preprocess.crop(decode_image(SAMPLE.read_bytes()))), size=64)
    assert figure.shape == (64, 3 * 64 + 2 * 6, 3) and figure.dtype == np.uint8


def test_vit_tokens_have_no_gradcam_and_a_global_box():
    loaded, layers, x = loaded_with_layers("vit_lite_7_4_cifar")
    picked = sweep_layers(layers, max_layers=3)
    steps = layer_sweep(loaded.model, x, picked, target=0)
    tokens = [s for s in steps if s.layer.tokens]
    assert tokens and all(s.gradcam is None and s.box == (0, 0, 32, 32) for s in tokens)
    assert all(s.activation.shape == (8, 8) for s in tokens)  # 32 px / patch 4
    assert sweep_figure(tokens[0], np.zeros((32, 32, 3), np.uint8), size=32).shape == (32, 108, 3)


# Every registered model's default layer was checked once by hand (all 141: analysing them
# takes ~100 CPU-seconds, over this file's budget). These cover each kind of layer list:
# ReLU CNNs, a highway net's gates, Hardswish/SE mobile blocks, Fire modules, ViT tokens.
SAMPLED = ["alexnet_cifar", "resnet20_cifar", "highway19_cifar", "mobilenet_v3_large_cifar",
           "squeezenet1_1_cifar", "vit_lite_7_4_cifar"]


@pytest.mark.parametrize("name", SAMPLED)
def test_default_layer_is_a_units_own_layer_with_a_reason(name):
    layers = explainable_layers(name, get_card(name).input_size)
    layer = layers[default_layer(layers)]
    with torch.device("meta"):
        module = create_model(name).get_submodule(layer.name)  # raises if it is not a module
    assert layer.type not in PASS_THROUGH_TYPES and not isinstance(module, (torch.nn.Dropout, torch.nn.Identity))
    reason = default_layer_reason(layers)
    assert reason.startswith(layer.name) and reason.endswith(".") and reason.count(". ") == 0


def test_a_net_without_activations_defaults_to_a_layer_of_its_own():
    from classifier.explain import LayerInfo

    def info(name, kind):
        return LayerInfo(name, kind, 4, (8, 8), False, (3.0, 3.0), (1.0, 1.0), (0.0, 0.0))

    layers = [info("conv1", "Conv2d"), info("conv2", "Conv2d"), info("drop", "Dropout"), info("conv3", "Conv2d")]
    # the middle (index 2) is the Dropout; of its two neighbours the earlier wins the tie
    assert layers[default_layer(layers)].name == "conv2"
    assert "no activation module" in default_layer_reason(layers)
