"""Dataset examples (classifier.explain.units): an image engineered to maximise a channel
ranks first at the unit it was built for, its crop is that unit's receptive field, the
streamed top-k equals the whole set's, projections equal the deconvnet's one by one, the
cache is hit and invalidated as it should be, and the CLI writes its files."""

import json
import os
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from classifier.cli import main
from classifier.explain import explainable_layers, find_layer, layer_output, neuron_deconvolution
from classifier.explain import units
from classifier.explain.render import signed_image
from classifier.explain.unit_sets import ExampleSet, example_set, folder_set
from classifier.explain.units import channel_views, dataset_examples, search, weights_key
from classifier.weights import load_weights

# LeNet-5: one input channel, and c1 is a 5×5 convolution without padding, so unit (i, j)
# of c1 sees exactly rows i..i+4 and columns j..j+4 (its receptive field, by hand).
MODEL, KERNEL = "lenet5", 5
CHANNEL, WHERE, AT = 2, (11, 17), 7


@pytest.fixture(scope="module")
def loaded():
    return load_weights(MODEL, "random")


@pytest.fixture(scope="module")
def layers(loaded):
    return explainable_layers(MODEL, loaded.input_size, loaded.model)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("CLASSIFIER_UNITS_DIR", str(tmp_path / "units"))
    monkeypatch.setenv("CLASSIFIER_DATA_DIR", str(tmp_path / "data"))


def engineered_set(loaded, count: int = 24) -> ExampleSet:
    """``count`` digits, one of which (``AT``) carries c1's matched pattern at ``WHERE``.

    The preprocessing maps a pixel p to (p/255 - 0.5)/0.5, increasing in p, so the sum
    Σ w·x over the 5×5 field is largest when each pixel is 255 where the filter weight is
    positive and 0 where it is negative: no image can excite that unit more, and tanh
    (act1) keeps the order."""
    digits = example_set("digits").limited(count)
    weight = loaded.model.get_submodule("c1").weight[CHANNEL, 0].detach().numpy()
    image = digits.items[AT].copy()
    r, c = WHERE
    image[r:r + KERNEL, c:c + KERNEL, 0] = np.where(weight > 0, 255, 0)
    items = list(digits.items)
    items[AT] = image
    return ExampleSet("engineered digits", items, list(digits.names), "engineered")


@pytest.mark.parametrize("layer_name", ["c1", "act1.tanh"])
def test_the_engineered_image_ranks_first_and_its_crop_is_the_receptive_field(loaded, layers, layer_name, tmp_path):
    images = engineered_set(loaded)
    layer = find_layer(layers, layer_name)
    examples = dataset_examples(loaded, "random", layer, images, k=9)
    assert int(examples.images[CHANNEL, 0]) == AT
    assert examples.unit(CHANNEL, 0) == WHERE
    assert examples.values[CHANNEL, 0] > examples.values[CHANNEL, 1]
    assert examples.values.shape == (layer.channels, 9)

    first = channel_views(loaded, examples, images, CHANNEL)[0]
    r, c = WHERE
    assert first.box == (r, c, r + KERNEL, c + KERNEL)
    pattern = np.asarray(images.image(AT))[r:r + KERNEL, c:c + KERNEL]
    assert first.patch.shape == (KERNEL, KERNEL, 3) and np.array_equal(first.patch[..., 0], pattern)
    assert first.projection.shape == (KERNEL, KERNEL, 3)


def test_the_streamed_top_k_equals_the_whole_sets(loaded, layers):
    images = example_set("digits").limited(23)
    layer = find_layer(layers, "act3.tanh")
    values, index, positions = search(loaded.model, layer, images, loaded.preprocess, k=4, batch=5)
    x = torch.cat([loaded.preprocess(images.image(i)) for i in range(len(images))])
    best, where = layer_output(loaded.model, x, layer).flatten(2).max(2)  # (N, C)
    top = best.T.topk(4, dim=1)
    assert torch.allclose(values, top.values)
    assert torch.equal(index, top.indices)
    assert torch.equal(positions, where.T.gather(1, top.indices))


def test_batched_projections_equal_the_deconvnets_one_by_one(loaded, layers):
    images = example_set("digits").limited(12)
    layer = find_layer(layers, "act3.tanh")
    examples = dataset_examples(loaded, "random", layer, images, k=3)
    channel = examples.strongest_channels()[0]
    for rank, view in enumerate(channel_views(loaded, examples, images, channel)):
        x = loaded.preprocess(images.image(view.image))
        alone = neuron_deconvolution(loaded.model, x, layer, channel, examples.unit(channel, rank))
        top, left, bottom, right = view.box
        assert view.box == layer.box(view.unit, (32, 32))
        assert np.array_equal(view.projection, signed_image(alone[:, top:bottom, left:right]))


def write_images(folder, count: int, seed: int = 0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for n in range(count):
        Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).save(folder / f"{n}.png")
    return folder


def test_the_cache_is_hit_and_invalidated_by_layer_set_and_weights(loaded, layers, tmp_path, monkeypatch):
    calls = []
    real = units.search
    monkeypatch.setattr(units, "search", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    folder = write_images(tmp_path / "set", 6)
    c1, act1 = find_layer(layers, "c1"), find_layer(layers, "act1.tanh")
    weights = weights_key(loaded, "random")

    first = dataset_examples(loaded, weights, c1, folder_set(folder))
    again = dataset_examples(loaded, weights, c1, folder_set(folder))
    assert (first.cached, again.cached, len(calls)) == (False, True, 1)
    assert torch.equal(first.values, again.values) and torch.equal(first.images, again.images)

    assert not dataset_examples(loaded, weights, act1, folder_set(folder)).cached  # another layer
    assert not dataset_examples(loaded, weights, c1, folder_set(folder), k=4).cached  # another k
    os.utime(folder / "3.png", ns=(1, 1))  # one file touched: the set may have changed
    assert not dataset_examples(loaded, weights, c1, folder_set(folder)).cached
    write_images(tmp_path / "other", 1, seed=1)
    (tmp_path / "other" / "0.png").rename(folder / "new.png")  # one file added
    assert not dataset_examples(loaded, weights, c1, folder_set(folder)).cached
    assert len(calls) == 5

    checkpoint = tmp_path / "lenet5.pt"
    torch.save(loaded.model.state_dict(), checkpoint)
    trained = load_weights(MODEL, checkpoint)
    key = weights_key(trained, checkpoint)
    assert key.startswith("checkpoint:") and key != weights
    assert not dataset_examples(trained, key, c1, folder_set(folder)).cached  # same tensors, other weights id
    torch.save({k: v + 1 for k, v in loaded.model.state_dict().items()}, checkpoint)
    assert weights_key(load_weights(MODEL, checkpoint), checkpoint) != key  # rewritten file: new key


def test_the_cli_writes_a_grid_per_channel_and_an_index(tmp_path, capsys):
    folder = write_images(tmp_path / "photos" / "inner", 5)
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, f"inner/{f.name}")
    for n, data in enumerate((folder, archive, archive)):
        out = tmp_path / f"out-{n}"
        args = ["units", "--model", MODEL, "--weights", "random", "--layer", "c1", "--data", str(data),
                "--out", str(out), "--channels", "2", "--k", "3"]
        assert main(args) == 0
        index = json.loads((out / "index.json").read_text())
        assert index["layer"] == "c1" and index["images"] == 5 and index["k"] == 3
        assert sorted(p.name for p in out.glob("*.png")) == sorted(c["file"] for c in index["channels"])
        assert len(index["channels"]) == 2
        for channel in index["channels"]:
            with Image.open(out / channel["file"]) as im:
                assert im.width > im.height > 0
            for example in channel["examples"]:
                i, j = example["unit"]
                assert example["box"] == [i, j, i + KERNEL, j + KERNEL]
                assert example["image"] in {f"{n}.png" for n in range(5)}
    said = [line for line in capsys.readouterr().out.splitlines() if "written to" in line]
    assert ["searched" in line for line in said] == [True, True, False]  # the same zip again: cached

    assert main(["units", "--model", MODEL, "--weights", "random", "--data", "cifar10", "--out", str(tmp_path / "x")]) == 2
    assert "is not in the data cache" in capsys.readouterr().err
