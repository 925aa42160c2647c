"""classifier.explain: equal to captum on torchvision's models, right receptive-field
boxes, a known occlusion map, attention rollout, thread safety, and the CLI."""

import threading
import warnings

import numpy as np
import pytest
import torch
from captum.attr import Deconvolution, GuidedBackprop, NeuronDeconvolution
from imagenet_cache import prefilled, torch_home
from model_checks import CAPTUM_NOTICE
from PIL import Image
from torch import nn

from classifier import create_model, get_card
from classifier.cli import main
from classifier.explain import (
    Attention,
    EffectiveField,
    activations,
    attention,
    attribute,
    deconvolution,
    effective_field,
    explainable_layers,
    find_layer,
    gradcam_layers,
    has_attention,
    layer_output,
    occlusion,
    top_projections,
)
from classifier.explain.render import colormap, grid, png_bytes, signed_image
from classifier.images import decode_image, sample_images
from classifier.weights import load_weights

SAMPLE = next(iter(sample_images().values()))


@pytest.fixture
def cache(monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(torch_home()))


def no_inplace(model: nn.Module) -> nn.Module:
    for m in model.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False
    return model


def warnings_of(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn()
    return result, [str(w.message) for w in caught if CAPTUM_NOTICE not in str(w.message)]


# What is compared: the project's functions on OUR model, loaded through the ImageNet
# path from a pre-filled cache, against captum called directly on the torchvision model
# that wrote those weights. torchvision's ReLUs are in place; their flag is switched off,
# since a backward hook on an op that overwrites its input is what the design rules out.
# torchvision's ResNet also calls one ReLU module three times per block; that is kept:
# captum hooks every call of a module separately, so the reference stays exact.
# The input is 64×64 instead of 224×224 to keep the test fast: every conv, pool and ReLU
# still runs on a map larger than 1×1, and adaptive pooling feeds the same classifier.
# Layers: ours, then torchvision's module with the same output (a ResNet block ends in its
# own ReLU module here and in the block's shared one in torchvision).
@pytest.mark.parametrize(
    "name, layer, tv_layer",
    [
        ("alexnet", "features.9", "features.9"),
        ("vgg16", "features.22", "features.22"),
        ("resnet50", "layer2.0.relu_out", "layer2.0"),
    ],
)
def test_deconvnet_and_guided_backprop_equal_captum_on_torchvision(name, layer, tv_layer, cache):
    reference = no_inplace(prefilled(name))
    loaded = load_weights(name, "imagenet")
    torch.manual_seed(0)
    x = torch.randn(1, 3, 64, 64)
    target = 7
    ours, caught = warnings_of(
        lambda: {
            "deconv": deconvolution(loaded.model, x, target),
            "guided": attribute(loaded.model, x, "guided", target),
        }
    )
    assert not caught, caught
    expected = {
        "deconv": Deconvolution(reference).attribute(x.clone().requires_grad_(True), target=target)[0],
        "guided": GuidedBackprop(reference).attribute(x.clone().requires_grad_(True), target=target)[0],
    }
    for method in ours:
        assert expected[method].abs().max() > 0
        assert (ours[method] - expected[method]).abs().max().item() <= 1e-5, method

    info = find_layer(explainable_layers(name, (3, 64, 64), loaded.model), layer)
    projections, caught = warnings_of(lambda: top_projections(loaded.model, x, info, k=2))
    assert not caught, caught
    for p in projections:
        neuron = NeuronDeconvolution(reference, reference.get_submodule(tv_layer))
        want = neuron.attribute(x.clone().requires_grad_(True), neuron_selector=(p.channel, *p.unit))[0]
        assert want.abs().max() > 0
        assert (p.projection - want).abs().max().item() <= 1e-5


def test_vgg16_pool5_field_is_the_published_one():
    # VGG-16 pool5: receptive field 212 px, effective stride 32 (Araujo, Norris and Sim,
    # "Computing Receptive Fields of Convolutional Neural Networks", Distill 2019).
    with torch.device("meta"):
        model = create_model("vgg16")
    pool5 = find_layer(explainable_layers("vgg16", (3, 448, 448), model), "features.30")
    assert pool5.rf == (212, 212) and pool5.stride == (32, 32)
    top, left, bottom, right = pool5.box((7, 7), (448, 448))  # a central unit: not clipped
    assert bottom - top == 212 and right - left == 212
    assert pool5.box((0, 0), (448, 448))[:2] == (0, 0)  # a corner unit's field is clipped


@pytest.mark.parametrize("name", ["resnet20_cifar", "alexnet_cifar"])
def test_gradient_stays_inside_the_theoretical_field(name):
    """The measured field (input gradient of one unit) never leaves the analysed box; for
    the first conv the two coincide exactly (every kernel weight is non-zero)."""
    torch.manual_seed(0)
    model = create_model(name)
    size = get_card(name).input_size
    layers = explainable_layers(name, size, model)
    x = torch.randn(1, *size)
    first = layers[0]
    small = [layer for layer in layers if layer.rf and layer.rf[0] <= size[1] // 2]
    for layer in (first, small[-1]):
        unit = (layer.grid[0] // 2, layer.grid[1] // 2)
        field = effective_field(model, x, layer, unit)
        ys, xs = np.nonzero(field.gradient)
        top, left, bottom, right = field.box
        assert len(ys) and ys.min() >= top and ys.max() < bottom and xs.min() >= left and xs.max() < right, layer.name
        if layer is first:
            assert (ys.min(), xs.min(), ys.max() + 1, xs.max() + 1) == field.box
            assert bottom - top == first.rf[0]


def test_effective_field_measures():
    gradient = np.zeros((20, 20))
    gradient[8:13, 6:11] = 1.0  # a 5×5 blob centred at (10, 8)
    field = EffectiveField((0, 0), gradient, (5, 7, 15, 15))
    assert field.extent(0.95) == 5 and field.extent(0.04) == 1
    assert field.inside == pytest.approx(20 / 25)  # the box cuts off the blob's left column
    assert EffectiveField((0, 0), np.zeros((4, 4)), (0, 0, 4, 4)).extent() == 0


def test_occlusion_map_is_the_probability_under_the_occluder():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)
    ).eval()
    x = torch.randn(1, 3, 12, 12)
    result = occlusion(model, x, target=2, window=4, stride=4)
    with torch.no_grad():
        assert result.base == pytest.approx(model(x).softmax(1)[0, 2].item(), abs=1e-6)
        for r in range(3):
            for c in range(3):
                covered = x.clone()
                covered[..., 4 * r : 4 * r + 4, 4 * c : 4 * c + 4] = 0
                expected = model(covered).softmax(1)[0, 2].item()
                np.testing.assert_allclose(
                    result.probability[4 * r : 4 * r + 4, 4 * c : 4 * c + 4], expected, atol=1e-6
                )


@pytest.fixture(scope="module")
def small():
    loaded = load_weights("resnet20_cifar", "random")
    x = loaded.preprocess(decode_image(SAMPLE))
    return loaded, x, explainable_layers(loaded.name, loaded.input_size, loaded.model)


def test_attribution_methods(small):
    loaded, x, layers = small
    model = loaded.model
    inp = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(inp)[0, 3], inp)
    torch.testing.assert_close(attribute(model, x, "saliency", 3), grad[0])
    ig = attribute(model, x, "ig", 3, ig_steps=64)
    with torch.no_grad():
        gap = (model(x) - model(torch.zeros_like(x)))[0, 3].item()
    assert ig.sum().item() == pytest.approx(gap, rel=0.02, abs=1e-3)  # completeness of IG
    last = gradcam_layers(layers)[-1]
    cam = attribute(model, x, "gradcam", 3, layer=last)
    assert cam.shape == (1, 32, 32) and cam.min() >= 0
    assert attribute(model, x, "guided_gradcam", 3, layer=last).shape == (3, 32, 32)
    with pytest.raises(ValueError, match="needs a spatial layer"):
        attribute(model, x, "gradcam", 3)
    with pytest.raises(ValueError, match="unknown method"):
        attribute(model, x, "magic", 3)


def test_activations_rank_channels_by_their_strongest_unit(small):
    loaded, x, layers = small
    layer = find_layer(layers, "layer2.2.relu_out")
    acts = activations(loaded.model, x, layer)
    peaks = acts.maps.flatten(1).amax(1)
    assert peaks[acts.order].tolist() == sorted(peaks.tolist(), reverse=True)
    c = acts.order[0]
    assert acts.value(c, acts.strongest_unit(c)) == pytest.approx(peaks[c].item())
    seen = {}
    hook = loaded.model.get_submodule(layer.name).register_forward_hook(lambda m, i, o: seen.setdefault("out", o))
    with torch.no_grad():
        loaded.model(x)
    hook.remove()
    torch.testing.assert_close(acts.maps, seen["out"][0])


def test_vit_tokens_attention_and_rollout():
    loaded = load_weights("vit_lite_7_4_cifar", "random")
    x = loaded.preprocess(decode_image(SAMPLE))
    layers = explainable_layers(loaded.name, loaded.input_size, loaded.model)
    tokens = [layer for layer in layers if layer.tokens]
    assert tokens and all(layer.rf is None for layer in tokens)
    layer = tokens[-1]
    maps = layer_output(loaded.model, x, layer)
    seen = {}
    hook = loaded.model.get_submodule(layer.name).register_forward_hook(lambda m, i, o: seen.setdefault("out", o))
    with torch.no_grad():
        loaded.model(x)
    hook.remove()
    g = layer.grid[1]
    assert maps[0, 5, 2, 3].item() == pytest.approx(seen["out"][0, 1 + 2 * g + 3, 5].item())  # class token dropped
    att, caught = warnings_of(lambda: attention(loaded.model, x))
    assert not caught
    blocks, heads, t, _ = att.weights.shape
    assert t == 1 + g * g and att.grid == (g, g) and att.head_maps(0).shape == (heads, g, g)
    torch.testing.assert_close(att.weights.sum(-1), torch.ones(blocks, heads, t))
    assert has_attention(loaded.model) and not has_attention(create_model("resnet20_cifar"))


def test_rollout_of_known_attention():
    t, grid = 5, (2, 2)
    uniform = Attention(torch.full((3, 2, t, t), 1 / t), grid, [])
    # each block is 0.5·I + 0.5·U with U uniform; U is idempotent, so three blocks give
    # 0.125·I + 0.875·U and every patch gets 0.875 / 5 of the class token's attention
    np.testing.assert_allclose(uniform.rollout().numpy(), 0.875 / t, atol=1e-6)
    own = Attention(torch.eye(t).expand(3, 2, t, t).clone(), grid, [])
    assert own.rollout().abs().max() == 0  # tokens that attend only to themselves never reach the class token


def test_threads_sharing_one_model_get_the_answers_of_one_thread(small):
    loaded, x, layers = small
    model, layer = loaded.model, find_layer(layers, "layer2.0.relu1")

    def work():
        projections = top_projections(model, x, layer, k=2)
        return [p.projection for p in projections] + [
            attribute(model, x, "guided", 1),
            deconvolution(model, x, 2),
            attribute(model, x, "saliency", 3),
            torch.from_numpy(effective_field(model, x, layer).gradient),
        ]

    alone = work()
    results, errors = [None] * 4, []

    def run(i):
        try:
            results[i] = work()
        except Exception as exc:  # surfaced below; a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    for result in results:
        for got, want in zip(result, alone):
            assert torch.equal(got, want)


def test_render_helpers():
    img = np.random.default_rng(0).integers(0, 255, (5, 7, 3), dtype=np.uint8)
    back = np.asarray(Image.open(__import__("io").BytesIO(png_bytes(img))))
    assert np.array_equal(back, img)
    assert signed_image(torch.zeros(3, 2, 2)).tolist() == [[[128] * 3] * 2] * 2
    ramp = colormap(np.array([[0.0, 1.0]]))
    assert ramp[0, 0].sum() < 20 and ramp[0, 1].sum() > 600  # dark to bright
    assert grid([img] * 5, columns=3, pad=2).shape == (2 * 5 + 2, 3 * 7 + 4, 3)


# --- CLI ------------------------------------------------------------------------------


def test_predict_prints_torchvisions_top5(cache, capsys):
    reference = prefilled("resnet18")
    assert main(["predict", "--model", "resnet18", "--weights", "imagenet", str(SAMPLE)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    from imagenet_cache import torchvision_weights as imagenet_weights

    weights = imagenet_weights("resnet18")
    with torch.no_grad():
        probs = reference(weights.transforms()(decode_image(SAMPLE))[None]).softmax(1)[0]
    expected = [weights.meta["categories"][i] for i in probs.topk(5).indices]
    assert lines[0] == str(SAMPLE) and len(lines) == 6
    assert [line.split(". ", 1)[1].rsplit(" ", 1)[0].strip() for line in lines[1:]] == expected


@pytest.mark.parametrize(
    "method, extra",
    [
        ("deconv", ["--layer", "layer2.2.relu_out", "--top", "2"]),
        ("deconv", []),
        ("guided", []),
        ("gradcam", ["--layer", "layer3.2.relu_out"]),
        ("ig", []),
        ("occlusion", ["--window", "16", "--stride", "16"]),
    ],
)
def test_explain_writes_a_png(method, extra, tmp_path, capsys):
    out = tmp_path / "out.png"
    argv = [
        "explain",
        "--model",
        "resnet20_cifar",
        "--weights",
        "random",
        "--method",
        method,
        *extra,
        str(SAMPLE),
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    with Image.open(out) as picture:
        assert picture.mode == "RGB" and min(picture.size) >= 32
    assert "written to" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["predict", "--model", "resnet20_cifar", "--weights", "random", "missing.jpg"], "cannot be read"),
        (["predict", "--model", "no_such_net", "IMG"], "unknown model"),
        (["predict", "--model", "resnet20_cifar", "--weights", "random", "NOTIMG"], "not a JPEG"),
        (["predict", "--model", "resnet20_cifar", "--weights", "nowhere.pt", "IMG"], "does not exist"),
        (
            [
                "explain",
                "--model",
                "resnet20_cifar",
                "--weights",
                "random",
                "--method",
                "gradcam",
                "IMG",
                "--out",
                "x.png",
            ],
            "needs --layer",
        ),
        (
            [
                "explain",
                "--model",
                "resnet20_cifar",
                "--weights",
                "random",
                "--method",
                "deconv",
                "--layer",
                "nope",
                "IMG",
                "--out",
                "x.png",
            ],
            "no explainable layer",
        ),
        (
            ["explain", "--model", "resnet20_cifar", "--weights", "random", "--method", "ig", "IMG", "--out", "x.jpg"],
            "must name a .png",
        ),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(argv, message, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not an image")
    argv = [str(SAMPLE) if a == "IMG" else str(tmp_path / "notes.txt") if a == "NOTIMG" else a for a in argv]
    argv = [str(tmp_path / a) if a in ("x.png", "x.jpg", "nowhere.pt") else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and len(err.splitlines()) == 1, err


def test_multi_exit_net_is_explained_through_its_final_exit():
    """MSDNet returns every exit's logits; predictions and attributions use the last."""
    from classifier import create_model
    from classifier.explain.attributions import attribute
    from classifier.explain.deconvnet import deconvolution
    from classifier.explain.predict import logits

    torch.manual_seed(0)
    model, x = create_model("msdnet_cifar"), torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        final = model(x)[-1]
    assert torch.allclose(logits(model, x), final)
    target = int(final.argmax())
    for method in ("saliency", "guided"):
        assert attribute(model, x, method, target).shape == (3, 32, 32)
    assert deconvolution(model, x, target).shape == (3, 32, 32)


def test_default_layer_is_an_activation_near_the_middle():
    from classifier.explain import default_layer, explainable_layers, uses_relu

    vit = load_weights("vit_ti_16", "random")
    layers = explainable_layers("vit_ti_16", (3, 224, 224), vit.model)
    chosen = layers[default_layer(layers)]
    assert chosen.type == "GELU" and "encoder_layer_" in chosen.name, chosen
    assert not uses_relu(layers)
    cnn = load_weights("resnet20_cifar", "random")
    layers = explainable_layers("resnet20_cifar", (3, 32, 32), cnn.model)
    assert layers[default_layer(layers)].type == "ReLU" and uses_relu(layers)


@pytest.mark.parametrize("side, window, stride", [(32, 8, 4), (32, 6, 5), (32, 32, 8)])
def test_occlusion_batches_its_positions_and_reports_each_pass(side, window, stride):
    """Every occluder position goes through the model, ``batch`` at a time, and progress
    hears once per batched pass, ending at (total, total)."""
    from classifier.explain.attributions import occlusion, occlusion_positions

    class Counting(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net, self.sizes = create_model("lenet5").eval(), []

        def forward(self, x):
            self.sizes.append(len(x))
            return self.net(x)

    model, heard = Counting(), []
    occlusion(model, torch.randn(1, 1, side, side), 3, window, stride, batch=16,
              progress=lambda done, total: heard.append((done, total)))
    positions = occlusion_positions(side, side, window, stride)
    occluded = model.sizes[2:]  # our own look at the plain image, then captum's
    assert sum(occluded) == positions and max(occluded) == min(16, positions)
    assert heard == [(i, len(occluded)) for i in range(1, len(occluded) + 1)]
