"""AppTest of the Concepts page: every section renders its experiment without errors."""

import pytest
from streamlit.testing.v1 import AppTest

from tests_paths import ROOT


def open_section(section: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app_pages" / "concepts.py"), default_timeout=120)
    at.run()
    at.radio(key="concept").set_value(section).run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("section", [
    "Activation functions", "Convolution arithmetic", "Normalisation", "Dropout and DropPath",
    "Efficient convolutions", "Label smoothing",
])
def test_section_renders_with_charts(section):
    at = open_section(section)
    assert at.header[0].value == section
    assert at.get("plotly_chart") or at.metric


def test_convolution_figures_follow_the_inputs():
    at = open_section("Convolution arithmetic")
    at.number_input(key="ca_size").set_value(32).run()
    at.number_input(key="ca_k").set_value(5).run()
    at.number_input(key="ca_s").set_value(1).run()
    at.number_input(key="ca_p").set_value(2).run()
    values = {m.label: m.value for m in at.metric}
    assert values["Output side"] == "32" and values["Receptive field"] == "5 px"
    # 4 input channels × 8 filters × 5×5 + 8 biases
    assert values["Parameters"] == f"{4 * 8 * 25 + 8:,}"
    at.number_input(key="ca_g").set_value(3).run()
    assert "must divide" in at.error[0].value


def test_evolution_search_runs_three_candidates():
    at = open_section("Architecture search")
    at.number_input(key="evo_pop").set_value(2).run()
    at.number_input(key="evo_sample").set_value(1).run()
    at.number_input(key="evo_total").set_value(3).run()
    at.number_input(key="evo_steps").set_value(5).run()
    at.button(key="evo_go").click().run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["candidate"]) == [0, 1, 2]
    assert list(table["parent"].astype(str)).count("–") == 2  # the third is a child of a tournament winner
    assert "None" not in table.astype(str).to_numpy().ravel().tolist()
    assert len(at.get("graphviz_chart")) == 2


def test_resnet_deletion_experiment_trains_and_charts_both_nets():
    at = open_section("ResNet as an ensemble")
    at.slider(key="ens_epochs").set_value(1).run()
    at.button(key="ens_go").click().run()
    assert not at.exception, at.exception
    assert at.get("plotly_chart"), "no deletion chart"
    caption = " ".join(c.value for c in at.caption)
    assert "resnet20_cifar: average drop" in caption and "plain20_cifar: average drop" in caption
