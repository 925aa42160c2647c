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

from classifier.analysis.receptive_field import Extent, Field, first_tensor, input_field, is_opaque, node_field, unplaced

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
# Function and method calls are replayed the same way, keyed by the target and a
# description of every argument (see _describe). PreAct-1001's 333 residual additions
# share three shapes; on the meta device each one otherwise runs add's Python reference
# kernel under the counter. Only outputs that are fresh plain tensors at offset 0 are
# recorded: an op that hands an input back (an in-place op, ``contiguous`` on a
# contiguous tensor) must keep returning that very tensor, which the receptive-field
# rules look for.
_NOT_REPLAYABLE = object()
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


class _Tracer(fx.Tracer):
    """``fx.Tracer`` with its attribute look-ups made constant time.

    For every parameter, buffer or module a net's code touches directly (CondenseNet's
    channel index buffers, ViT's class token), the stock tracer walks the whole module
    tree to find its name: quadratic in a net's size, a quarter of CondenseNet-182's
    trace. Here the names are looked up by id in maps built once, first name first, as
    ``named_parameters``, ``named_buffers`` and ``named_modules`` give them.
    """

    def trace(self, root, concrete_args=None):
        if isinstance(root, nn.Module):
            self._names = {kind: {} for kind in ("parameter", "buffer", "module")}
            for kind, named in (("parameter", root.named_parameters()), ("buffer", root.named_buffers()),
                                ("module", root.named_modules())):
                for name, value in named:
                    self._names[kind].setdefault(id(value), name)
        return super().trace(root, concrete_args)

    def _name_of(self, value: Any) -> str | None:
        if isinstance(value, nn.Parameter):
            return self._names["parameter"].get(id(value))
        if isinstance(value, torch.Tensor):
            return self._names["buffer"].get(id(value))
        if isinstance(value, nn.Module):
            return self._names["module"].get(id(value))
        return None

    def create_arg(self, a: Any):
        name = self._name_of(a) if isinstance(a, (torch.Tensor, nn.Module)) else None
        if name is not None:
            return self.create_node("get_attr", name, (), {})
        return super().create_arg(a)

    def getattr(self, attr: str, attr_val: Any, parameter_proxy_cache: dict):
        if not isinstance(attr_val, torch.Tensor):
            return attr_val
        name = self._names["parameter"].get(id(attr_val)) if isinstance(attr_val, nn.Parameter) else None
        if name is None and self.proxy_buffer_attributes:
            name = self._names["buffer"].get(id(attr_val))
        if name is None:
            return attr_val
        if name not in parameter_proxy_cache:
            parameter_proxy_cache[name] = self.create_proxy("get_attr", name, (), {})
        return parameter_proxy_cache[name]


class _ShapePass(fx.Interpreter):
    """Runs the traced graph, recording per node its FLOPs and receptive field."""

    def __init__(self, model: nn.Module, graph: fx.Graph, counter: FlopCounterMode, modules: dict[str, nn.Module]):
        # The graph runs against the model itself: building an fx.GraphModule would
        # generate and compile Python code for every node, which the pass never runs.
        super().__init__(model, garbage_collect_values=False, graph=graph)
        self.modules = modules
        self.counter = counter
        self.flops: dict[fx.Node, int] = {}
        self.info: dict[fx.Node, Any] = {}
        self.replays: dict[tuple, tuple[type | None, tuple, int]] = {}  # key → (container, layouts, FLOPs)
        self.replayed = 0  # FLOPs of replayed calls, which the counter did not see
        self.unplaced: set[fx.Node] = set()

    def call_module(self, target, args, kwargs):
        module = self.fetch_attr(target)
        if isinstance(module, _SHAPE_KEEPING) and len(args) == 1 and isinstance(args[0], torch.Tensor):
            return args[0]
        return self._replayed(_module_key(module, args, kwargs), super().call_module, target, args, kwargs)

    def call_function(self, target, args, kwargs):
        key = None if is_opaque(target) else _call_key("function", target, args, kwargs)
        return self._replayed(key, super().call_function, target, args, kwargs)

    def call_method(self, target, args, kwargs):
        key = _call_key("method", target, args, kwargs) if args and isinstance(args[0], torch.Tensor) else None
        return self._replayed(key, super().call_method, target, args, kwargs)

    def _replayed(self, key: tuple | None, run, target, args, kwargs):
        """``run(target, args, kwargs)``, or, where ``key`` was seen before, empty meta
        tensors shaped like that call's outputs, with its FLOPs added to the count."""
        if key is not None:
            recorded = self.replays.get(key)
            if recorded is not None:
                container, layouts, flops = recorded
                self.replayed += flops
                # Made past the device mode and the FLOP counter, which have nothing to
                # do with an empty tensor: through them it costs ten times as much.
                with torch._C.DisableTorchFunction(), torch._C._DisableTorchDispatch():
                    outs = [torch.empty_strided(size, stride, dtype=dtype, device="meta") for size, stride, dtype in layouts]
                return outs[0] if container is None else container(outs)
        before = self.counter.get_total_flops()
        out = run(target, args, kwargs)
        if key is not None:
            layouts = _layouts(out, args, kwargs)
            if layouts is not None:
                container = type(out) if isinstance(out, (tuple, list)) else None
                self.replays[key] = (container, layouts, self.counter.get_total_flops() - before)
        return out

    def counted(self) -> int:
        return self.counter.get_total_flops() + self.replayed

    def run_node(self, n: fx.Node) -> Any:
        # fx.Interpreter.run_node, less the current-node bookkeeping that only tracing
        # inside an interpreter needs, keeping the arguments for the field rules.
        args, kwargs = self.fetch_args_kwargs_from_env(n)
        before = self.counted()
        value = getattr(self, n.op)(n.target, args, kwargs)
        self.flops[n] = self.counted() - before
        if n.op == "placeholder":
            self.info[n] = input_field(value)
        elif n.op == "get_attr":
            self.info[n] = Extent.CONSTANT
        elif n.op != "output":
            module = self.modules[n.target] if n.op == "call_module" else None
            self.info[n] = node_field(n, module, args, kwargs, value, self.info, self.env)
            if unplaced(n, value, self.info[n], self.info):
                self.unplaced.add(n)
        return value


def _module_key(module: nn.Module, args: tuple, kwargs: dict) -> tuple | None:
    if type(module) not in _REPLAYABLE or kwargs or len(args) != 1 or not isinstance(args[0], torch.Tensor):
        return None
    described = _describe(args[0])
    if described is _NOT_REPLAYABLE:
        return None
    return type(module), module.extra_repr(), getattr(module, "return_indices", None), described


def _call_key(kind: str, target, args: tuple, kwargs: dict) -> tuple | None:
    """What a function or method call's output shapes can depend on, or None where an
    argument is something other than tensors and plain constants (a module, a callable)."""
    described = _describe((args, tuple(sorted(kwargs.items()))))
    return None if described is _NOT_REPLAYABLE else (kind, target, described)


def _describe(value: Any) -> Any:
    """A hashable stand-in for an argument: a meta tensor by its layout (on the meta
    device that is all an op can read), a constant by its type and value (``2`` and
    ``2.0`` give different dtypes), containers element by element."""
    if isinstance(value, torch.Tensor):
        if not value.is_meta:
            return _NOT_REPLAYABLE
        return (torch.Tensor, tuple(value.shape), value.stride(), value.storage_offset(), value.dtype)
    if isinstance(value, (tuple, list)):
        parts = tuple(_describe(v) for v in value)
        return _NOT_REPLAYABLE if any(p is _NOT_REPLAYABLE for p in parts) else (type(value), parts)
    if isinstance(value, slice):
        parts = _describe((value.start, value.stop, value.step))
        return _NOT_REPLAYABLE if parts is _NOT_REPLAYABLE else (slice, parts)
    if value is None or value is Ellipsis or isinstance(value, (bool, int, float, str, torch.dtype, torch.device,
                                                                   torch.memory_format, torch.layout)):
        return (type(value), value)
    return _NOT_REPLAYABLE


def _layouts(out: Any, args: tuple, kwargs: dict) -> tuple | None:
    """Size, stride and dtype of ``out``, or of each tensor in it where it is a plain
    tuple or list, or None where replaying it would not give the same thing back: not
    all fresh plain meta tensors at offset 0, or one of them is an input handed back."""
    if isinstance(out, (tuple, list)):
        if type(out) not in (tuple, list) or not out:  # a named tuple (torch.max's) or empty
            return None
        outs = out
    else:
        outs = (out,)
    inputs = {id(t) for t in torch.utils._pytree.tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)}
    layouts = []
    for t in outs:
        if type(t) is not torch.Tensor or not t.is_meta or t.storage_offset() != 0 or id(t) in inputs:
            return None
        layouts.append((tuple(t.shape), t.stride(), t.dtype))
    return tuple(layouts)


def _first_line(exc: Exception) -> str:
    """The reason is what a user needs, on one line (the CLI prints errors as one line)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def trace_shapes(model: nn.Module, input_size: tuple[int, int, int]) -> Trace:
    """Trace ``model`` (already on the meta device, in eval mode) at one input of
    ``input_size`` and record every node that moves data."""
    try:
        graph = _Tracer().trace(model)
    except Exception as exc:
        raise ValueError(f"{type(model).__name__} does not trace with torch.fx: {_first_line(exc)}") from exc
    counter = FlopCounterMode(display=False)
    # Every path, a shared module's second name included: get_submodule walks the path
    # attribute by attribute, thousands of times in a deep net.
    modules = dict(model.named_modules(remove_duplicate=False))
    runner = _ShapePass(model, graph, counter, modules)
    x = torch.empty((1, *input_size), device="meta")
    try:
        with _PASS_LOCK, torch.no_grad(), torch.device("meta"), counter:
            runner.run(x)
    except Exception as exc:
        size = "×".join(map(str, input_size))
        raise ValueError(f"{type(model).__name__} does not run on a {size} input: {_first_line(exc)}") from exc

    values, info = runner.env, runner.info
    kept: dict[fx.Node, NodeRecord] = {}
    depth_of: dict[fx.Node, int] = {}
    for n in graph.nodes:
        module = modules[n.target] if n.op == "call_module" else None
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
