"""AppTest of the Evaluate page: a generated labelled folder through a model, the page's
figures equal to the library's evaluation, a bad folder as one sentence."""

import pytest
from streamlit.testing.v1 import AppTest

from classifier.evaluate import evaluate, labelled_images
from classifier.weights import load_weights
from test_evaluate import write_folder
from tests_paths import ROOT


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("CLASSIFIER_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))


def open_evaluate(**state) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page("app_pages/evaluate.py")
    return at.run()


def test_folder_evaluation_shows_the_measured_figures(tmp_path):
    folder = write_folder(tmp_path / "set", ["class 0", "class_1", "class-2"], per_class=3)
    at = open_evaluate(evaluate_model="resnet20_cifar", evaluate_data="folder", evaluate_folder=str(folder))
    assert not at.exception and not at.error
    weights = at.selectbox(key="evaluate_weights_resnet20_cifar")
    assert weights.value == "random"  # nothing cached, no runs: random, and no download starts
    at.button(key="evaluate_run").click().run()
    assert not at.exception and not at.error, at.error
    loaded = load_weights("resnet20_cifar", "random")
    expected = evaluate(loaded, labelled_images(str(folder), loaded.class_names))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Top-1 measured"] == f"{expected.top1:.1f} %" and metrics["Top-5"] == f"{expected.top5:.1f} %"
    assert metrics["Top-1 reported by the source"] == "—"
    assert len(at.get("plotly_chart")) == 1 and len(at.get("image")) == len(expected.mistakes)


def test_a_folder_of_unknown_classes_is_one_sentence(tmp_path):
    folder = write_folder(tmp_path / "set", ["giraffe", "class 1"], per_class=1)
    at = open_evaluate(evaluate_model="resnet20_cifar", evaluate_data="folder", evaluate_folder=str(folder))
    at.button(key="evaluate_run").click().run()
    assert not at.exception
    assert len(at.error) == 1 and "'giraffe' is not one of the weights' classes" in at.error[0].value
