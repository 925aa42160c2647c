"""classifier.evaluate and `python -m classifier evaluate` on generated labelled folders:
the measured top-1/top-5, per-class rows and mistakes must equal a direct computation
with the same model and preprocessing."""

import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from classifier.cli import main
from classifier.evaluate import evaluate, from_folder, labelled_images
from classifier.evaluate.labelled import imagenet_synsets
from classifier.weights import load_weights


def shape_image(kind: str, seed: int, size: int = 40) -> Image.Image:
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(0, 80, 3)))
    draw = ImageDraw.Draw(img)
    a, b = int(rng.integers(4, 12)), int(rng.integers(26, 36))
    (draw.ellipse if kind == "circle" else draw.rectangle)((a, a, b, b), fill=(230, 230, 230))
    return img


def write_folder(root, names, per_class=3):
    for c, name in enumerate(names):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            shape_image("circle" if c % 2 == 0 else "square", 10 * c + i).save(root / name / f"{i}.png")
    return root


def direct(loaded, images):
    """Predictions computed by hand: the reference the evaluation must match."""
    with torch.no_grad():
        x = torch.cat([loaded.preprocess(images.image(i)) for i in range(len(images))])
        return loaded.model(x).softmax(1)


def check_against_direct(result, loaded, images):
    probs = direct(loaded, images)
    truth = torch.tensor(images.labels)
    top1 = (probs.argmax(1) == truth).float().mean().item() * 100
    top5 = (probs.topk(min(5, probs.shape[1]), 1).indices == truth[:, None]).any(1).float().mean().item() * 100
    assert result.images == len(images)
    assert result.top1 == pytest.approx(top1) and result.top5 == pytest.approx(top5)
    wrong = [(probs[i].max().item(), i) for i in range(len(images)) if probs[i].argmax() != truth[i]]
    assert [m.index for m in result.mistakes] == [i for _, i in sorted(wrong, reverse=True)][:12]
    for c, (n, ok) in result.per_class.items():
        members = truth == c
        assert n == members.sum() and ok == (probs.argmax(1)[members] == c).sum()


def test_imagenet_synset_folders_map_to_class_indices(tmp_path):
    synsets = imagenet_synsets()
    assert len(synsets) == 1000 and synsets[0] == "n01440764" and list(synsets) == sorted(synsets)
    chosen = [synsets[0], synsets[1], synsets[999]]
    write_folder(tmp_path / "val", chosen, per_class=2)
    loaded = load_weights("resnet18", "random")
    images = from_folder(tmp_path / "val", loaded.class_names)
    assert sorted(set(images.labels)) == [0, 1, 999] and "ImageNet synset folders" in images.description
    result = evaluate(loaded, images, batch_size=4)
    check_against_direct(result, loaded, images)
    assert result.class_names[999] == loaded.class_names[999] and result.reported_top1 is None


def test_own_class_folders_and_the_cli(tmp_path, capsys):
    from test_weights import run_checkpoint

    run_checkpoint(tmp_path / "best.pt", classes=("circle", "Square Thing"))
    write_folder(tmp_path / "shapes", ["circle", "square_thing"], per_class=4)
    loaded = load_weights(None, tmp_path / "best.pt")
    images = labelled_images(str(tmp_path / "shapes"), loaded.class_names)
    assert images.labels == [0] * 4 + [1] * 4
    expected = evaluate(loaded, images)
    check_against_direct(expected, loaded, images)
    code = main(["evaluate", "--model", "resnet20_cifar", "--weights", str(tmp_path / "best.pt"),
                 "--data", str(tmp_path / "shapes"), "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["top1"] == pytest.approx(expected.top1) and out["images"] == 8
    assert {r["class"] for r in out["per_class"]} == {"circle", "Square Thing"}
    assert main(["evaluate", "--model", "resnet20_cifar", "--weights", str(tmp_path / "best.pt"),
                 "--data", str(tmp_path / "shapes"), "--limit", "3"]) == 0
    assert "(3 images)" in capsys.readouterr().out


def test_labels_file_with_names_and_indices(tmp_path):
    for i, kind in enumerate(["circle", "square", "circle"]):
        shape_image(kind, i).save(tmp_path / f"img{i}.png")
    (tmp_path / "labels.txt").write_text("# file,label\nimg0.png,tench\nimg1.png 1\nimg2.png,999\n")
    loaded = load_weights("resnet18", "random")
    images = from_folder(tmp_path, loaded.class_names)
    assert images.labels == [0, 1, 999]


@pytest.mark.parametrize(
    "layout, message",
    [
        ({"giraffe": 1, "circle": 1}, "'giraffe' is not one of the weights' classes"),
        ({"labels.txt": "missing.png,0\n"}, "no image 'missing.png'"),
        ({"labels.txt": "../outside.png,0\n"}, "no image '../outside.png'"),
        ({}, "neither class sub-folders nor a labels file"),
    ],
)
def test_bad_folders_are_one_sentence(tmp_path, layout, message):
    root = tmp_path / "data"
    root.mkdir()
    (root / "stray.txt").write_text("not an image")
    for name, value in layout.items():
        if name.endswith(".txt"):
            (root / name).write_text(value)
        else:
            (root / name).mkdir()
            shape_image("circle", 0).save(root / name / "0.png")
    (tmp_path / "outside.png").write_bytes(b"")
    with pytest.raises(ValueError, match=message):
        from_folder(root, ["circle", "square"])


def test_cli_weights_lists_entries_and_json(capsys):
    assert main(["weights", "resnet18"]) == 0
    out = capsys.readouterr().out
    assert "torchvision/resnet18.IMAGENET1K_V1" in out and "69.8 %" in out
    assert main(["weights", "resnet18", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)[0]
    assert record["checksum"] == "sha256:f37072fd" and record["preprocess"]["resize"] == 256
    assert record["cached"] in (True, False) and record["license"]
    assert main(["weights", "--download", "torchvision/resnet18.NOPE"]) == 2
    assert "unknown weights" in capsys.readouterr().err
