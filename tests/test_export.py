"""``python -m classifier export``: TorchScript and ONNX files give the checkpoint's
logits (ONNX run with onnxruntime), at a batch size other than the traced one."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from classifier.cli import main
from classifier.data import load_data, make_datasets
from classifier.train import RunDir, TrainConfig, export_run, model_from_checkpoint, train


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> RunDir:
    """A one-epoch LeNet-5 run on the digits: real weights, a real best.pt."""
    run = RunDir(tmp_path_factory.mktemp("runs"), "export")
    cfg = TrainConfig(model="lenet5", epochs=1, batch_size=64, optimizer="adamw", lr=5e-3, augment="none")
    assert train(cfg, run) == "finished"
    return run


@pytest.fixture(scope="module")
def digits_batch() -> torch.Tensor:
    """Seven normalised test digits, as LeNet-5 receives them."""
    data = load_data("digits", (1, 32, 32))
    _, test = make_datasets(data, (1, 32, 32), "none")
    return torch.stack([test[i][0] for i in range(7)])


def expected_logits(run: RunDir, images: torch.Tensor) -> np.ndarray:
    model, _ = model_from_checkpoint(run.best_checkpoint)
    with torch.no_grad():
        return model(images).numpy()


def run_export(fmt: str, out, *args) -> None:
    assert main(["export", "--format", fmt, "--out", str(out), *args]) == 0
    assert out.is_file() and not [p for p in out.parent.iterdir() if p.name.startswith(".")]


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
def test_torchscript_gives_the_checkpoint_logits(trained_run, digits_batch, tmp_path):
    out = tmp_path / "lenet5.pt"
    run_export("torchscript", out, "--checkpoint", str(trained_run.best_checkpoint))
    extra = {"meta.json": ""}
    scripted = torch.jit.load(str(out), _extra_files=extra)
    with torch.no_grad():
        got = scripted(digits_batch).numpy()
    np.testing.assert_allclose(got, expected_logits(trained_run, digits_batch), rtol=1e-5, atol=1e-5)
    meta = json.loads(extra["meta.json"])
    assert meta["model"] == "lenet5" and meta["class_names"] == [str(d) for d in range(10)]
    assert meta["input_size"] == [1, 32, 32] and len(meta["mean"]) == 1


def test_onnx_gives_the_checkpoint_logits(trained_run, digits_batch, tmp_path):
    out = tmp_path / "lenet5.onnx"
    run_export("onnx", out, "--model", "lenet5", "--checkpoint", str(trained_run.best_checkpoint))
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"images": digits_batch.numpy()})
    np.testing.assert_allclose(got, expected_logits(trained_run, digits_batch), rtol=1e-4, atol=1e-4)
    props = {p.key: json.loads(p.value) for p in onnx.load(str(out)).metadata_props}
    assert props["class_names"][3] == "3" and props["model"] == "lenet5"


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
def test_random_weights_export_of_a_residual_net(tmp_path):
    out = tmp_path / "resnet20.pt"
    run_export("torchscript", out, "--model", "resnet20_cifar")
    with torch.no_grad():
        logits = torch.jit.load(str(out))(torch.zeros(3, 3, 32, 32))
    assert logits.shape == (3, 10) and torch.isfinite(logits).all()


def test_export_refuses_a_mismatched_model(trained_run, tmp_path, capsys):
    code = main(["export", "--format", "onnx", "--out", str(tmp_path / "x.onnx"),
                 "--model", "resnet20_cifar", "--checkpoint", str(trained_run.best_checkpoint)])
    assert code == 2 and "different model" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()


def test_run_export_is_made_once_and_reused(trained_run):
    first = export_run(trained_run, "torchscript")
    stamp = first.stat().st_mtime_ns
    assert export_run(trained_run, "torchscript") == first and first.stat().st_mtime_ns == stamp
    assert first.parent == trained_run.path / "export"
