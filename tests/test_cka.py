"""Linear CKA (classifier.cka): the invariances Kornblith et al. (2019, arXiv 1905.00414)
prove, the paper's feature-space formula, layer sets, and CKA between real models."""

import numpy as np
import pytest
import torch
from torch import nn

from classifier import create_model
from classifier.cka import (
    GRAM_SLICE,
    activation_layers,
    cka,
    evenly,
    gram,
    layer_grams,
    layer_set,
    linear_cka,
    repeated_blocks,
    similarity,
    similarity_figure,
)
from classifier.compare import digit_set
from classifier.weights import LoadedModel, load_weights


def data(n=120, p=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, p, generator=g, dtype=torch.float64), torch.randn(n, p, generator=g, dtype=torch.float64)


def orthogonal(p, seed=1):
    q, _ = torch.linalg.qr(torch.randn(p, p, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return q


def test_representation_with_itself_is_one():
    x, _ = data()
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(x.float().reshape(120, 3, 2, 2), x) == pytest.approx(1.0, abs=1e-6)  # any shape per example


def test_invariant_to_orthogonal_transforms_and_isotropic_scaling():
    x, y = data()
    q = orthogonal(x.shape[1])
    base = linear_cka(x, y)
    assert 0.0 < base < 0.5  # unrelated random data: far from 1, so the equalities below mean something
    assert linear_cka(x @ q, y) == pytest.approx(base, abs=1e-12)
    assert linear_cka(x, y @ orthogonal(y.shape[1], seed=2)) == pytest.approx(base, abs=1e-12)
    assert linear_cka(3.7 * x, y) == pytest.approx(base, abs=1e-12)
    assert linear_cka(x, 1e-3 * y) == pytest.approx(base, abs=1e-12)
    assert linear_cka(x @ q, x) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(5 * x, x) == pytest.approx(1.0, abs=1e-12)


def test_not_invariant_to_arbitrary_invertible_linear_maps():
    x, y = data()
    g = torch.Generator().manual_seed(3)
    # a well-defined invertible map that stretches some directions 100× more than others
    a = torch.randn(12, 12, generator=g, dtype=torch.float64) @ torch.diag(torch.logspace(0, 2, 12, dtype=torch.float64))
    assert torch.linalg.matrix_rank(a) == 12
    assert linear_cka(x, x @ a) < 0.9
    assert abs(linear_cka(x @ a, y) - linear_cka(x, y)) > 0.01


def test_equals_the_papers_feature_space_formula():
    """Kornblith et al., eq. (5): ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F) for column-centred X, Y."""
    x, y = data(n=60, p=7, seed=4)
    y = torch.cat([y, y[:, :3] ** 2], 1)  # a different width on the other side
    xc, yc = x - x.mean(0), y - y.mean(0)
    expected = torch.linalg.matrix_norm(yc.T @ xc) ** 2 / (
        torch.linalg.matrix_norm(xc.T @ xc) * torch.linalg.matrix_norm(yc.T @ yc))
    assert linear_cka(x, y) == pytest.approx(float(expected), abs=1e-12)


def test_gram_in_slices_equals_one_product():
    x = torch.randn(5, GRAM_SLICE + 123, generator=torch.Generator().manual_seed(5))
    assert torch.allclose(gram(x), x.double() @ x.double().T, rtol=1e-12, atol=1e-9)


def test_gram_matrices_of_different_sizes_are_refused():
    with pytest.raises(ValueError, match="cannot be compared"):
        cka(torch.eye(3), torch.eye(4))


def test_evenly_keeps_both_ends():
    names = [f"l{i}" for i in range(100)]
    picked = evenly(names, 10)
    assert len(picked) == 10 and picked[0] == "l0" and picked[-1] == "l99"
    assert evenly(names[:5], 10) == names[:5]


@pytest.mark.parametrize("name, expected", [
    ("resnet50", 16),  # ResNet paper, Table 1: 3 + 4 + 6 + 3 bottleneck blocks
    ("vit_b_16", 12),  # ViT paper, Table 1: ViT-Base has 12 layers
    ("resnet20_cifar", 9),  # ResNet paper §4.2: 6n + 2 layers, n = 3 blocks per stage
])
def test_repeated_blocks(name, expected):
    with torch.device("meta"):
        model = create_model(name)
    blocks = repeated_blocks(model)
    assert len(blocks) == expected
    kinds = {type(model.get_submodule(b)) for b in blocks}
    assert len(kinds) == 1, kinds


def test_a_net_without_repeated_blocks_falls_back_to_activations():
    with torch.device("meta"):
        vgg = create_model("vgg16")
    assert repeated_blocks(vgg) == []
    loaded = LoadedModel("vgg16", vgg, [], None, (3, 224, 224), "", False, "random")
    names, kind = layer_set(loaded, "blocks")
    assert kind == "activations"
    assert len(names) == len(activation_layers(vgg)) == 15  # VGG paper, Table 1 (D): 13 conv + 2 hidden FC layers, each with a ReLU


def test_layer_grams_leaves_out_outputs_that_are_not_per_example():
    class Pair(nn.Module):
        def forward(self, x):
            return x, x

    model = nn.Sequential(nn.Linear(4, 4), Pair())
    grams = layer_grams(model, torch.randn(6, 4), ["0", "1"])
    assert list(grams) == ["0"] and grams["0"].shape == (6, 6)


def test_identical_models_are_one_on_the_diagonal_and_less_elsewhere():
    images = digit_set(16)
    a, b = load_weights("resnet20_cifar", "random"), load_weights("resnet20_cifar", "random")
    assert a.model is not b.model
    sim = similarity(a, b, images, "blocks")
    assert sim.layers_a == sim.layers_b and len(sim.layers_a) == 9
    np.testing.assert_allclose(sim.diagonal(), 1.0, atol=1e-6)
    assert sim.matrix.min() < 0.95  # early and late blocks differ, so the diagonal is not trivially 1
    assert np.allclose(sim.matrix, sim.matrix.T, atol=1e-6)


def test_cnn_against_vit_and_the_heat_map():
    images = digit_set(12)
    cnn, vit = load_weights("resnet20_cifar", "random"), load_weights("vit_lite_7_4_cifar", "random")
    sim = similarity(cnn, vit, images, "stages")
    assert sim.layers_a == ["layer1", "layer2", "layer3"] and sim.layers_b == ["conv_proj", "encoder.ln"]
    assert sim.matrix.shape == (3, 2) and ((sim.matrix >= 0) & (sim.matrix <= 1)).all()
    assert sim.diagonal() is None
    grams = layer_grams(vit.model, torch.cat([vit.preprocess(im) for im in images]), ["encoder.ln"])
    direct = layer_grams(cnn.model, torch.cat([cnn.preprocess(im) for im in images]), ["layer3"])
    assert sim.matrix[2, 1] == pytest.approx(cka(direct["layer3"], grams["encoder.ln"]), abs=1e-9)
    fig = similarity_figure(sim, "A", "B")
    assert np.shape(fig.data[0].z) == (3, 2) and list(fig.data[0].x) == sim.layers_b


def test_too_few_images_are_refused():
    model = load_weights("resnet20_cifar", "random")
    with pytest.raises(ValueError, match="at least 3 images"):
        similarity(model, model, digit_set(2))
