"""AppTest of the Units page: dataset examples of a small net on the bundled digits, the
grids equal to the library's, the second visit read from the cache, and a CIFAR set
that is not in the data cache as one sentence."""

import pytest
from streamlit.testing.v1 import AppTest

from classifier.explain import explainable_layers, find_layer
from classifier.explain.unit_sets import example_set
from classifier.explain.units import channel_png, dataset_examples, weights_key
from classifier.weights import load_weights
from tests_paths import ROOT

# resnet20_cifar: the smallest 3-channel net with a CIFAR-10 entry (not cached here, so the
# page falls back to random weights); 60 digits keep the search well under a second.
MODEL, LAYER, LIMIT = "resnet20_cifar", "layer1.0.relu1", 60


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("CLASSIFIER_UNITS_DIR", str(tmp_path / "units"))
    monkeypatch.setenv("CLASSIFIER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CLASSIFIER_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))


def open_units(**state) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page("app_pages/units.py")
    return at.run()


def pick_layer(at: AppTest) -> None:
    box = at.selectbox(key=f"units_layer_{MODEL}")
    box.select_index(next(i for i, label in enumerate(box.options) if label.startswith(LAYER + " "))).run()


def test_digits_examples_render_as_the_library_draws_them():
    state = dict(units_model=MODEL, units_data="digits", units_limit=LIMIT)
    at = open_units(**state)
    assert not at.exception and not at.error, at.error
    assert at.selectbox(key=f"units_weights_{MODEL}").value == "random"
    pick_layer(at)
    assert not at.get("image")  # nothing is drawn before the search is asked for
    at.button(key="units_run").click().run()
    assert not at.exception and not at.error, at.error

    loaded = load_weights(MODEL, "random")
    layer = find_layer(explainable_layers(MODEL, loaded.input_size, loaded.model), LAYER)
    images = example_set("digits").limited(LIMIT)
    expected = dataset_examples(loaded, weights_key(loaded, "random"), layer, images)
    assert expected.cached  # the page's search wrote it
    strongest = expected.strongest_channels()[:4]
    assert at.multiselect(key=f"units_channels_{expected.key}").value == strongest
    shown = at.get("image")
    assert len(shown) == 4
    assert shown[0].proto.imgs[0].caption.startswith(f"channel {strongest[0]}: strongest")
    assert len(at.get("download_button")) == 4
    assert channel_png(loaded, expected, images, strongest[0])  # the same cached file the page drew

    again = open_units(**state)
    pick_layer(again)
    assert not again.exception and not again.error
    assert again.button(key="units_run").disabled  # read from the cache: nothing to search
    assert any("read from the cache" in c.value for c in again.caption)
    assert len(again.get("image")) == 4


def test_a_cifar_set_not_downloaded_is_one_sentence():
    at = open_units(units_model=MODEL, units_data="cifar10")
    assert not at.exception
    assert len(at.error) == 1 and "is not in the data cache" in at.error[0].value
