"""classifier.analysis: totals against torchvision, receptive fields against their
published values, rows adding up, the layer graph folding by depth, and the JSON shape."""

import json
import re

import pytest
import torch
from torch import nn

from classifier import create_model
from classifier.analysis import analyze

# Receptive field and effective stride of the last feature map, from the table of Araujo,
# Norris and Sim, "Computing Receptive Fields of Convolutional Neural Networks", Distill
# 2019 (alexnet_v2, vgg_16, inception_v3 rows). Inception v3's 1×7/7×1 kernels make it a
# per-axis check.
PUBLISHED_RF = {"alexnet": (195, 32), "vgg16": (212, 32), "inception_v3": (1311, 32)}

# torchvision's parameter counts (the ``num_params`` of each model's IMAGENET1K_V1 weights);
# plain and batch-norm VGGs of each depth between them.
TORCHVISION_PARAMS = {
    "alexnet": 61_100_840,
    "vgg11": 132_863_336,
    "vgg13_bn": 133_053_736,
    "vgg16": 138_357_544,
    "vgg19_bn": 143_678_248,
}


@pytest.mark.parametrize("name", PUBLISHED_RF)
def test_receptive_field_matches_araujo_table(name):
    a = analyze(name)
    assert (a.final_rf, a.final_stride) == PUBLISHED_RF[name]


def test_vgg16_pool5_field_and_start():
    pool5 = [r for r in analyze("vgg16").rows if r.type == "MaxPool2d"][-1]
    assert (pool5.rf, pool5.stride) == (212, 32)  # Araujo et al. 2019, vgg_16 row
    # Same table: effective padding 90, so the first unit's field spans pixels -90 … 121
    # and is centred on 15.5.
    assert pool5.start == 15.5


def test_resnet50_totals_match_torchvision():
    a = analyze("resnet50")
    assert a.params == 25_557_032  # torchvision ResNet50_Weights.IMAGENET1K_V1 num_params
    # torchvision publishes 4.089 "GFLOPS" for ResNet-50 (its weights' ``_ops``), which
    # counts multiply-adds.
    assert abs(a.macs - 4.089e9) <= 0.02 * 4.089e9


@pytest.mark.parametrize("name", TORCHVISION_PARAMS)
def test_total_params_equal_torchvision(name):
    a = analyze(name)
    assert a.params == TORCHVISION_PARAMS[name]
    assert sum(r.params for r in a.rows) == a.params
    assert sum(r.macs for r in a.rows) == a.macs


def test_depth_counts_weighted_layers_on_the_longest_path():
    # The names count conv + fully connected layers: 13 + 3 for VGG-16 (Simonyan and
    # Zisserman 2014, table 1, column D), 1 + 3·16 + 1 for ResNet-50 (He et al. 2015, table 1);
    # ResNet's 1×1 shortcut projections sit on shorter paths.
    assert analyze("vgg16").depth == 16
    assert analyze("resnet50").depth == 50


def test_modules_that_do_not_run_still_count():
    """Inception v3's auxiliary classifier is idle in eval mode; its parameters get a row
    without an output so the rows still add up to torchvision's 27,161,264
    (Inception_V3_Weights.IMAGENET1K_V1 num_params)."""
    a = analyze("inception_v3")
    assert a.params == 27_161_264
    assert sum(r.params for r in a.rows) == a.params
    idle = [r for r in a.rows if r.output_shape is None]
    assert [r.name for r in idle] == ["AuxLogits"]
    assert "AuxLogits" not in {n.module for n in a.graph.collapse(1)[0]}


class _Shared(nn.Module):
    """The same conv twice (its weights once), a 1×7 kernel and two channel gates: one
    from a pooled map, one from a flattened mean through a linear layer."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.wide = nn.Conv2d(4, 4, (1, 7), padding=(0, 3))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.gate = nn.Sigmoid()
        self.fc = nn.Linear(4, 4)
        self.gate2 = nn.Sigmoid()
        self.head = nn.Linear(4 * 16 * 16, 2)

    def forward(self, x):
        y = self.wide(self.conv(self.conv(x)))
        y = y * self.gate(self.pool(y))
        y = y * self.gate2(self.fc(y.mean((2, 3)))).view(-1, 4, 1, 1)
        return self.head(torch.flatten(y, 1))


def test_module_analysis_fields_and_shared_weights():
    model = _Shared()
    a = analyze(model, input_size=(4, 16, 16))
    assert a.params == sum(p.numel() for p in model.parameters())
    conv_rows = [r for r in a.rows if r.name == "conv"]
    assert [r.params for r in conv_rows] == [4 * 4 * 9 + 4, 0]
    # Two 3×3 convs: 5×5; then 1×7 widens W only: 5 + 6 = 11.
    assert next(r for r in a.rows if r.name == "wide").rf == (5, 11)
    # The gates rescale channels without widening the field; flattened vectors are global.
    assert a.final_rf == (5, 11)
    assert [r.rf for r in a.rows if r.type == "mul"] == [(5, 11), (5, 11)]
    assert next(r for r in a.rows if r.name == "fc").rf is None
    assert a.depth == 5  # conv, conv, wide, fc, head
    assert next(model.parameters()).device.type == "cpu"  # the caller's module is untouched


class _Shuffle(nn.Module):
    """ShuffleNet's channel shuffle between two 3×3 convs: views that keep H and W."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(4, 4, 3, padding=1)
        self.b = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        x = self.a(x)
        n, c, h, w = x.shape
        x = x.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, c, h, w)
        return self.b(x)


def test_field_and_graph_survive_a_channel_shuffle():
    a = analyze(_Shuffle(), input_size=(4, 8, 8))
    assert a.final_rf == 5  # two 3×3 convs
    nodes, edges = a.graph.collapse(a.graph.max_depth)
    # Every box but the input is fed, through the views and the skipped .contiguous().
    assert {b for _, b in edges} == {n.key for n in nodes if n.kind != "io"} | {"output"}


def test_cache_per_name_and_size():
    assert analyze("alexnet") is analyze("alexnet", (3, 224, 224))
    small = analyze("alexnet", (3, 64, 64))
    assert small is not analyze("alexnet")
    assert small.rows[0].output_shape == (64, 15, 15)
    assert analyze("alexnet").rows[0].output_shape == (64, 55, 55)


def test_errors_are_clear():
    with pytest.raises(ValueError, match="input_size"):
        analyze(_Shuffle())
    with pytest.raises(ValueError, match="does not run"):
        analyze("alexnet", (3, 16, 16))


def _dot_ids(dot):
    declared = set(re.findall(r'^\s+"([^"]+)" \[', dot, re.M))
    edges = re.findall(r'^\s+"([^"]+)" -> "([^"]+)";', dot, re.M)
    return declared, edges


def test_graph_folds_by_module_depth():
    g = analyze("resnet50").graph
    with torch.device("meta"):
        model = create_model("resnet50")
    nodes, edges = g.collapse(1)
    assert {n.module for n in nodes if n.module} == {name for name, _ in model.named_children()}
    assert [n.key for n in nodes if n.kind == "group"] == ["layer1", "layer2", "layer3", "layer4"]
    assert ("layer3", "layer4") in edges
    blocks = [n for n in g.collapse(2)[0] if n.kind == "group"]
    assert len(blocks) == 3 + 4 + 6 + 3  # bottlenecks per stage (He et al. 2015, table 1)
    assert blocks[0].shape == (256, 56, 56)

    nodes, edges = g.collapse(g.max_depth)
    assert len(nodes) == len(g.records) and all(len(n.members) == 1 for n in nodes)
    for depth in range(1, g.max_depth + 1):
        declared, dot_edges = _dot_ids(g.to_dot(depth))
        assert len(declared) == len(g.collapse(depth)[0])
        assert {x for e in dot_edges for x in e} <= declared


def test_subgraph_draws_one_block():
    g = analyze("resnet50").graph
    assert "layer1.0" in g.submodules()
    dot = g.subgraph_dot("layer1.0")
    declared, edges = _dot_ids(dot)
    labels = set(re.findall(r'label="([^"\\]+)', dot))
    assert {"conv1", "conv2", "conv3", "downsample.0", "add"} <= labels
    assert {x for e in edges for x in e} <= declared
    assert "layer2.0.conv1" not in dot
    with pytest.raises(ValueError):
        g.subgraph_dot("layer9")


def test_json_shape():
    a = analyze("vgg16")
    data = json.loads(json.dumps(a.to_dict()))
    assert data.keys() == {"model", "input_size", "totals", "rows"}
    assert data["model"] == "vgg16" and data["input_size"] == [3, 224, 224]
    assert data["totals"] == {"params": a.params, "macs": a.macs, "depth": 16, "rf": 212, "stride": 32, "global_from": None}
    assert len(data["rows"]) == len(a.rows)
    assert all(r.keys() == {"name", "type", "output_shape", "params", "macs", "rf", "stride"} for r in data["rows"])
    assert data["rows"][0] == {"name": "features.0", "type": "Conv2d", "output_shape": [64, 224, 224],
                               "params": 1_792, "macs": 86_704_128, "rf": 3, "stride": 1}
    text = a.to_text()
    assert "138,357,544" in text and text.count("\n") > len(a.rows)


def test_attention_makes_the_field_global_and_cnns_have_no_mixer():
    from classifier.analysis import analyze

    vit = analyze("vit_b_16")
    assert (vit.final_rf, vit.final_stride) == (16, 16)  # the 16×16 patch embedding
    assert vit.global_from == "encoder.layers.encoder_layer_0.self_attention.matmul"
    assert "global from encoder.layers.encoder_layer_0" in vit.to_text()
    assert analyze("resnet18").global_from is None
