"""AppTest of the Architectures page through app.py's navigation."""

import json

import pytest
from streamlit.testing.v1 import AppTest

from classifier import get_card
from tests_paths import ROOT


def open_app() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def choose(at: AppTest, name: str) -> AppTest:
    at.selectbox(key="arch_family").set_value(get_card(name).family.name).run()
    at.selectbox(key="arch_model").set_value(name).run()
    assert not at.exception, at.exception
    return at


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


@pytest.mark.parametrize("name, params, rf", [
    # torchvision's VGG-16: 138,357,544 parameters; pool5 receptive field 212 / stride 32
    # (Araujo et al., "Computing Receptive Fields of CNNs", Distill 2019).
    ("vgg16", "138M", ("212 px", "stride 32")),
    # torchvision's ResNet-50: 25,557,032 parameters.
    ("resnet50", "25.6M", None),
])
def test_card_figures_table_and_graph(name, params, rf):
    at = choose(open_app(), name)
    assert get_card(name).variant in at.subheader[0].value
    assert metric(at, "Parameters") == params
    if rf:
        m = next(m for m in at.metric if m.label == "Receptive field")
        assert (m.value, m.delta) == rf
    table = at.dataframe[0].value
    assert {"name", "type", "output", "params", "MACs"} <= set(table.columns)
    assert table["params"].sum() > 0
    assert at.get("graphviz_chart"), "the layer graph is missing"


def test_graph_depth_slider_changes_the_graph():
    at = choose(open_app(), "resnet18")
    slider = at.slider(key="graph_depth_resnet18")
    first = at.get("graphviz_chart")[0].proto.spec
    slider.set_value(slider.max).run()
    assert at.get("graphviz_chart")[0].proto.spec != first


def test_input_side_too_small_is_a_message_not_a_crash():
    at = choose(open_app(), "vgg16")
    at.number_input(key="arch_side_vgg16").set_value(16).run()
    assert not at.exception
    assert "cannot run at 16×16" in at.error[0].value


def test_inception_lineage_steps_through_versions():
    at = choose(open_app(), "inception_v3")
    slider = at.select_slider(key="lineage_step")
    assert slider.value.startswith("Inception-v3")
    before = len(at.get("graphviz_chart"))
    slider.set_value(slider.options[0]).run()
    assert not at.exception
    assert any("Parallel 1×1" in m.value for m in at.markdown)
    assert len(at.get("graphviz_chart")) == before


def test_efficientnet_phi_control_matches_compound_scaling():
    from classifier.models.efficientnet import compound_scaling

    at = choose(open_app(), "efficientnet_b0")
    at.slider(key="effnet_phi").set_value(2.0).run()
    assert not at.exception
    values = {m.label: m.value for m in at.metric}
    assert values["Resolution"] == f"{compound_scaling(2.0).resolution} px"
    assert values["Width ×"] == f"{1.1 ** 2:.2f}" and values["Depth ×"] == f"{1.2 ** 2:.2f}"


def test_nas_cells_are_drawn_from_the_genotype():
    at = choose(open_app(), "nasnet_a_mobile")
    specs = [c.proto.spec for c in at.get("graphviz_chart")]
    assert any("normal cell" in s for s in specs) and any("reduction cell" in s for s in specs)


def test_zoo_overview_charts_every_model():
    from classifier import list_models

    at = open_app()
    at.toggle(key="zoo_on").set_value(True).run(timeout=300)
    assert not at.exception, at.exception
    chart = at.get("plotly_chart")[-1].proto.spec
    # Every registered model is a point of the bubble chart (hover names are model names).
    assert all(f'"{name}"' in chart for name in list_models())
    traces = json.loads(chart)["data"]
    colours = [t["marker"]["color"] for t in traces]
    assert len(traces) <= 8 and len(set(colours)) == len(colours), "a colour per line of work, none repeated"
    assert all(t["marker"]["sizemin"] >= 5 for t in traces), "LeNet's bubble must stay visible"


def test_every_family_belongs_to_one_line_of_work():
    """The zoo chart colours by line of work: a new family must be placed in one."""
    from classifier import list_families
    from classifier.analysis.zoo import LINE_OF, LINES

    families = {f.name for f in list_families()}
    assert families <= set(LINE_OF), f"no line of work for {sorted(families - set(LINE_OF))}"
    assert sum(map(len, LINES.values())) == len(LINE_OF), "a family listed under two lines"


def test_layer_table_columns_have_one_type_each():
    """Inception v3's factorised 1×7 kernels give (H, W) fields: the table shows them as
    text like every other row, so pyarrow never meets a column mixing lists and numbers."""
    at = choose(open_app(), "inception_v3")
    table = at.dataframe[0].value
    for column in ("rf (px)", "stride"):
        assert {type(v) for v in table[column]} == {str}, column
    assert "None" not in set(table["rf (px)"]) and any("×" in v for v in table["rf (px)"])


def test_layer_table_lists_modules_and_hides_functional_nodes_behind_a_toggle():
    """LeNet-5's fx graph has 43 nodes worth a row; the scaled-tanh and trainable-pool
    modules add mul/view/add calls that repeat what their modules say. The table opens
    on the modules and parameters, with counts formatted with thousands separators."""
    import json

    at = choose(open_app(), "lenet5")
    table = at.dataframe[0].value
    assert "c1" in set(table["name"]) and "act1.mul" not in set(table["name"])
    assert not any(name.endswith((".view", ".mul", ".add")) for name in table["name"])
    assert "None" not in table.astype(str).to_numpy().ravel().tolist()
    config = json.loads(at.dataframe[0].proto.columns)
    assert config["params"]["type_config"]["format"] == "localized"
    assert config["MACs"]["type_config"]["format"] == "localized"
    at.toggle(key="arch_functional").set_value(True).run()
    full = at.dataframe[0].value
    assert {"act1.mul", "s2.view"} <= set(full["name"]) and len(full) > len(table)


@pytest.mark.parametrize("family", ["MobileNet v1", "MobileNet v2", "NIN", "SqueezeNet"])
def test_a_family_opens_on_its_full_size_variant(family):
    at = open_app()
    at.selectbox(key="arch_family").set_value(family).run()
    name = at.selectbox(key="arch_model").value
    assert not get_card(name).small_input, f"{family} opened on {name}"
    assert at.subheader[0].value.startswith(f"{family}: ")


def test_vit_field_is_global_after_its_first_attention_product():
    """One truth with Inspect: ViT's patches see 16 px, but from the first attention
    product on every token sees every other, so the card says "global"."""
    at = choose(open_app(), "vit_b_16")
    m = next(m for m in at.metric if m.label == "Receptive field")
    assert (m.value, m.delta) == ("global", "patches 16 px, stride 16")
    assert "encoder_layer_0.self_attention" in m.help
