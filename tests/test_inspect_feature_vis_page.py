"""AppTest of the Inspect page's Layer sweep and Feature visualisation tabs: nothing runs
before its button, the sweep's slider moves all three views, a feature visualisation shows
its cost first, runs with a downloadable result and is read back from the disk cache."""

import pytest
import torch
from streamlit.testing.v1 import AppTest
from tests_paths import ROOT


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """Results cached under a temporary folder; one torch thread (two spin on two shared cores)."""
    monkeypatch.setenv("CLASSIFIER_DATA_DIR", str(tmp_path))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield tmp_path
    torch.set_num_threads(before)


def open_tab(tab: str, **state) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["inspect_model"] = "resnet20_cifar"
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page("app_pages/inspect.py")
    at.run()
    at.session_state["inspect_tab"] = tab
    at.run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    return at


def image_captions(at: AppTest) -> list[str]:
    return [c for image in at.image for c in image.captions]


def downloads(at: AppTest) -> list[str]:
    return [d.proto.label for d in at.get("download_button")]


def test_sweep_then_feature_vis_each_on_request(isolated):
    """One page session for both tabs: the page's first load is most of the cost."""
    at = open_tab("Layer sweep", fv_steps=32)
    assert any("Default layer." in c.value and "layer2.1.relu1" in c.value for c in at.caption)
    assert not any("sweep" in d for d in downloads(at)), "nothing is computed before the button"
    at.button(key="sweep_run").click().run()
    assert not at.exception, at.exception
    slider = at.select_slider(key="sweep_layer_resnet20_cifar")
    assert slider.value == "layer2.1.relu1"  # starts on the default layer
    first = [c for c in image_captions(at) if "receptive field" in c][0]
    assert "25×25 px" in first and "Layer sweep view (PNG)" in " ".join(downloads(at))
    slider.set_value(slider.options[-1]).run()  # the last map before pooling: a wider field
    last = [c for c in image_captions(at) if "receptive field" in c][0]
    assert last.startswith("layer3.2.relu_out") and "25×25 px" not in last

    at.session_state["inspect_tab"] = "Feature visualisation"
    at.run()
    cost = [i.value for i in at.info if "Cost" in i.value]
    assert cost and "32 steps" in cost[0] and "MACs" in cost[0]
    assert not maximised(at), "nothing runs before the button"
    at.button(key="fv_run").click().run()
    assert not at.exception, at.exception
    assert any("maximises channel 0 of layer2.1.relu1 (32 steps" in c for c in maximised(at))
    assert "⬇ Feature visualisation (PNG)" in downloads(at)
    assert len(list((isolated / "feature-vis").glob("*.npz"))) == 1
    at.select_slider(key="fv_steps").set_value(64).run()
    assert not maximised(at) and at.button(key="fv_run"), "64 steps is another result, not yet run"
    at.select_slider(key="fv_steps").set_value(32).run()
    assert maximised(at), "32 steps again: read back from the disk cache without a click"
    at.radio(key="fv_kind").set_value("A class logit").run()
    assert not at.exception and not maximised(at)


def maximised(at: AppTest) -> list[str]:
    return [c for c in image_captions(at) if "maximises" in c]
