"""One pass over a model on the meta device: trace it with torch.fx, run the graph node
by node under a FLOP counter, and keep, for each node, what the summary, the layer graph
and the receptive-field chart need (shape, MACs, field, module path). Weights never
exist: meta tensors carry shapes only, so even the largest nets take milliseconds.
"""

from __future__ import annotations

import copy
import operator
import threading
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx, nn
from torch.utils.flop_counter import FlopCounterMode

from classifier.analysis.receptive_field import Extent, Field, first_tensor, input_field, node_field, unplaced

# Layers that carry weights and count towards a network's depth ("VGG-16", "ResNet-50").
_WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Linear)
_WEIGHTED_FUNCTIONS = {torch.nn.functional.conv2d, torch.nn.functional.linear}
# Leaf modules whose output is shaped like their input and costs no FLOPs. The shape pass
# hands their input straight on instead of running them: only shapes matter here, and on
# the meta device BatchNorm and friends go through slow Python decompositions that would
# otherwise be most of the analysis time.
_SHAPE_KEEPING = (
    nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm,
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
    nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid, nn.Tanh, nn.Softplus, nn.Dropout, nn.Dropout2d, nn.Identity,
)
# FlopCounterMode tracks modules through global hooks, so two passes in different threads
# (two browser sessions) would see each other's modules: one pass at a time.
_PASS_LOCK = threading.Lock()
# Leaf layers whose output shape and FLOPs follow from their settings and their input's
# shape alone. A net repeats a few settings many times (PreAct-1001 runs 1,003
# convolutions of a handful of kinds), so each kind runs once per pass under the counter
# and its later calls are replayed: an empty meta tensor of the recorded shape, and the
# recorded FLOPs. Exact types only: a subclass may change what forward does.
_REPLAYABLE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d)
# Tensor methods that change nothing a reader cares about: no row, no graph node.
_PLUMBING_METHODS = {"contiguous"}


@dataclass(frozen=True)
class NodeRecord:
    """What one fx node did during the shape pass."""

    name: str  # fx node name, unique
    op: str  # placeholder, get_attr, call_module, call_function, call_method, output
    target: str  # module or attribute path, or the function/method name
    type: str  # module class name, function name, "input", "output"
    scope: tuple[str, ...]  # module path: the module itself for call_module, else where the node runs
    inputs: tuple[str, ...]  # names of the recorded nodes it reads
    shape: tuple[int, ...] | None  # output shape (batch dim dropped when it depends on the input)
    macs: int
    depth: int  # weighted layers on the longest path from the input to here, inclusive
    field: Field | None  # receptive field where the output is a spatial map
    note: str | None = None  # "not modelled: <op>" where the op gave a map whose field cannot be placed

    @property
    def level(self) -> int:
        """Module depth at which this node stops being folded into a group."""
        return len(self.scope) if self.op == "call_module" else len(self.scope) + 1


@dataclass(frozen=True)
class Trace:
    """A model's traced nodes in execution order, plus the module facts the views need."""

    records: tuple[NodeRecord, ...]
    module_types: dict[str, str]  # module path → class name, for every submodule
    total_macs: int


def meta_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose parameters and buffers live on the meta device, made
    without copying any weight data, so analysing a user's module never mutates it."""
    memo: dict[int, Any] = {}
    for p in model.parameters():
        memo[id(p)] = nn.Parameter(torch.empty_like(p, device="meta"), requires_grad=p.requires_grad)
    for b in model.buffers():
        memo[id(b)] = torch.empty_like(b, device="meta")
    return copy.deepcopy(model, memo)


def _scope(node: fx.Node) -> tuple[str, ...]:
    if node.op in ("call_module", "get_attr") and isinstance(node.target, str):
        path = node.target if node.op == "call_module" else node.target.rpartition(".")[0]
        return tuple(path.split(".")) if path else ()
    stack = node.meta.get("nn_module_stack")
    if not stack:
        return ()
    path = next(reversed(stack.values()))[0]
    return tuple(path.split(".")) if path else ()


def _type_name(node: fx.Node, module: nn.Module | None) -> str:
    if module is not None:
        return type(module).__name__
    if node.op == "placeholder":
        return "input"
    if node.op == "get_attr":
        return "Parameter"
    if node.op == "output":
        return "output"
    if isinstance(node.target, str):
        return node.target
    return getattr(node.target, "__name__", str(node.target))


def _shape(value: Any, depends_on_input: bool) -> tuple[int, ...] | None:
    t = first_tensor(value)
    if t is None:
        return None
    shape = tuple(t.shape)
    return shape[1:] if depends_on_input and shape else shape


def _is_data(node: fx.Node, value: Any, values: dict[fx.Node, Any]) -> bool:
    """Whether a node moves tensor data (as opposed to shape arithmetic or tuple unpacking)."""
    if node.op in ("placeholder", "output"):
        return True
    if first_tensor(value) is None:
        return False
    if node.op == "call_method" and node.target in _PLUMBING_METHODS:
        return False
    if node.target is operator.getitem and isinstance(values[node.args[0]], (tuple, list)):
        return False
    return True


class _ShapePass(fx.Interpreter):
    """Runs the traced graph, recording per node its FLOPs and receptive field."""

    def __init__(self, gm: fx.GraphModule, counter: FlopCounterMode):
        super().__init__(gm, garbage_collect_values=False)
        self.counter = counter
        self.flops: dict[fx.Node, int] = {}
        self.info: dict[fx.Node, Any] = {}
        self.replays: dict[tuple, tuple[torch.Size, torch.dtype, int]] = {}
        self.replayed = 0  # FLOPs of replayed calls, which the counter did not see
        self.unplaced: set[fx.Node] = set()

    def call_module(self, target, args, kwargs):
        module = self.fetch_attr(target)
        if isinstance(module, _SHAPE_KEEPING) and len(args) == 1 and isinstance(args[0], torch.Tensor):
            return args[0]
        key = _replay_key(module, args, kwargs)
        if key in self.replays:
            shape, dtype, flops = self.replays[key]
            self.replayed += flops
            return torch.empty(shape, dtype=dtype, device="meta")
        before = self.counter.get_total_flops()
        out = super().call_module(target, args, kwargs)
        if key is not None and isinstance(out, torch.Tensor):
            self.replays[key] = (out.shape, out.dtype, self.counter.get_total_flops() - before)
        return out

    def counted(self) -> int:
        return self.counter.get_total_flops() + self.replayed

    def run_node(self, n: fx.Node) -> Any:
        before = self.counted()
        value = super().run_node(n)
        self.flops[n] = self.counted() - before
        if n.op == "placeholder":
            self.info[n] = input_field(value)
        elif n.op == "get_attr":
            self.info[n] = Extent.CONSTANT
        elif n.op != "output":
            module = self.module.get_submodule(n.target) if n.op == "call_module" else None
            args, kwargs = self.fetch_args_kwargs_from_env(n)
            self.info[n] = node_field(n, module, args, kwargs, value, self.info, self.env)
            if unplaced(n, value, self.info[n], self.info):
                self.unplaced.add(n)
        return value


def _replay_key(module: nn.Module, args: tuple, kwargs: dict) -> tuple | None:
    if type(module) not in _REPLAYABLE or kwargs or len(args) != 1 or not isinstance(args[0], torch.Tensor):
        return None
    x = args[0]
    return type(module), module.extra_repr(), getattr(module, "return_indices", None), tuple(x.shape), x.dtype


def _first_line(exc: Exception) -> str:
    """The reason is what a user needs, on one line (the CLI prints errors as one line)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def trace_shapes(model: nn.Module, input_size: tuple[int, int, int]) -> Trace:
    """Trace ``model`` (already on the meta device, in eval mode) at one input of
    ``input_size`` and record every node that moves data."""
    try:
        gm = fx.symbolic_trace(model)
    except Exception as exc:
        raise ValueError(f"{type(model).__name__} does not trace with torch.fx: {_first_line(exc)}") from exc
    counter = FlopCounterMode(display=False)
    runner = _ShapePass(gm, counter)
    x = torch.empty((1, *input_size), device="meta")
    try:
        with _PASS_LOCK, torch.no_grad(), torch.device("meta"), counter:
            runner.run(x)
    except Exception as exc:
        size = "×".join(map(str, input_size))
        raise ValueError(f"{type(model).__name__} does not run on a {size} input: {_first_line(exc)}") from exc

    values, info = runner.env, runner.info
    modules = dict(gm.named_modules())
    kept: dict[fx.Node, NodeRecord] = {}
    depth_of: dict[fx.Node, int] = {}
    for n in gm.graph.nodes:
        module = modules.get(n.target) if n.op == "call_module" else None
        if isinstance(module, nn.MultiheadAttention):
            weighted = 2  # input projection, then output projection
        elif isinstance(module, _WEIGHTED) or (n.op == "call_function" and n.target in _WEIGHTED_FUNCTIONS):
            weighted = 1
        else:
            weighted = 0
        depth_of[n] = weighted + max((depth_of[i] for i in n.all_input_nodes), default=0)
        if not _is_data(n, values.get(n), values):
            continue
        field = info.get(n)
        depends = field is not None and field is not Extent.CONSTANT
        kept[n] = NodeRecord(
            name=n.name,
            op=n.op,
            target=n.target if isinstance(n.target, str) else _type_name(n, None),
            type=_type_name(n, module),
            scope=_scope(n),
            inputs=tuple(dict.fromkeys(i.name for i in _data_inputs(n, kept, values))),
            shape=_shape(values.get(n), depends) if n.op != "output" else None,
            macs=runner.flops.get(n, 0) // 2,
            depth=depth_of[n],
            field=field if isinstance(field, Field) else None,
            note=f"not modelled: {_type_name(n, module)}" if n in runner.unplaced else None,
        )
    types = {name: type(m).__name__ for name, m in model.named_modules() if name}
    return Trace(tuple(kept.values()), types, runner.counted() // 2)


def _data_inputs(n: fx.Node, kept: dict[fx.Node, NodeRecord], values: dict[fx.Node, Any]) -> list[fx.Node]:
    """The recorded nodes whose tensors feed ``n``, looking through the unrecorded ones
    that pass tensors on (tuple unpacking, ``contiguous``); shape arithmetic such as
    ``x.size(0)`` is not a data edge."""
    found: list[fx.Node] = []
    for i in n.all_input_nodes:
        if i in kept:
            found.append(i)
        elif first_tensor(values.get(i)) is not None:
            found.extend(_data_inputs(i, kept, values))
    return found
