"""Properties the receptive-field analysis must satisfy on every family, checked against
the tensors themselves rather than against a few published figures:

(a) on the meta device, every placed map's effective stride is the input side over the
    map side (wherever that divides exactly), and no registered net has an op that the
    analysis leaves "not modelled";
(b) the fields agree with a gradient measurement: in a copy of the net made linear and
    positive (average pools for max pools, norms, activations and dropout as identity,
    every parameter positive), the input rows and columns that reach one centre unit
    span exactly the theoretical field;
(c) the effective receptive field the Inspect page draws (classifier.explain.erf) never
    has gradient outside the theoretical box.

Sampling: the zoo has ~140 nets, many of them deep repeats of one block. (a) and (b) run
one variant per family, the family's cheapest CIFAR-sized variant (:data:`SAMPLE`, the
variants the zoo tests train), plus the NAS ImageNet nets at their card size for (a),
whose stride the analysis once got wrong. (c) runs on :data:`ERF_SAMPLE`, nets with the
ops that move pixels in different ways (pooled stems, channel shuffles, SE gates, the NAS
cells' slicing and padding).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import fx, nn

from classifier import create_model, get_card
from classifier.analysis import analyze
from classifier.analysis.receptive_field import Axis, Field
from classifier.analysis.trace import NodeRecord
from classifier.explain.erf import centre_unit, effective_field
from classifier.explain.layer_info import default_layer, explainable_layers
from classifier.registry import list_families


# One variant per family, its cheapest CIFAR-sized one (the variants the zoo tests train):
# ResNeXt-29, IGCV1 and Wide ResNet are 1-5 G multiply-adds even at 32 px, so WRN-40-4
# stands for its family and the other two run (b) at 16 px, where their stride-4 maps are
# still 4×4. Every other entry runs at its card's size.
SAMPLE = {
    "LeNet": "lenet5", "AlexNet": "alexnet_cifar", "NIN": "nin_cifar", "ZFNet": "zfnet_cifar",
    "GoogLeNet": "googlenet_cifar", "VGG": "vgg16_cifar", "BN-Inception": "inception_v2_cifar",
    "Highway Network": "highway19_cifar", "Inception-v3": "inception_v3_cifar", "ResNet": "resnet20_cifar",
    "DenseNet": "densenet40_cifar", "Inception-v4": "inception_resnet_v1_cifar",
    "Pre-activation ResNet": "preact_resnet164_cifar", "ResNeXt": "resnext29_8x64d_cifar",
    "SqueezeNet": "squeezenet1_1_cifar", "Stochastic Depth": "sd_resnet110_cifar", "Wide ResNet": "wrn40_4_cifar",
    "Xception": "xception_cifar", "CondenseNet": "condensenet_86_cifar", "DPN": "dpn68_cifar",
    "IGCV1": "igcv1_l32m26_cifar", "MSDNet": "msdnet_cifar", "MobileNet v1": "mobilenet_v1_cifar",
    "NASNet": "nasnet_a_cifar", "SENet": "se_resnet110_cifar", "ShuffleNet v1": "shufflenet_v1_g3_cifar",
    "AmoebaNet": "amoebanet_a_cifar", "CliqueNet": "cliquenet_t12_k36_cifar", "ENAS": "enas_micro_cifar",
    "IGCV2": "igcv2_c64_cifar", "IGCV3": "igcv3_d_cifar", "MnasNet": "mnasnet1_0_cifar",
    "MobileNet v2": "mobilenet_v2_cifar", "ShuffleNet v2": "shufflenet_v2_x1_0_cifar",
    "EfficientNet": "efficientnet_b0_cifar", "MobileNet v3": "mobilenet_v3_large_cifar", "ViT": "vit_lite_7_4_cifar",
}
MEASURE_SIZE = {"resnext29_8x64d_cifar": 16, "igcv1_l32m26_cifar": 16}
NAS_IMAGENET = ["nasnet_a_mobile", "amoebanet_a_mobile"]
ERF_SAMPLE = ["lenet5", "shufflenet_v2_x1_0_cifar", "se_resnet110_cifar", "enas_micro_cifar"]


@pytest.fixture(autouse=True)
def _one_thread():
    """Many small convolutions on two shared cores: one torch thread is several times faster."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _placed(field: Field | None) -> bool:
    return field is not None and field.dims is not None and not field.pooled


def _records(name: str) -> tuple[NodeRecord, ...]:
    return analyze(name).graph.records  # analyze() caches per name and size


# --- (a) strides on the meta device ---------------------------------------------------


def test_sample_covers_every_family():
    assert SAMPLE.keys() == {f.name for f in list_families()}
    assert all(get_card(name).family.name == family for family, name in SAMPLE.items())


@pytest.mark.parametrize("name", [*SAMPLE.values(), *NAS_IMAGENET])
def test_stride_is_input_side_over_map_side(name):
    image = get_card(name).input_size[1:]
    records = _records(name)
    # A map made only to be cropped is one unit larger than the tiling: TensorFlow's
    # "SAME" on an even side, as the NAS cells compute it, pads one extra row, convolves,
    # then drops the first output row (nas_cells._shift_crop). Its units are as far apart
    # as the cropped map's, so it is left out.
    users: dict[str, set[str]] = {}
    for r in records:
        for i in r.inputs:
            users.setdefault(i, set()).add(r.type)
    checked = 0
    for r in records:
        if r.field is None or r.field.dims is None or users.get(r.name) == {"getitem"}:
            continue
        sides = [r.shape[d - 1] for d in r.field.dims]  # the recorded shape drops the batch axis
        for side, full, stride in zip(sides, image, (r.field.h.stride, r.field.w.stride)):
            # One unit has no neighbour, so no stride to observe (LeNet's C5 sees its 5×5 input whole).
            if side > 1 and full % side == 0:
                assert stride == full // side, f"{r.name}: stride {stride} on a {side}-pixel map of a {full}-pixel input"
                checked += 1
    assert checked
    assert [r.note for r in records if r.note] == []


def test_nas_nets_end_at_the_last_maps_stride():
    """A 7×7 last map of a 224 px image is stride 32, an 8×8 one of a 32 px image stride 4,
    with a field wider than the image (the analysis once said 55 px, stride 4 for NASNet-A
    Mobile and 51 px, stride 1 for ENAS)."""
    for name in ["enas_micro_cifar", "nasnet_a_cifar", "amoebanet_a_cifar", *NAS_IMAGENET]:
        a = analyze(name)
        side = a.input_size[1]
        maps = [r for r in a.rows if r.output_shape and len(r.output_shape) == 3 and r.output_shape[1] > 1]
        assert a.final_stride == side // maps[-1].output_shape[1] == (32 if side == 224 else 4), name
        assert a.final_rf > side and a.final_note is None, name
    assert analyze("enas_micro_cifar").to_text().endswith("(effective stride 4)")


# --- ops the analysis models, and one it says it does not ---------------------------


class _Reduce(nn.Module):
    """The NAS cells' factorized reduction and TF-style shifted pooling, in small."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)
        self.pool = nn.MaxPool2d(3, 2, 1)

    def forward(self, x):
        x = self.conv(x)
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1::2, 1::2]
        x = torch.cat([x[:, :, ::2, ::2], shifted], 1)
        return self.pool(F.pad(x, (1, 0, 1, 0)))[:, :, 1:, 1:]


def test_slicing_and_padding_fields():
    a = analyze(_Reduce(), (2, 16, 16))
    fields = {r.name: r.field for r in a.graph.records}
    # A 3×3 conv: 3 px at stride 1. The even path keeps pixels 0, 2, …; the shifted one 1, 3, …
    assert (fields["getitem_1"].h, fields["getitem"].h) == (Axis(3, 2, 0), Axis(3, 2, 1))
    # Together the first unit sees pixels -1 … 2: 4 px centred on 0.5.
    assert fields["cat"].h == Axis(4, 2, 0.5)
    # One zero row before (−1 unit of stride 2), a 3×3/2 pool with padding 1 (centred, so
    # no shift), then the first output row dropped (+1 unit of stride 4): 4 + 2·2 = 8 px at
    # stride 4, centred on 0.5 − 2 + 0 + 4 = 2.5.
    assert a.final_rf == 8 and a.final_stride == 4 and fields["getitem_2"].h.start == 2.5
    # Measured at 16 px, where the last map's centre unit (row 1) sees rows 3 … 10 unclipped.
    assert check_fields_by_gradient(_Reduce(), (2, 16, 16), a.graph.records) == ["getitem_2"]


class _Upsampled(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.up = nn.Upsample(scale_factor=2)

    def forward(self, x):
        x = self.conv(x)
        return F.pixel_shuffle(x, 2) + self.up(x) + F.interpolate(x, scale_factor=2)


def test_ops_not_modelled_say_so():
    a = analyze(_Upsampled(), (4, 8, 8))
    notes = {r.name: r.note for r in a.rows if r.note}
    assert notes == {"pixel_shuffle": "not modelled: pixel_shuffle", "up": "not modelled: Upsample",
                     "interpolate": "not modelled: interpolate"}
    assert a.final_rf is None and a.final_note == "not modelled: pixel_shuffle"
    assert "not modelled: Upsample" in a.to_text()
    assert a.to_text().endswith("(effective stride n/a) — not modelled: pixel_shuffle")
    assert next(r for r in a.rows if r.name == "up").to_dict()["note"] == "not modelled: Upsample"


# --- (b) the field of the last map, measured -----------------------------------------

_IDENTITY = (
    nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm, nn.Dropout, nn.Dropout2d,
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
    nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid, nn.Tanh, nn.Softplus, nn.Hardtanh,
)
_MAX_POOLS = {F.max_pool2d, torch.max_pool2d}
_POOL_ARGS = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode")


def _avg_for_max(args, kwargs) -> tuple:
    a = {**dict(zip(_POOL_ARGS, args)), **kwargs}
    assert a.get("dilation", 1) in (1, (1, 1)), "an average pool has no dilation"
    return (a["input"], a["kernel_size"], a.get("stride") or a["kernel_size"], a.get("padding", 0), a.get("ceil_mode", False))


def _linearised(model: nn.Module, records: tuple[NodeRecord, ...], targets: list[str]) -> fx.GraphModule:
    """``model`` traced and rewritten so that its gradient shows connectivity alone:
    norms, activations and dropout pass their input on (a positive net never leaves a
    ReLU's linear part anyway, and ReLU6 or a hard sigmoid would otherwise saturate),
    max pools become average pools of the same geometry (a max would pass gradient to one
    pixel per window), padding with -inf (for a max pool) pads with zeros, and every
    tensor the analysis does not place in the image, such as a squeeze-and-excitation
    gate's pooled mean, is detached: by the analysis's convention a channel gate rescales
    a map without widening its field. The graph returns the ``targets`` nodes' values."""
    for m in model.modules():
        if isinstance(m, nn.ConstantPad2d) and not math.isfinite(m.value):
            m.value = 0.0
    gm = fx.symbolic_trace(model)
    placed = {r.name for r in records if _placed(r.field) or r.op == "placeholder"}
    known = {r.name for r in records}
    graph = gm.graph
    nodes = {n.name: n for n in graph.nodes}
    for n in list(graph.nodes):
        if n.op == "call_module":
            m = gm.get_submodule(n.target)
            if isinstance(m, _IDENTITY):
                nodes[n.name] = n.args[0]
                n.replace_all_uses_with(n.args[0])
                graph.erase_node(n)
                continue
            if isinstance(m, nn.MaxPool2d):
                assert m.dilation in (1, (1, 1)), "an average pool has no dilation"
                with graph.inserting_after(n):
                    avg = graph.call_function(F.avg_pool2d, (n.args[0], m.kernel_size, m.stride, m.padding, m.ceil_mode))
                n.replace_all_uses_with(avg)
                graph.erase_node(n)
                nodes[n.name] = avg
                continue
        if n.op == "call_function" and n.target in _MAX_POOLS:
            with graph.inserting_after(n):
                avg = graph.call_function(F.avg_pool2d, _avg_for_max(n.args, n.kwargs))
            n.replace_all_uses_with(avg)
            graph.erase_node(n)
            nodes[n.name] = avg
            continue
        if n.op == "call_function" and n.target is F.pad and not math.isfinite(n.kwargs.get("value", 0) or 0):
            n.kwargs = {**n.kwargs, "value": 0.0}
        if n.name in known and n.name not in placed and n.op != "output":
            with graph.inserting_after(n):
                cut = graph.call_method("detach", (n,))
            n.replace_all_uses_with(cut, delete_user_cb=lambda user: user is not cut)
    output = next(n for n in graph.nodes if n.op == "output")
    output.args = (tuple(nodes[t] for t in targets),)
    graph.lint()
    gm.recompile()
    return gm


def _positive(model: nn.Module) -> nn.Module:
    """Every parameter drawn from [0.5, 1.5) / fan-in: positive, and of a size that keeps
    activations near 1 layer after layer."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            fan_in = p[0].numel() if p.dim() > 1 else 1
            p.copy_((torch.rand(p.shape, generator=g) + 0.5) / fan_in)
    return model


def _span(grad: torch.Tensor) -> tuple[tuple[int, int], tuple[int, int]]:
    """First and last input row, and column, with a nonzero gradient."""
    g = grad[0].abs().sum(0)
    rows, cols = g.sum(1).nonzero().flatten(), g.sum(0).nonzero().flatten()
    return (int(rows[0]), int(rows[-1])), (int(cols[0]), int(cols[-1]))


def _centre(r: NodeRecord) -> tuple[int, int]:
    return tuple((r.shape[d - 1] - 1) // 2 for d in r.field.dims)


def _box(r: NodeRecord) -> tuple[tuple[float, float], tuple[float, float]]:
    """The centre unit's theoretical field: first and last pixel row, and column."""
    return tuple(
        (ax.start + u * ax.stride - (ax.size - 1) / 2, ax.start + u * ax.stride + (ax.size - 1) / 2)
        for ax, u in zip((r.field.h, r.field.w), _centre(r))
    )


def _targets(records: tuple[NodeRecord, ...], image: tuple[int, int]) -> list[NodeRecord]:
    """The last placed map, and the deepest one whose centre unit's field lies inside the
    image, where the measurement checks the whole field and not its clipped part."""
    maps = [r for r in records if _placed(r.field)]
    inside = [r for r in maps if all(lo >= 0 and hi <= n - 1 for (lo, hi), n in zip(_box(r), image))]
    return [maps[-1], *(r for r in inside[-1:] if r is not maps[-1])]


def _measure(model: nn.Module, input_size: tuple[int, int, int], records, targets) -> list[tuple]:
    """Per target: the span of nonzero gradient of its centre unit, and of its whole map
    (the part of the image the map sees at all: a valid convolution that does not tile
    the input exactly never reads its last rows, so no unit's field reaches them)."""
    gm = _linearised(_positive(model), records, [t.name for t in targets])
    x = torch.ones(1, *input_size, requires_grad=True)
    measured = []
    for t, out in zip(targets, gm(x)):
        index = [0] + [slice(None)] * (out.dim() - 1)
        for d, u in zip(t.field.dims, _centre(t)):
            index[d] = u
        (unit,) = torch.autograd.grad(out[tuple(index)].sum(), x, retain_graph=True)
        (whole,) = torch.autograd.grad(out.sum(), x, retain_graph=True)
        measured.append((_span(unit), _span(whole)))
    return measured


def check_fields_by_gradient(model: nn.Module, input_size: tuple[int, int, int], records) -> list[str]:
    """The centre unit of the last map, and of the deepest map whose field fits inside the
    image, reaches exactly the rows and columns its theoretical field spans, clipped to
    the part of the image its map sees at all. Returns the names of the maps checked."""
    targets = _targets(records, input_size[1:])
    for t, (unit, whole) in zip(targets, _measure(model, input_size, records, targets)):
        expected = tuple((max(lo, a), min(hi, b)) for (lo, hi), (a, b) in zip(_box(t), whole))
        assert all(float(v).is_integer() for axis in expected for v in axis), f"{t.name}: field {expected} off the pixel grid"
        assert unit == expected, f"{t.name} (RF {t.field.rf}, stride {t.field.stride}): measured {unit}, theory {expected}"
    return [t.name for t in targets]


@pytest.mark.parametrize("name", SAMPLE.values())
def test_field_agrees_with_the_gradient(name):
    torch.manual_seed(0)
    c, side, _ = get_card(name).input_size
    size = (c, MEASURE_SIZE.get(name, side), MEASURE_SIZE.get(name, side))
    check_fields_by_gradient(create_model(name), size, analyze(name, size).graph.records)


# --- (c) the Inspect page's effective field stays inside the theoretical one ---------


def _fits(layer, image: tuple[int, int]) -> bool:
    """Whether the centre unit's field lies inside the image, unclipped."""
    return all(
        layer.start[a] + u * layer.stride[a] - (layer.rf[a] - 1) / 2 >= 0
        and layer.start[a] + u * layer.stride[a] + (layer.rf[a] - 1) / 2 <= image[a] - 1
        for a, u in enumerate(centre_unit(layer))
    )


@pytest.mark.parametrize("name", ERF_SAMPLE)
def test_effective_field_stays_inside_the_theoretical_field(name):
    size = get_card(name).input_size
    torch.manual_seed(0)
    model = create_model(name)
    layers = explainable_layers(name, size, model)
    x = torch.rand(1, *size)
    # The middle layer, the last one, and the deepest whose field fits inside the image (the
    # only kind where a gradient could stray outside the box rather than off the image).
    inside = [layer for layer in layers if layer.rf and _fits(layer, size[1:])]
    for layer in {layers[default_layer(layers)], layers[-1], *inside[-1:]}:
        field = effective_field(model, x, layer)
        top, left, bottom, right = field.box
        outside = field.gradient.copy()
        outside[top:bottom, left:right] = 0
        assert field.gradient.sum() > 0 and not outside.any(), f"{layer.name}: gradient outside {field.box}"
