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


def test_resnet_deletion_experiment_with_its_defaults_shows_the_papers_effect():
    """The claim the page makes, at the page's own defaults (depth 20, 3 epochs): the
    residual net keeps more of its accuracy above chance under single deletions than
    the plain net, and the page's verdict says so."""
    at = open_section("ResNet as an ensemble")
    at.button(key="ens_go").click().run(timeout=900)  # about 70 s on one idle core; seeded, so the same every run
    assert not at.exception, at.exception
    assert at.get("plotly_chart"), "no deletion chart"
    result = at.session_state["ensemble"][1]
    lines = " ".join(m.value for m in at.markdown)
    for name in ("resnet20_cifar", "plain20_cifar"):
        assert f"**{name}**: {result.nets[name][0]['top1']:.1%} intact; a deletion keeps {result.kept(name):.0%}" in lines
    assert result.learned("resnet20_cifar") and result.learned("plain20_cifar")
    assert result.kept("resnet20_cifar") > result.kept("plain20_cifar")
    assert at.success[0].value.startswith("As in the paper") and not at.warning


def chart_specs(at: AppTest) -> list[dict]:
    import json

    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


@pytest.mark.parametrize("section", ["Activation functions", "Normalisation", "Efficient convolutions"])
def test_legends_and_axes_read_as_words_not_column_names(section):
    for spec in chart_specs(open_section(section)):
        names = [t.get("name") or "" for t in spec["data"]]
        layout = spec["layout"]
        titles = [(layout.get(axis) or {}).get("title", {}).get("text") or "" for axis in ("xaxis", "yaxis")]
        legend = (layout.get("legend") or {}).get("title", {}).get("text") or ""
        for text in [*names, *titles, legend]:
            assert "_" not in text and text != "variable", text


def test_each_activation_keeps_one_colour_in_every_chart():
    colours: dict[str, set] = {}
    for spec in chart_specs(open_section("Activation functions")):
        for trace in spec["data"]:
            colours.setdefault(trace["name"], set()).add(trace["line"]["color"])
    assert {"sigmoid", "ReLU", "tanh"} <= set(colours)
    assert all(len(c) == 1 for c in colours.values()), colours
    assert len({next(iter(c)) for c in colours.values()}) == len(colours)


def test_overlapping_conv_windows_never_share_a_marker():
    """Kernel 3 at stride 1: neighbouring windows overlap on most taps, yet each unit's
    dots sit at their own offset and each window has its own colour."""
    at = open_section("Convolution arithmetic")
    at.number_input(key="ca_s").set_value(1).run()
    spec = chart_specs(at)[0]
    windows = [t for t in spec["data"] if t.get("name", "").startswith("output unit")]
    points = [(x, y) for t in windows for x, y in zip(t["x"], t["y"])]
    assert len(windows) == 9 and len(set(points)) == len(points)
    assert len({t["marker"]["color"] for t in windows}) == 9
