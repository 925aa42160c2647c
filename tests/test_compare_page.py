"""AppTest of the Compare page through app.py's navigation: two random-weight models on a
sample image side by side, every method, CKA of a model with itself and across a run's
checkpoints, a run's checkpoint as a column's weights, and feature evolution."""

import json

import pytest
import torch
from streamlit.testing.v1 import AppTest

from classifier.images import decode_image, sample_images
from classifier.weights import load_weights
from test_compare import make_run
from tests_paths import ROOT

pytestmark = pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU activations")
CNN, VIT = "resnet20_cifar", "vit_lite_7_4_cifar"


@pytest.fixture(autouse=True)
def no_runs(tmp_path, monkeypatch):
    """An empty runs folder unless a test fills it, and no torch cache to find weights in."""
    monkeypatch.setenv("CLASSIFIER_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))


def open_compare(*models: str, **state) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    for i, name in enumerate(models):
        at.session_state[f"compare_model_{i}"] = name
    if len(models) > 2:
        at.session_state["compare_count"] = len(models)
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page("app_pages/compare.py")
    at.run()
    check(at)
    return at


def check(at: AppTest) -> None:
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def captions(at: AppTest) -> list[str]:
    return [c for image in at.image for c in image.captions]


def test_two_random_models_side_by_side():
    at = open_compare(CNN, VIT)
    headers = [m.value for m in at.markdown if m.value.startswith("#### ")]
    assert headers == [f"#### 1. {CNN} (Random)", f"#### 2. {VIT} (Random)"]
    picture = decode_image(sample_images()[at.selectbox(key="compare_sample").value])
    charts = [json.loads(c.proto.spec)["data"][0] for c in at.get("plotly_chart")]
    assert len(charts) == 2
    for name, bars in zip((CNN, VIT), charts):
        loaded = load_weights(name, "random")
        with torch.no_grad():
            top5 = loaded.model(loaded.preprocess(picture)).softmax(1)[0].topk(5).indices.tolist()
        assert bars["y"][::-1] == [f"{loaded.class_names[i]} ({i})" for i in top5]
    shown = captions(at)
    for expected in ["layer1: 16 channels, 32×32 (stride 1)", "layer3: 64 channels, 8×8 (stride 4)",
                     "conv_proj: 256 channels, 8×8 (stride 4)", "encoder.ln: 256 channels, 8×8 (last map before the classifier)"]:
        assert expected in shown, shown
    rows = [m.value for m in at.markdown if m.value.startswith("**")]
    assert rows == ["**Stride 1**", "**Stride 2**", "**Stride 4**", "**Last map before the classifier**"]
    assert sum("through the whole network" in c for c in shown) == 2  # guided backprop for each model
    table = at.table[0].value
    assert len(table) == 1 and table.iloc[0]["top-1"] in ("agree", "differ")
    assert [d.proto.label for d in at.get("download_button")] == ["⬇ Comparison (PNG)"]


@pytest.mark.parametrize("method, note", [("gradcam", "at conv_proj"), ("occlusion", "occluder"), ("deconv", "whole network")])
def test_each_method(method, note):
    at = open_compare(CNN, VIT, compare_method=method)
    assert any(note in c for c in captions(at)), captions(at)


def test_three_models_and_a_bad_upload():
    at = open_compare(CNN, VIT, "lenet5")
    headers = [m.value for m in at.markdown if m.value.startswith("#### ")]
    assert len(headers) == 3 and headers[2] == "#### 3. lenet5 (Random)"
    assert len(at.table[0].value) == 3  # three pairs
    at.radio(key="compare_image_source").set_value("Upload").run()
    at.file_uploader(key="compare_upload").set_value(("x.png", b"not an image", "image/png")).run()
    assert not at.exception and len(at.error) == 1 and "not a JPEG" in at.error[0].value


def test_cka_of_a_model_with_itself_is_one_on_the_diagonal():
    at = open_compare(CNN, CNN, compare_tab="Layer similarity (CKA)", cka_images="digits", cka_count=16)
    heat = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    z = heat["z"]
    assert heat["y"] == heat["x"] and len(z) == 9  # resnet20_cifar's nine residual blocks
    assert all(z[i][i] == pytest.approx(1.0, abs=1e-3) for i in range(9))
    assert min(min(row) for row in z) < 0.99
    assert float(at.metric[0].value) == pytest.approx(1.0, abs=1e-3)


def test_a_runs_checkpoints_as_weights_for_cka_and_feature_evolution(tmp_path):
    run = make_run(tmp_path / "runs")
    at = open_compare(CNN, VIT)
    weights = at.selectbox(key=f"compare_weights_0_{CNN}")
    # its CIFAR-10 entry first (not cached, so not chosen), then the run and random weights
    assert weights.options[1:] == ["Training run", "Random"] and weights.value == "random"
    assert weights.options[0].startswith("CIFAR-10 · pytorchcv resnet20_cifar10")
    weights.set_value("run").run()
    check(at)
    assert at.selectbox(key=f"compare_ckpt_0_{CNN}").value == "demo · epoch 3 (best.pt)"
    assert f"#### 1. {CNN} (demo · epoch 3 (best.pt))" in [m.value for m in at.markdown]
    assert any("Checkpoint from best.pt" in c.value for c in at.caption)

    at.session_state["compare_tab"] = "Layer similarity (CKA)"
    at.session_state["cka_pair"] = "run"
    at.run()
    check(at)
    heat = json.loads(at.get("plotly_chart")[-1].proto.spec)["data"][0]
    assert len(heat["z"]) == 9 and max(heat["z"][i][i] for i in range(9)) < 1  # epoch 1 and 3 differ

    at.session_state["compare_tab"] = "Feature evolution"
    at.run()
    check(at)
    epochs = at.select_slider(key="evo_epoch_demo")
    assert epochs.options == ["epoch 1", "epoch 2", "epoch 3 (best.pt)"]
    assert any(c.value.startswith("3 checkpoints saved: epochs/epoch-001.pt") for c in at.caption)
    epochs.set_value("epoch 1").run()
    check(at)
    assert any(c.startswith("epoch 1: for channels") for c in captions(at))
    assert "⬇ Feature evolution (PNG)" in [d.proto.label for d in at.get("download_button")]
    assert run.exists()


def test_feature_evolution_without_runs_says_how_to_get_one():
    at = open_compare(CNN, VIT, compare_tab="Feature evolution")
    assert "Train page" in at.info[0].value
