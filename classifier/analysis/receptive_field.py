"""Receptive fields, computed analytically on the traced graph, one node at a time.

For each spatial axis of a feature map three numbers describe where its units look in
the input (Araujo, Norris and Sim, "Computing Receptive Fields of Convolutional Neural
Networks", Distill 2019): the size ``r`` of the input region one unit sees, the effective
stride ``j`` between neighbouring units in input pixels, and the centre ``s`` of the
first unit's region (input pixel centres sit at 0, 1, 2, ...; padding makes it negative).
A window of kernel ``k``, stride ``t``, padding ``p`` and dilation ``d`` maps them to

    r' = r + d(k-1) j        j' = j t        s' = s + (d(k-1)/2 - p) j

H and W are tracked separately because Inception mixes 1×7 and 7×1 kernels.

Padding shifts ``s`` by the rows or columns it adds before the map; slicing a spatial axis
(``x[:, :, 1::2, 1::2]``, as in the NAS cells' factorized reduction) is a 1×1 window
with that step as stride and that start as offset.

Everything else is judged by shapes: an op that keeps the two spatial sizes (activations,
norms, 1×1 work on channels, reshapes that leave H and W alone) passes the field through,
and a merge (add, mul, cat, ...) sees the union of its inputs' regions: two maps of the
same stride whose first units look at shifted regions together see from the lowest
start to the highest end. Squeezing an axis
to size 1 (global pooling, a mean) makes each unit see the whole map; such a field is
marked ``pooled``. A pooled 1×1 map broadcast back onto a full map, as in
squeeze-and-excitation, only rescales channels, so it does not widen the field there;
the same holds for a global tensor broadcast over H and W.
Anything else, such as a flatten or attention over tokens, leaves a tensor we cannot
place in the image: it is *global*, and so is everything computed from it. A function
that fx keeps opaque (``torch.fx.wrap``, e.g. Swin's window attention) may mix positions
without changing shapes, so it is global too, unless it handed its input straight back
(stochastic depth in eval mode). An op that turns a placed map into a map the rules above
cannot place (an upsampling, a pixel shuffle) is named by :func:`unplaced`, so the
layer table says "not modelled" instead of passing the field on as if nothing happened.
"""

from __future__ import annotations

import enum
import math
import operator
from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import fx, nn


@dataclass(frozen=True)
class Axis:
    """Receptive field along one axis: size, effective stride, centre of the first unit."""

    size: float
    stride: float
    start: float

    def window(self, kernel: int, stride: float, padding: float, dilation: int = 1) -> Axis:
        span = dilation * (kernel - 1)
        return Axis(self.size + span * self.stride, self.stride * stride, self.start + (span / 2 - padding) * self.stride)

    def sliced(self, offset: int, step: int) -> Axis:
        """Every ``step``-th unit from unit ``offset``: a 1×1 window with that stride."""
        return Axis(self.size, self.stride * step, self.start + offset * self.stride)

    @property
    def span(self) -> tuple[float, float]:
        """Centres of the first and last input pixel the first unit sees."""
        half = (self.size - 1) / 2
        return self.start - half, self.start + half

    def adaptive(self, n_in: int, n_out: int) -> Axis:
        """Adaptive pooling from ``n_in`` to ``n_out`` cells: windows of uneven length,
        the longest of which bounds the field, placed ``n_in/n_out`` apart."""
        if n_in == n_out:
            return self
        if n_in % n_out == 0:
            k = n_in // n_out
            return self.window(k, k, 0)
        longest = max(math.ceil((i + 1) * n_in / n_out) - (i * n_in) // n_out for i in range(n_out))
        first = math.ceil(n_in / n_out)
        return Axis(self.size + (longest - 1) * self.stride, self.stride * n_in / n_out, self.start + (first - 1) / 2 * self.stride)


@dataclass(frozen=True)
class Field:
    """Where a tensor's spatial axes are (``dims``: positions of H and W) and their fields."""

    dims: tuple[int, int] | None
    h: Axis
    w: Axis
    pooled: bool = False  # some axis was squeezed from a map to one cell: the field is the whole map

    @property
    def rf(self) -> int | float | tuple:
        return _pair(self.h.size, self.w.size)

    @property
    def stride(self) -> int | float | tuple:
        return _pair(self.h.stride, self.w.stride)

    @property
    def start(self) -> int | float | tuple:
        return _pair(self.h.start, self.w.start)


class Extent(enum.Enum):
    """What a tensor without a placeable field depends on."""

    GLOBAL = "global"  # on the input, but not through a region we can place
    CONSTANT = "constant"  # not on the input at all (parameters, shapes, literals)


Info = Field | Extent


def _num(v: float) -> int | float:
    return int(v) if float(v).is_integer() else round(float(v), 3)


def _pair(h: float, w: float) -> int | float | tuple:
    """One number where the field is square, (H, W) otherwise."""
    return _num(h) if h == w else (_num(h), _num(w))


def _two(v: Any) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def first_tensor(value: Any) -> torch.Tensor | None:
    """The tensor a node's value stands for: itself, or the first one in a tuple/list."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        for v in value:
            t = first_tensor(v)
            if t is not None:
                return t
    return None


def input_field(value: Any) -> Info:
    """The field of the network's input: every pixel sees itself."""
    t = first_tensor(value)
    if t is None:
        return Extent.CONSTANT
    if t.dim() != 4:
        return Extent.GLOBAL
    return Field((2, 3), Axis(1, 1, 0), Axis(1, 1, 0))


# --- windows: (kernel, stride, padding, dilation) per axis -----------------------------

Window = tuple[tuple[int, float, float, int], tuple[int, float, float, int]]


def _window(kernel, stride, padding, dilation) -> Window:
    k, s, d = _two(kernel), _two(stride if stride not in (None, ()) else kernel), _two(dilation)
    if padding == "valid":
        p = (0, 0)
    elif padding == "same":  # PyTorch puts the odd pixel of 'same' padding at the end
        p = tuple((di * (ki - 1)) // 2 for ki, di in zip(k, d))
    else:
        p = _two(padding)
    return (k[0], s[0], p[0], d[0]), (k[1], s[1], p[1], d[1])


def _module_window(m: nn.Module) -> Window | None:
    if isinstance(m, nn.Conv2d):
        return _window(m.kernel_size, m.stride, m.padding, m.dilation)
    if isinstance(m, nn.MaxPool2d):
        return _window(m.kernel_size, m.stride, m.padding, m.dilation)
    if isinstance(m, (nn.AvgPool2d, nn.LPPool2d)):
        return _window(m.kernel_size, m.stride, getattr(m, "padding", 0), 1)
    return None


def _bind(names: Sequence[str], args: tuple, kwargs: dict) -> dict:
    bound = dict(zip(names, args))
    bound.update(kwargs)
    return bound


def _conv_window(args, kwargs) -> Window:
    a = _bind(("input", "weight", "bias", "stride", "padding", "dilation"), args, kwargs)
    return _window(tuple(a["weight"].shape[-2:]), a.get("stride", 1), a.get("padding", 0), a.get("dilation", 1))


def _max_pool_window(args, kwargs) -> Window:
    a = _bind(("input", "kernel_size", "stride", "padding", "dilation"), args, kwargs)
    return _window(a["kernel_size"], a.get("stride"), a.get("padding", 0), a.get("dilation", 1))


def _avg_pool_window(args, kwargs) -> Window:
    a = _bind(("input", "kernel_size", "stride", "padding"), args, kwargs)
    return _window(a["kernel_size"], a.get("stride"), a.get("padding", 0), 1)


_FUNCTION_WINDOWS = {
    F.conv2d: _conv_window,
    F.max_pool2d: _max_pool_window,
    F.max_pool2d_with_indices: _max_pool_window,
    torch.max_pool2d: _max_pool_window,
    F.avg_pool2d: _avg_pool_window,
}
_ADAPTIVE_MODULES = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
_ADAPTIVE_FUNCTIONS = {F.adaptive_avg_pool2d, F.adaptive_max_pool2d, F.adaptive_max_pool2d_with_indices}
_PAD_MODULES = (nn.ZeroPad2d, nn.ConstantPad2d, nn.ReflectionPad2d, nn.ReplicationPad2d, nn.CircularPad2d)
_PERMUTES = {"permute", "transpose", "swapaxes", "swapdims", torch.permute, torch.transpose, torch.swapaxes}


def is_opaque(target: Any) -> bool:
    """A function from outside torch that fx did not trace into."""
    home = getattr(target, "__module__", None) or ""
    return bool(home) and home.partition(".")[0] not in ("torch", "_operator", "operator", "builtins", "math")


def _spatial_input(field: Info, ndim: int) -> Field | None:
    """The field of a window op's input, if its H and W are the last two axes."""
    if isinstance(field, Field) and field.dims == (ndim - 2, ndim - 1):
        return field
    return None


def _permuted(field: Field, target, args: tuple, kwargs: dict, ndim: int) -> Field:
    rest = list(args[1:]) + list(kwargs.values())
    if target in ("permute", torch.permute):
        order = rest if isinstance(rest[0], int) else rest[0]
        mapping = {old % ndim: new for new, old in enumerate(order)}
    else:
        a, b = (d % ndim for d in rest[:2])
        mapping = {a: b, b: a}
    return Field(tuple(mapping.get(d, d) for d in field.dims), field.h, field.w, field.pooled)


def _located(field: Field, src: tuple[int, ...], out: tuple[int, ...]) -> Field | None:
    """``field`` (of a tensor shaped ``src``) as seen in an output shaped ``out``, or None
    when the spatial axes do not survive. A field broadcast from 1×1 onto a larger map
    comes back with ``dims`` None: it gates the merge but does not size it."""
    dims = field.dims
    if len(src) == len(out):
        hs, ws = (src[d] for d in dims)
        ho, wo = (out[d] for d in dims)
        if (hs, ws) == (ho, wo):
            return field
        if ho <= 1 and wo <= 1:  # squeezed to one cell: each unit sees the whole map
            return Field(dims, field.h.adaptive(hs, 1), field.w.adaptive(ws, 1), True)
        if (hs, ws) == (1, 1):
            return Field(None, field.h, field.w, field.pooled)
        return None
    # A reshape that keeps H and W whole, e.g. ShuffleNet's channel shuffle (B,C,H,W) → (B,g,C/g,H,W).
    a = dims[0]
    if dims[1] == a + 1:
        before, after, hw = math.prod(src[:a]), math.prod(src[a + 2:]), src[a:a + 2]
        for b in range(len(out) - 1):
            if out[b:b + 2] == hw and math.prod(out[:b]) == before and math.prod(out[b + 2:]) == after:
                return Field((b, b + 1), field.h, field.w, field.pooled)
    return None


def _squeezed(src: torch.Tensor, out: torch.Tensor) -> bool:
    """Whether a pooling took a spatial axis from a map down to one cell (a global pool,
    as a window the size of the map or an adaptive one): then each unit sees the whole map."""
    (hi, wi), (ho, wo) = src.shape[-2:], out.shape[-2:]
    return (ho == 1 < hi) or (wo == 1 < wi)


def _is_gate(t: torch.Tensor, dims: tuple[int, int], out: torch.Tensor) -> bool:
    return t.dim() == out.dim() and all(t.shape[d] == 1 for d in dims)


def _union(axes: list[Axis]) -> Axis | None:
    """The region the inputs' units see together, or None where their strides differ
    (then the regions drift apart from unit to unit and no one field describes them)."""
    if len({a.stride for a in axes}) != 1:
        return None
    lo = min(a.span[0] for a in axes)
    hi = max(a.span[1] for a in axes)
    return Axis(hi - lo + 1, axes[0].stride, (lo + hi) / 2)


def _merged(fields: list[Field]) -> Info:
    """The union of the inputs' fields laid out like the output, axis by axis."""
    placed = [f for f in fields if f.dims is not None]
    if not placed or len({f.dims for f in placed}) != 1:
        return Extent.GLOBAL
    h, w = _union([f.h for f in placed]), _union([f.w for f in placed])
    if h is None or w is None:
        return Extent.GLOBAL
    return Field(placed[0].dims, h, w, all(f.pooled for f in placed))


_INDEX_ITEMS = (slice, int, type(None), type(Ellipsis))


def _sliced(field: Field, index: Any, shape: tuple[int, ...]) -> Info | None:
    """The field after basic indexing ``x[index]`` (slices, integers, None, ...), or None
    for advanced indexing, which is left to the shape rules. A spatial axis sliced with
    start ``a`` and step ``t`` keeps every ``t``-th unit from ``a``; one indexed away by an
    integer leaves no map."""
    items = index if isinstance(index, tuple) else (index,)
    if not all(isinstance(i, _INDEX_ITEMS) for i in items):
        return None
    used = sum(1 for i in items if i is not None and i is not Ellipsis)
    if used > len(shape):
        return None
    at = next((k for k, i in enumerate(items) if i is Ellipsis), len(items))
    items = (*items[:at], *(slice(None),) * (len(shape) - used), *items[at + 1:])
    old = new = 0
    moved: dict[int, int] = {}
    steps: dict[int, tuple[int, int]] = {}
    for item in items:
        if item is None:
            new += 1
            continue
        if isinstance(item, int):
            if old in field.dims:
                return Extent.GLOBAL
        else:
            start, _, step = item.indices(shape[old])
            moved[old], steps[old] = new, (start, step)
            new += 1
        old += 1
    (dh, dw) = field.dims
    return Field((moved[dh], moved[dw]), field.h.sliced(*steps[dh]), field.w.sliced(*steps[dw]), field.pooled)


def unplaced(node: fx.Node, value: Any, result: Info, info: dict[fx.Node, Info]) -> bool:
    """Whether ``node`` took a placed map and gave a map (4-D or more) whose field the
    rules cannot place, such as an upsampling: an op not modelled, to be said so on its
    row rather than shown as a blank. Flattening a map into tokens or a vector is not
    such an op: its output is no longer a map."""
    out = first_tensor(value)
    if result is not Extent.GLOBAL or out is None or out.dim() < 4:
        return False
    return any(isinstance(info[n], Field) and info[n].dims is not None for n in node.all_input_nodes)


def node_field(node: fx.Node, module: nn.Module | None, args: tuple, kwargs: dict, value: Any,
               info: dict[fx.Node, Info], values: dict[fx.Node, Any]) -> Info:
    """The field of ``node``'s output given its inputs' fields and concrete values."""
    out = first_tensor(value)
    if out is None:
        return Extent.CONSTANT
    inputs = node.all_input_nodes
    live = [n for n in inputs if info[n] is not Extent.CONSTANT]
    if not live:
        return Extent.CONSTANT

    source = node.args[0] if node.args and isinstance(node.args[0], fx.Node) else None
    src_value = first_tensor(values[source]) if source is not None else None
    src_field = info[source] if source is not None else None
    target = node.target

    window = None
    if module is not None:
        window = _module_window(module)
    elif node.op == "call_function" and target in _FUNCTION_WINDOWS:
        window = _FUNCTION_WINDOWS[target](args, kwargs)
    if window is not None:
        f = _spatial_input(src_field, src_value.dim())
        if f is None:
            return Extent.GLOBAL
        pooling = not isinstance(module, nn.Conv2d) and target is not F.conv2d
        squeezed = pooling and _squeezed(src_value, out)  # a conv's 1×1 output is still a map (LeNet's C5)
        return Field(f.dims, f.h.window(*window[0]), f.w.window(*window[1]), f.pooled or squeezed)

    if isinstance(module, _ADAPTIVE_MODULES) or (node.op == "call_function" and target in _ADAPTIVE_FUNCTIONS):
        f = _spatial_input(src_field, src_value.dim())
        if f is None:
            return Extent.GLOBAL
        (hi, wi), (ho, wo) = src_value.shape[-2:], out.shape[-2:]
        return Field(f.dims, f.h.adaptive(hi, ho), f.w.adaptive(wi, wo), f.pooled or _squeezed(src_value, out))

    pad = None
    if isinstance(module, _PAD_MODULES):
        pad = module.padding
    elif target is F.pad:
        pad = _bind(("input", "pad"), args, kwargs)["pad"]
    if pad is not None and len(pad) >= 2:
        f = _spatial_input(src_field, src_value.dim())
        if f is None:
            return Extent.GLOBAL
        left, top = pad[0], pad[2] if len(pad) >= 4 else 0
        return Field(f.dims, Axis(f.h.size, f.h.stride, f.h.start - top * f.h.stride),
                     Axis(f.w.size, f.w.stride, f.w.start - left * f.w.stride), f.pooled)

    if node.op == "call_function" and is_opaque(target):
        passed = next((n for n in live if values[n] is value), None)
        return info[passed] if passed is not None else Extent.GLOBAL

    if module is None and target in _PERMUTES and isinstance(src_field, Field):
        return _permuted(src_field, target, args, kwargs, src_value.dim())

    if target is operator.getitem and isinstance(values[source], torch.Tensor) and isinstance(src_field, Field) \
            and src_field.dims is not None:
        f = _sliced(src_field, args[1], tuple(src_value.shape))
        if f is not None:
            return f

    located, gates = [], []
    for n in live:
        src = first_tensor(values[n])
        if info[n] is Extent.GLOBAL:
            gates.append(src)
            continue
        f = _located(info[n], tuple(src.shape), tuple(out.shape))
        if f is None:
            return Extent.GLOBAL
        located.append(f)
    merged = _merged(located)
    # A global input broadcast over H and W (a channel gate computed from a flattened
    # mean) rescales channels without moving where units look; anything else is global.
    if isinstance(merged, Field) and all(_is_gate(g, merged.dims, out) for g in gates):
        return merged
    return Extent.GLOBAL
