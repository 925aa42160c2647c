"""classifier.compare: stages lined up by stride, views equal to the model's own outputs,
every attribution method, agreement by rank correlation, crops mapped back to the
picture, the PNG export, and feature evolution over a run's checkpoints."""

import io

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.stats import spearmanr

from classifier import create_model, get_card
from classifier.compare.export import CELL, LABEL
from classifier.compare import (
    LAST,
    METHODS,
    agreement,
    common_region,
    comparison_image,
    explain,
    frame,
    look,
    ranks,
    resample,
    sample_set,
    spearman,
    stage_specs,
    stride_rows,
)
from classifier.explain import explainable_layers
from classifier.explain.render import png_bytes
from classifier.feature_evolution import epoch_figure, evolution_sheet, follow_features, saved_epochs
from classifier.images import decode_image, sample_images
from classifier.train import RunDir, TrainConfig, save_checkpoint
from classifier.weights import Preprocess, load_weights

# captum says on every deconvnet and guided-backprop call that it hooks the ReLUs
pytestmark = pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU activations")
PICTURE = decode_image(sample_images()["ball on grass"])
PAIRS = {"cnn+cnn": ("resnet20_cifar", "vgg16_bn_cifar"), "cnn+vit": ("resnet20_cifar", "vit_lite_7_4_cifar")}


@pytest.fixture(scope="module")
def views():
    """Each model's view of the picture, random weights, built once for the module."""
    names = {n for pair in PAIRS.values() for n in pair}
    return {n: look(load_weights(n, "random"), PICTURE) for n in sorted(names)}


@pytest.mark.parametrize("name, size", [("resnet50", 224), ("vit_b_16", 224), ("vgg16", 224), ("resnet20_cifar", 32)])
def test_stage_specs_add_a_last_map_only_where_the_card_stops_short(name, size):
    layers = explainable_layers(name, (3, size, size))
    specs = stage_specs(name, (3, size, size), layers)
    card = [(s.module, s.channels, s.stride) for s in get_card(name).stages]
    assert [(s.module, s.channels, s.stride) for s in specs if not s.last] == card
    last = [s for s in specs if s.last]
    if name.startswith("vit"):
        # ViT paper, Table 1: ViT-B has hidden size 768; 224 / 16 = 14 patches a side
        assert [(s.module, s.channels, s.stride) for s in last] == [("encoder.ln", 768, 16)]
    else:
        assert last == []


@pytest.mark.parametrize("pair", PAIRS)
def test_views_hold_the_models_own_predictions_and_stage_outputs(pair, views):
    for name in PAIRS[pair]:
        view = views[name]
        model = view.loaded.model
        outputs = {}
        hooks = [model.get_submodule(s.spec.module).register_forward_hook(
            lambda m, i, o, key=s.spec.module: outputs.__setitem__(key, o)) for s in view.stages]
        with torch.no_grad():
            probs = model(view.loaded.preprocess(PICTURE)).softmax(1)[0]
        for h in hooks:
            h.remove()
        assert [p.index for p in view.predictions] == probs.topk(5).indices.tolist()
        size = view.loaded.input_size[1]
        for stage in view.stages:
            out = outputs[stage.spec.module]
            maps = out[0] if out.dim() == 4 else out[0, 1:].T.reshape(stage.maps.shape)  # ViT: drop the class token
            assert torch.equal(stage.maps, maps)
            assert stage.maps.shape[0] == stage.spec.channels
            assert stage.maps.shape[1] == -(-size // stage.spec.stride), stage.describe()
            assert stage.acts.order[0] == int(stage.maps.flatten(1).amax(1).argmax())
            figure = stage.figure(8)
            assert figure.ndim == 3 and figure.shape[1] > figure.shape[0]


def test_rows_line_nets_up_by_stride(views):
    cnn = [views[n] for n in PAIRS["cnn+cnn"]]
    assert stride_rows(cnn) == [1, 2, 4, 8, 16, 32]
    mixed = [views[n] for n in PAIRS["cnn+vit"]]
    assert stride_rows(mixed) == [1, 2, 4, LAST]
    resnet, vit = mixed
    assert vit.stage(1) is None and vit.stage(4).spec.module == "conv_proj"
    assert vit.stage(LAST).spec.module == "encoder.ln"
    assert resnet.stage(LAST) is resnet.stage(4)  # its deepest stage is its last map


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("pair", PAIRS)
def test_every_method_on_both_pairs(pair, method, views):
    pair_views = [views[n] for n in PAIRS[pair]]
    explanations = [explain(v, method) for v in pair_views]
    for view, e in zip(pair_views, explanations):
        assert e.target == view.top1.index
        assert e.strength.shape == view.image.shape[:2] and e.picture.shape == view.image.shape
        assert np.isfinite(e.strength).all() and e.note
    if method == "gradcam":
        assert explanations[1].note.startswith(f"at {'conv_proj' if pair == 'cnn+vit' else 'features.42'}")
    agree = agreement(pair_views, explanations)
    rho = agree.rank_correlation[0, 1]
    assert np.isnan(rho) or -1 <= rho <= 1
    assert len(agree.summary()) == 1


def test_a_model_agrees_with_itself(views):
    view = views["resnet20_cifar"]
    e = explain(view, "guided")
    agree = agreement([view, view], [e, e])
    assert agree.same_top1[0][1] is True
    assert agree.rank_correlation[0, 1] == pytest.approx(1.0)
    assert "both say" in agree.summary()[0]


def test_different_class_lists_cannot_agree(views, tmp_path):
    model = create_model("resnet20_cifar", num_classes=3)
    path = tmp_path / "three.pt"
    save_checkpoint(path, {"model": "resnet20_cifar", "class_names": ["cat", "dog", "emu"], "input_size": [3, 32, 32],
                           "mean": [0.5] * 3, "std": [0.25] * 3, "model_state": model.state_dict()})
    other = look(load_weights("resnet20_cifar", path), PICTURE)
    agree = agreement([views["resnet20_cifar"], other])
    assert agree.same_top1[0][1] is None and agree.rank_correlation is None
    assert "different class lists" in agree.summary()[0]


def test_spearman_matches_scipy_with_ties():
    g = np.random.default_rng(0)
    a, b = g.integers(0, 5, 400).astype(float), g.normal(size=400)
    b[:100] = a[:100]  # some dependence
    assert spearman(a, b) == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)
    assert ranks(np.array([3.0, 1.0, 3.0, 2.0])).tolist() == [2.5, 0.0, 2.5, 1.0]
    assert np.isnan(spearman(np.ones(5), np.arange(5)))


def test_frame_is_where_the_crop_came_from():
    """A picture whose red channel encodes x and green encodes y: the corners of the crop
    read back the coordinates the computed frame predicts."""
    width, height = 400, 300
    xs, ys = np.meshgrid(np.arange(width) * 255 / (width - 1), np.arange(height) * 255 / (height - 1))
    picture = Image.fromarray(np.stack([xs, ys, np.zeros_like(xs)], -1).round().astype(np.uint8))
    pre = Preprocess.for_input((3, 224, 224))  # resize short side to 256, crop 224
    top, left, bottom, right = frame(pre, picture.size)
    assert (bottom - top) == pytest.approx(224 / 256)  # the ImageNet habit: crop 87.5% of the short side
    crop = np.asarray(pre.crop(picture)).astype(float)
    assert crop[0, 0, 0] / 255 == pytest.approx(left, abs=0.01) and crop[0, 0, 1] / 255 == pytest.approx(top, abs=0.01)
    assert crop[-1, -1, 0] / 255 == pytest.approx(right, abs=0.01) and crop[-1, -1, 1] / 255 == pytest.approx(bottom, abs=0.01)
    assert frame(Preprocess.for_input((3, 32, 32)), picture.size) == pytest.approx((0.0, 0.125, 1.0, 0.875))


def test_resampling_onto_the_common_region():
    m = np.arange(64.0).reshape(8, 8)
    whole = (0.0, 0.0, 1.0, 1.0)
    np.testing.assert_allclose(resample(m, whole, whole, size=8), m)  # pixel centres sample exactly
    half = (0.25, 0.25, 0.75, 0.75)
    np.testing.assert_allclose(resample(m, whole, half, size=4), m[2:6, 2:6])
    np.testing.assert_allclose(resample(m[2:6, 2:6], half, half, size=4), m[2:6, 2:6])
    assert common_region([whole, half, (0.0, 0.1, 1.0, 0.9)]) == (0.25, 0.25, 0.75, 0.75)


def test_comparison_png(views):
    pair_views = [views[n] for n in PAIRS["cnn+vit"]]
    explanations = [explain(v, "gradcam") for v in pair_views]
    image = comparison_image(pair_views, explanations, agreement(pair_views, explanations))
    assert image.shape[1] == LABEL + 2 * CELL and image.shape[0] > 1000
    assert (image < 128).any() and (image == 255).any()  # ink and paper
    decoded = Image.open(io.BytesIO(png_bytes(image)))
    assert decoded.size == (image.shape[1], image.shape[0])


def test_image_sets():
    samples = sample_set()
    assert len(samples) == 4 * len(sample_images())
    assert samples[1].size == samples[0].size and np.array_equal(np.asarray(samples[1]), np.asarray(samples[0])[:, ::-1])


def save_epoch(path, epoch):
    """A resnet20_cifar checkpoint after ``epoch`` epochs, with random weights of its own."""
    torch.manual_seed(epoch)
    save_checkpoint(path, {"model": "resnet20_cifar", "class_names": [str(i) for i in range(10)],
                           "input_size": [3, 32, 32], "mean": [0.3] * 3, "std": [0.3] * 3, "epoch": epoch,
                           "model_state": create_model("resnet20_cifar").state_dict()})


def make_run(root):
    """A run with checkpoints after epochs 1 and 2 in epochs/ and after epoch 3 as best.pt."""
    run = RunDir(root, "demo")
    run.write_config(TrainConfig(model="resnet20_cifar", epochs=3))
    (run.path / "epochs").mkdir()
    for e in (1, 2):
        save_epoch(run.path / "epochs" / f"epoch-{e:03d}.pt", e)
    save_epoch(run.best_checkpoint, 3)
    return run


def test_feature_evolution_follows_the_same_channels(tmp_path):
    run = make_run(tmp_path)
    saved = saved_epochs(run)
    assert [(s.epoch, s.kind) for s in saved] == [(1, "epoch"), (2, "epoch"), (3, "best")]
    images = sample_set(views=False)
    heard = []
    evo = follow_features("resnet20_cifar", saved, "layer2.0.relu_out", images, k=3,
                          progress=lambda done, total: heard.append((done, total)))
    assert heard == [(1, 3), (2, 3), (3, 3)]
    assert len(evo.channels) == 3 and len(evo.features) == 3
    last = load_weights("resnet20_cifar", saved[-1].path)
    x = torch.cat([last.preprocess(im) for im in images])
    outputs = {}
    h = last.model.get_submodule("layer2.0.relu_out").register_forward_hook(lambda m, i, o: outputs.setdefault("o", o))
    with torch.no_grad():
        last.model(x)
    h.remove()
    assert evo.channels == outputs["o"].amax(dim=(0, 2, 3)).argsort(descending=True)[:3].tolist()
    for feats in evo.features:
        assert [f.projection.channel for f in feats] == evo.channels
    final = evo.features[-1][0]
    assert final.projection.activation == pytest.approx(float(outputs["o"][:, evo.channels[0]].max()))
    assert epoch_figure(evo, 0).ndim == 3
    sheet = evolution_sheet(evo)
    assert sheet.shape[0] >= 3 * 64


def test_an_epoch_file_wins_over_best_and_last(tmp_path):
    run = make_run(tmp_path)
    save_epoch(run.last_checkpoint, 2)  # the same epoch as epochs/epoch-002.pt
    save_epoch(run.path / "epochs" / "notes.pt", 9)  # not an epoch file name
    assert [(s.epoch, s.kind) for s in saved_epochs(run)] == [(1, "epoch"), (2, "epoch"), (3, "best")]
    run.best_checkpoint.unlink()
    save_epoch(run.last_checkpoint, 4)
    assert [(s.epoch, s.kind, s.label) for s in saved_epochs(run)][-1] == (4, "last", "epoch 4 (last.pt)")


def test_saved_checkpoints_are_named_by_their_files(tmp_path):
    """The feature-evolution caption names the files a run has; the hint about
    --keep-epochs appears only for a run that did not keep them."""
    from classifier.feature_evolution import describe_saved, runs_with_two_checkpoints

    run = make_run(tmp_path)
    text = describe_saved(run, saved_epochs(run))
    assert text.startswith("3 checkpoints saved: epochs/epoch-001.pt, epochs/epoch-002.pt, best.pt.")
    assert "--keep-epochs" not in text
    single = RunDir(tmp_path, "single")
    single.write_config(TrainConfig(model="resnet20_cifar", epochs=3))
    save_epoch(single.best_checkpoint, 3)
    assert describe_saved(single, saved_epochs(single)).endswith("(--keep-epochs) to save one per epoch.")
    assert runs_with_two_checkpoints([single, run]) == [run]
