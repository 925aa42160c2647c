"""Fine-tuning: a run starts from a weights entry or a checkpoint, replaces a head of
another class count, trains the head alone while the trunk is frozen, and records where
it started."""

import pytest
import torch

from classifier.cli import main
from classifier.train import RunDir, TrainConfig, load_checkpoint, train
from classifier.weights import load_weights
from imagenet_cache import prefilled, torch_home
from test_evaluate import write_folder
from test_weights import run_checkpoint


def test_start_from_a_checkpoint_freeze_then_train_all(tmp_path):
    start = run_checkpoint(tmp_path / "start.pt", classes=("a", "b", "c"))  # 3 classes; digits has 10
    cfg = TrainConfig(model="resnet20_cifar", epochs=2, batch_size=128, augment="none",
                      init_weights=str(tmp_path / "start.pt"), freeze_epochs=1, keep_epochs=True)
    run = RunDir(tmp_path, "tuned")
    assert train(cfg, run) == "finished"
    first = load_checkpoint(run.epoch_checkpoint(1))
    last = load_checkpoint(run.epoch_checkpoint(2))
    assert first["init_weights"] == "checkpoint" and first["model_state"]["fc.weight"].shape == (10, 64)
    given = start.state_dict()
    for key, value in first["model_state"].items():
        if key.startswith("fc."):
            continue
        if key.endswith("num_batches_tracked"):
            continue
        # the frozen first epoch leaves the trunk (parameters and BN statistics) as it started
        torch.testing.assert_close(value, given[key], msg=f"{key} moved while frozen")
    assert not torch.equal(last["model_state"]["conv1.weight"], given["conv1.weight"]), "the trunk trains after"
    assert "init weights checkpoint" in load_weights(None, run.best_checkpoint).description


def test_start_from_an_imagenet_entry_on_a_folder(tmp_path, monkeypatch, capsys):
    """The common transfer use: ImageNet weights, the user's folder of two classes, the
    entry's own input size and normalisation."""
    monkeypatch.setenv("TORCH_HOME", str(torch_home()))
    reference = prefilled("resnet18")
    write_folder(tmp_path / "shapes", ["circle", "square"], per_class=6)
    code = main(["train", "--model", "resnet18", "--dataset", "folder", "--data-path", str(tmp_path / "shapes"),
                 "--init-weights", "torchvision/resnet18.IMAGENET1K_V1", "--freeze-epochs", "1", "--epochs", "1",
                 "--batch-size", "4", "--out", str(tmp_path / "runs"), "--run-id", "transfer"])
    assert code == 0, capsys.readouterr().err
    ckpt = load_checkpoint(tmp_path / "runs" / "transfer" / "best.pt")
    assert ckpt["init_weights"] == "torchvision/resnet18.IMAGENET1K_V1"
    assert ckpt["input_size"] == [3, 224, 224] and ckpt["mean"] == [0.485, 0.456, 0.406]
    assert ckpt["model_state"]["fc.weight"].shape == (2, 512) and ckpt["class_names"] == ["circle", "square"]
    torch.testing.assert_close(ckpt["model_state"]["layer4.1.conv2.weight"], reference.state_dict()["layer4.1.conv2.weight"])


@pytest.mark.parametrize(
    "options, message",
    [
        ({"freeze_epochs": 1}, "needs starting weights"),
        ({"init_weights": "x.pt", "freeze_epochs": 5, "epochs": 2}, "freeze epochs must be between 0"),
    ],
)
def test_bad_fine_tuning_options_are_one_sentence(options, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(model="resnet20_cifar", **options)
