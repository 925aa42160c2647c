"""classifier.explain.feature_vis: the optimised image excites its target far more than the
bundled samples do, for a channel of a CNN and of ViT and for a class logit; the same seed gives
the same image; the cost estimate adds up from the shape analysis; the cache round-trips.

Small 32×32 variants with random weights keep this to seconds: ResNet-20 (CIFAR) for the
CNN, ViT-Lite-7/4 (CIFAR) for the transformer.
"""

import dataclasses

import numpy as np
import pytest
import torch

from classifier.analysis import analyze
from classifier.explain import default_layer, explainable_layers
from classifier.explain import feature_vis as fv
from classifier.images import decode_image, sample_images
from classifier.weights import load_weights


def setup(name: str):
    loaded = load_weights(name, "random")
    layers = explainable_layers(name, loaded.input_size, loaded.model)
    samples = torch.cat([loaded.preprocess(decode_image(p.read_bytes())) for p in sample_images().values()])
    return loaded, layers, samples


def optimised_score(loaded, objective, result) -> float:
    """The objective on the result as a user would download it: the uint8 PNG, preprocessed."""
    return fv.score(loaded.model, objective, result.network_input(loaded.preprocess))[0]


@pytest.fixture(scope="module")
def resnet():
    return setup("resnet20_cifar")


def test_channel_of_a_cnn_is_excited_far_above_the_samples(resnet):
    loaded, layers, samples = resnet
    objective = fv.Objective(0, layers[default_layer(layers)])
    best_sample = max(fv.score(loaded.model, objective, samples))
    result = fv.visualise(loaded.model, objective, loaded.preprocess, steps=96, seed=0)
    assert result.image.shape == (32, 32, 3) and result.image.dtype == np.uint8
    assert len(result.trace) == 96 and result.trace[-1] > result.trace[0]
    assert optimised_score(loaded, objective, result) > 2 * best_sample > 0


def test_channel_of_a_vit_is_excited_far_above_the_samples():
    loaded, layers, samples = setup("vit_lite_7_4_cifar")
    # the first block's MLP activation: the default layer (block 4 of 7) climbs from a grey
    # start too slowly for a test's budget on random weights
    objective = fv.Objective(0, next(la for la in layers if la.name.endswith("encoder_layer_0.mlp.1")))
    best_sample = max(fv.score(loaded.model, objective, samples))
    result = fv.visualise(loaded.model, objective, loaded.preprocess, steps=64, seed=0)
    assert optimised_score(loaded, objective, result) > 2 * best_sample > 0


def test_class_logit_is_raised_above_every_sample(resnet):
    loaded, _, samples = resnet
    objective = fv.Objective(3)
    result = fv.visualise(loaded.model, objective, loaded.preprocess, steps=32, seed=0)
    assert optimised_score(loaded, objective, result) > max(fv.score(loaded.model, objective, samples))


def test_same_seed_same_image_other_seed_other_image(resnet):
    loaded, layers, _ = resnet
    objective = fv.Objective(1, layers[-1])
    heard = []
    first = fv.visualise(loaded.model, objective, loaded.preprocess, steps=4, seed=7,
                         progress=lambda done, total, value: heard.append((done, total)))
    again = fv.visualise(loaded.model, objective, loaded.preprocess, steps=4, seed=7)
    other = fv.visualise(loaded.model, objective, loaded.preprocess, steps=4, seed=8)
    assert np.array_equal(first.image, again.image) and first.trace == again.trace
    assert not np.array_equal(first.image, other.image)
    assert heard == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_cost_counts_the_net_up_to_the_layer_three_times_per_step(resnet):
    loaded, layers, _ = resnet
    rows = analyze("resnet20_cifar").rows
    layer = layers[default_layer(layers)]
    upto = [r.name for r in rows].index(layer.name) + 1
    channel = fv.cost("resnet20_cifar", loaded.input_size, fv.Objective(0, layer), steps=10)
    logit = fv.cost("resnet20_cifar", loaded.input_size, fv.Objective(0), steps=10)
    assert channel.forward_macs == sum(r.macs for r in rows[:upto])
    assert channel.forward_macs < logit.forward_macs == analyze("resnet20_cifar").macs
    assert channel.total_macs == 10 * 3 * channel.forward_macs
    assert "10 steps" in channel.describe() and "2× forward" in channel.describe()


class Skips(torch.nn.Module):
    """A net whose ``unused`` layer never runs (as Inception's auxiliary head in eval mode)."""

    def __init__(self):
        super().__init__()
        self.used = torch.nn.Conv2d(3, 4, 1)
        self.unused = torch.nn.Conv2d(4, 4, 1)

    def forward(self, x):
        return self.used(x)


def test_a_layer_the_forward_pass_never_reaches_is_a_clear_error(resnet):
    _, layers, _ = resnet
    unused = dataclasses.replace(layers[0], name="unused")
    with pytest.raises(ValueError, match="did not run"):
        fv.objective_value(Skips(), fv.Objective(0, unused), torch.zeros(1, 3, 8, 8))


def test_cache_round_trip_and_key(resnet, tmp_path):
    loaded, layers, _ = resnet
    objective = fv.Objective(2, layers[3])
    path = fv.cache_file(tmp_path, "resnet20_cifar", "random", objective, steps=2, seed=0)
    assert fv.load(path) is None
    result = fv.visualise(loaded.model, objective, loaded.preprocess, steps=2, seed=0)
    fv.save(result, path)
    back = fv.load(path)
    assert np.array_equal(back.image, result.image) and back.trace == pytest.approx(result.trace)
    others = {
        fv.cache_file(tmp_path, "resnet20_cifar", "random", objective, steps=3, seed=0),
        fv.cache_file(tmp_path, "resnet20_cifar", "random", objective, steps=2, seed=1),
        fv.cache_file(tmp_path, "resnet20_cifar", "torchvision/x", objective, steps=2, seed=0),
        fv.cache_file(tmp_path, "resnet20_cifar", "random", fv.Objective(3, layers[3]), steps=2, seed=0),
        fv.cache_file(tmp_path, "resnet20_cifar", "random", fv.Objective(2), steps=2, seed=0),
    }
    assert path not in others and len(others) == 5


def test_a_one_channel_net_optimises_and_reads_its_result_in_grey():
    loaded = load_weights("lenet5", "random")  # 1×32×32 input
    result = fv.visualise(loaded.model, fv.Objective(3), loaded.preprocess, steps=2, seed=0)
    assert result.image.shape == (32, 32, 3) and result.network_input(loaded.preprocess).shape == (1, 1, 32, 32)
