"""The explorer's shortcuts change no result: replayed calls, the fast fx tracer, the
one-mode meta build and the paused collector.

Replay is checked against a plain pass (every call run under the FLOP counter) on three
small registered nets, each exercising a different kind of replay: ResNet-20 (repeated
convolutions and residual additions), ViT-Lite-7/4 (tensor methods and matrix products in
seven identical encoder layers) and CondenseNet-86 (index buffers read straight from the
module, which the tracer looks up, and repeated concatenations). The large nets the
speed-up is for (PreAct-1001, NASNet-A large) take seconds each and are left to the
whole-zoo comparison described in /tmp/notes/explorer-speed.md.
"""

from __future__ import annotations

import gc

import pytest
import torch
from torch import fx, nn

from classifier.analysis import summary, trace
from classifier.analysis.summary import summarize
from classifier.meta_init import SkipInitOnMeta
from classifier.registry import create_meta_model, get_card

SAMPLED = ("resnet20_cifar", "vit_lite_7_4_cifar", "condensenet_86_cifar")


def _everything(a) -> tuple:
    """All an analysis shows: rows with every field, RF profile, totals and the graph."""
    return (
        a.to_dict(),
        [(r.name, r.start, r.note, r.functional) for r in a.rows],
        a.rf_profile,
        (a.final_rf, a.final_stride, a.final_note, a.global_from),
        [a.graph.to_dot(d) for d in range(1, a.graph.max_depth + 1)],
        a.graph.to_dot(2, fold=True),
    )


def _counting_runs(monkeypatch) -> dict[str, int]:
    """Count the calls that really run (the interpreter's own call_* methods)."""
    runs = {"n": 0}
    for op in ("call_module", "call_function", "call_method"):
        original = getattr(fx.Interpreter, op)

        def counted(self, target, args, kwargs, _original=original):
            runs["n"] += 1
            return _original(self, target, args, kwargs)

        monkeypatch.setattr(fx.Interpreter, op, counted)
    return runs


def _analyse(name: str):
    return summarize(create_meta_model(name), get_card(name).input_size, name)


@pytest.mark.parametrize("name", SAMPLED)
def test_replay_gives_what_a_plain_pass_gives(name, monkeypatch):
    runs = _counting_runs(monkeypatch)
    fast = _everything(_analyse(name))
    replayed_runs = runs["n"]

    runs["n"] = 0
    monkeypatch.setattr(trace, "_module_key", lambda *a: None)
    monkeypatch.setattr(trace, "_call_key", lambda *a: None)
    plain = _everything(_analyse(name))

    assert runs["n"] > replayed_runs, "the replay never triggered, so this test compares nothing"
    assert fast == plain


class _Tricky(nn.Module):
    """Ops a replay must not fake: in-place updates (some change the tensor's own
    shape) and calls that hand their input back, a named tuple (torch.max),
    plain tuples (chunk) and a strided view, each repeated so the second call could
    be replayed."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        for _ in range(2):
            x = self.conv(x)
            x = x.relu_()
            x.unsqueeze_(1)  # changes x's own shape: a replay that handed back a new tensor would not
            x = x.squeeze_(1)
            x = x.contiguous()
            a, b = torch.chunk(x, 2, dim=1)
            x = torch.cat([a, b * 2], dim=1)
            x = x + x.max(dim=1, keepdim=True).values
            x = x[:, :, ::1, ::1].transpose(2, 3).transpose(2, 3)
        return x


def test_replay_keeps_in_place_and_pass_through_ops(monkeypatch):
    fast = _everything(summary.analyze(_Tricky(), input_size=(4, 8, 8)))
    monkeypatch.setattr(trace, "_module_key", lambda *a: None)
    monkeypatch.setattr(trace, "_call_key", lambda *a: None)
    plain = _everything(summary.analyze(_Tricky(), input_size=(4, 8, 8)))
    assert fast == plain


def test_replay_keys_tell_apart_what_can_change_an_output():
    describe = trace._describe
    x = torch.empty(2, 3, device="meta")
    assert describe(2) != describe(2.0) != describe(True)  # int, float and bool give different dtypes
    assert describe([1, 2]) != describe((1, 2))
    assert describe(x) != describe(x.t()) != describe(x[:, 1:])  # shape, stride, offset
    assert describe(slice(None, 2)) == describe(slice(None, 2))
    for unknown in (torch.empty(2), nn.ReLU(), [1, print], len):
        assert describe(unknown) is trace._NOT_REPLAYABLE
    assert trace._layouts(x, (x,), {}) is None  # an input handed back
    assert trace._layouts(x[:, 1:].clone()[:, 1:], (), {}) is None  # a view at an offset
    assert trace._layouts(torch.empty(3, 2, device="meta"), (x,), {}) == (((3, 2), (2, 1), torch.float32),)


@pytest.mark.parametrize("name", ("vit_lite_7_4_cifar", "condensenet_86_cifar"))
def test_tracer_builds_the_graph_fx_builds(name):
    """Both nets read parameters or buffers straight off a module (the class token, the
    learned group indices): the look-up the fast tracer replaces."""
    model = create_meta_model(name)

    def nodes(graph):
        return [(n.op, n.name, str(n.target), str(n.args), str(n.kwargs), str(n.meta.get("nn_module_stack")))
                for n in graph.nodes]

    ours = trace._Tracer().trace(model)
    assert any(n.op == "get_attr" for n in ours.nodes)
    assert nodes(ours) == nodes(fx.symbolic_trace(model).graph)


def test_meta_build_runs_one_mode_and_skips_keyword_init(monkeypatch):
    def no_draws(*args, **kwargs):
        raise AssertionError("a weight was drawn while building on meta")

    monkeypatch.setattr(torch.Tensor, "uniform_", no_draws)  # what kaiming_uniform_'s body calls
    before = torch._C._len_torch_function_stack()
    with torch.device("meta"), SkipInitOnMeta():
        assert torch._C._len_torch_function_stack() == before + 1
        layer = nn.Linear(3, 2)
    assert {p.device.type for p in layer.parameters()} == {"meta"}
    assert torch._C._len_torch_function_stack() == before
    assert torch.empty(1).device.type == "cpu"


@pytest.mark.parametrize("enabled", (True, False))
def test_collector_is_paused_during_an_analysis_and_restored(enabled, monkeypatch):
    seen = []
    original = summary.summarize

    def spy(*args, **kwargs):
        seen.append(gc.isenabled())
        return original(*args, **kwargs)

    monkeypatch.setattr(summary, "summarize", spy)
    (gc.enable if enabled else gc.disable)()
    try:
        summary.analyze(nn.Sequential(nn.Conv2d(1, 2, 3)), input_size=(1, 8, 8))
        assert seen == [False]
        assert gc.isenabled() is enabled
    finally:
        gc.enable()
