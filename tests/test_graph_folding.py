"""The layer graph folds runs of repeated blocks ("Bottleneck ×6") and labels its edges
with tensor shapes; the Architectures page draws the folded graph, opens a fold on
request, and ticks the stride axis at powers of two. Costs are labelled as
multiply–accumulates, attention's matrix products included.

The block counts are the papers' tables: a fold that merged two stages, or split one,
gives a different list."""

import json
import re

import pytest

from classifier.analysis import analyze


def folded(name: str, depth: int, unfold=()) -> list[tuple[str, int, tuple]]:
    view = analyze(name).graph.view(depth, fold=True, unfold=unfold)
    return [(n.type, n.count, n.shape) for n in view.nodes if n.count > 1]


def test_resnet50_stages_fold_to_bottleneck_runs():
    # He et al. 2015, Table 1, 50-layer column: 3, 4, 6 and 3 bottlenecks per stage.
    # A stage's first block (strided, with a projection shortcut) folds with the rest.
    assert folded("resnet50", 2) == [
        ("Bottleneck", 3, (256, 56, 56)), ("Bottleneck", 4, (512, 28, 28)),
        ("Bottleneck", 6, (1024, 14, 14)), ("Bottleneck", 3, (2048, 7, 7)),
    ]
    view = analyze("resnet50").graph.view(2, fold=True)
    stage3 = next(n for n in view.nodes if n.count == 6)
    assert stage3.title == "Bottleneck ×6" and stage3.key == "layer3.0…layer3.5"
    # edges carry the tensors: stage 2's output in, stage 3's out
    into = [(a, s) for (a, b), s in view.shapes.items() if b == stage3.key]
    out = [(b, s) for (a, b), s in view.shapes.items() if a == stage3.key]
    assert into == [("layer2.0…layer2.3", "512×28×28")] and out == [("layer4.0…layer4.2", "1024×14×14")]
    assert view.folds[stage3.key] == tuple(f"layer3.{i}" for i in range(6))


def test_an_unfolded_run_draws_its_blocks_and_keeps_the_others_folded():
    g = analyze("resnet50").graph
    view = g.view(2, fold=True, unfold=frozenset({"layer3.0…layer3.5"}))
    keys = [n.key for n in view.nodes]
    assert [k for k in keys if k.startswith("layer3")] == [f"layer3.{i}" for i in range(6)]
    assert [n.count for n in view.nodes if n.count > 1] == [3, 4, 3]
    assert ("layer3.5", "layer4.0…layer4.2") in view.edges
    # every traced node sits in exactly one box, folded or not
    members = [m for n in view.nodes for m in n.members]
    assert sorted(members) == sorted(r.name for r in g.records)
    # nothing folds unless asked: the plain view is the depth-2 graph of 16 blocks
    assert not any(n.count > 1 for n in g.view(2).nodes)


def test_densenet121_dense_layers_fold_per_block():
    # Huang et al. 2017, Table 1, DenseNet-121: 6, 12, 24 and 16 layers per dense block,
    # each adding k = 32 channels.
    assert folded("densenet121", 3) == [("DenseLayer", n, (32, s, s)) for n, s in ((6, 56), (12, 28), (24, 14), (16, 7))]


def test_vit_b16_encoder_folds_to_twelve_blocks():
    # Dosovitskiy et al. 2020, Table 1: ViT-Base has 12 layers of width 768 (196 patches + class token).
    assert folded("vit_b_16", 3) == [("EncoderBlock", 12, (197, 768))]


def test_blocks_of_another_width_do_not_fold_together():
    # Sandler et al. 2018, Table 2: MobileNetV2's bottleneck rows repeat n = 1, 2, 3, 4, 3, 3, 1
    # times, each row with its own width; only rows of two or more blocks fold.
    assert [n for _, n, _ in folded("mobilenet_v2", 2)] == [2, 3, 4, 3, 3]


def _dot_ids(dot: str):
    declared = set(re.findall(r'^\s+"([^"]+)" \[', dot, re.M))
    edges = re.findall(r'^\s+"([^"]+)" -> "([^"]+)" \[label=" ([^"]+)"\];', dot, re.M)
    return declared, edges


def test_folded_dot_declares_every_edge_end_and_labels_shapes():
    g = analyze("resnet50").graph
    dot = g.to_dot(2, fold=True)
    declared, edges = _dot_ids(dot)
    view = g.view(2, fold=True)
    assert len(declared) == len(view.nodes) and len(edges) == len(view.edges)
    assert {x for a, b, _ in edges for x in (a, b)} <= declared
    assert ("layer3.0…layer3.5", "layer4.0…layer4.2", "1024×14×14") in edges
    assert "Bottleneck ×6" in dot and "peripheries=2" in dot


def test_vit_macs_count_the_attention_products():
    a = analyze("vit_b_16")
    # torchvision's ViT_B_16_Weights.IMAGENET1K_V1 publishes 17.564 "GFLOPS", counted as
    # multiply-adds (as for ResNet-50's 4.089); DeiT (Touvron et al. 2021, Table 1) gives
    # 17.6 G for the same net.
    assert abs(a.macs - 17.564e9) <= 0.001 * 17.564e9
    # q·kᵀ and attention·v: 12 heads × 197 × 197 × 64 multiply–accumulates each, per layer;
    # without them the total would be 0.72 G lower.
    products = [r for r in a.rows if r.type == "matmul"]
    assert len(products) == 2 * 12 and {r.macs for r in products} == {12 * 197 * 197 * 64}
    assert "1 MAC = 2 FLOPs" in a.to_text()


def test_cli_summary_names_the_unit(capsys):
    from classifier.cli import main

    assert main(["summary", "resnet18"]) == 0
    totals = [line for line in capsys.readouterr().out.splitlines() if line.startswith("MACs")]
    assert len(totals) == 1 and "multiply–accumulates" in totals[0] and "1 MAC = 2 FLOPs" in totals[0]


@pytest.fixture(scope="module")
def resnet50_page():
    from test_page_architectures import choose, open_app

    return choose(open_app(), "resnet50")


def test_page_draws_the_folded_graph_and_unfolds_on_request(resnet50_page):
    at = resnet50_page
    spec = at.get("graphviz_chart")[0].proto.spec
    assert "Bottleneck ×6" in spec and '"layer3.2"' not in spec
    pick = at.multiselect(key="graph_unfold_resnet50_2")
    assert any(o.startswith("Bottleneck ×6") for o in pick.options)
    pick.set_value(["layer3.0…layer3.5"]).run()
    assert not at.exception, at.exception
    spec = at.get("graphviz_chart")[0].proto.spec
    assert "Bottleneck ×6" not in spec and '"layer3.2"' in spec and "Bottleneck ×4" in spec


def test_page_labels_macs_and_ticks_strides_at_powers_of_two(resnet50_page):
    at = resnet50_page
    macs = next(m for m in at.metric if m.label == "MACs")
    assert "1 MAC = 2 FLOPs" in macs.help and "attention" in macs.help
    # the layer table's header names the unit (a column label in the table's JSON config)
    assert json.dumps("MACs (multiply–accumulates)").encode() in at.dataframe[0].proto.SerializeToString()
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert chart["layout"]["yaxis2"]["tickvals"] == [1, 2, 4, 8, 16, 32]
