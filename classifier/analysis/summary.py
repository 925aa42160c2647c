"""The summary of one model at one input size: totals, a row per layer, the receptive
field profile and the layer graph, all from a single shape pass on the meta device.

Parameters are counted per leaf module, each shared parameter once, and modules that do
not run in eval mode (Inception's auxiliary classifiers) get a row of their own, so the
rows always add up to the model's total. MACs are FLOPs / 2 as counted by
``torch.utils.flop_counter``, per executed node.
"""

from __future__ import annotations

import contextlib
import functools
import gc
from dataclasses import dataclass

from torch import nn

from classifier.analysis.graph import LayerGraph, format_shape
from classifier.analysis.trace import NodeRecord, Trace, meta_copy, trace_shapes


@dataclass(frozen=True)
class LayerRow:
    """One row of the summary table. ``rf``, ``stride`` and ``start`` (the centre of the
    first unit's field, in input pixels) are one number where H and W agree, an (H, W)
    pair where they do not, and None where the output is not a spatial map. ``note``
    ("not modelled: <op>") marks an op whose output map the analysis cannot place.
    ``functional`` marks a function or method call (``relu``, ``view``, ``add``) rather
    than a module or parameter: the app hides those rows unless asked, as they mostly
    repeat what the modules around them say."""

    name: str
    type: str
    output_shape: tuple[int, ...] | None
    params: int
    macs: int
    rf: int | float | tuple | None
    stride: int | float | tuple | None
    start: int | float | tuple | None
    note: str | None = None
    functional: bool = False

    def to_dict(self) -> dict:
        row = {
            "name": self.name,
            "type": self.type,
            "output_shape": list(self.output_shape) if self.output_shape is not None else None,
            "params": self.params,
            "macs": self.macs,
            "rf": list(self.rf) if isinstance(self.rf, tuple) else self.rf,
            "stride": list(self.stride) if isinstance(self.stride, tuple) else self.stride,
        }
        if self.note:  # only where the analysis has something to admit
            row["note"] = self.note
        return row


@dataclass(frozen=True)
class RFPoint:
    """Receptive field and effective stride of one spatial node; ``depth`` is the number
    of weighted layers on the longest path up to it (the x axis of the RF chart). Maps
    after global pooling are left out: their field is simply the whole image."""

    name: str
    type: str
    depth: int
    rf: int | float | tuple
    stride: int | float | tuple


@dataclass(frozen=True)
class Analysis:
    """Everything the summary page, the CLI and the comparisons show about one model at
    one input size. ``final_rf``/``final_stride`` belong to the last feature map before
    global pooling; they are None, and ``final_note`` says why, where an op after the
    last placed map is not modelled. ``global_from`` names the first op after that map
    which mixes every position (an attention product, as in ViT): from there on each
    unit sees the whole image, so the net's field is global whatever its patch map says.
    ``depth`` counts conv and linear layers on the longest path."""

    model: str
    input_size: tuple[int, int, int]
    params: int
    macs: int
    depth: int
    final_rf: int | float | tuple | None
    final_stride: int | float | tuple | None
    rows: tuple[LayerRow, ...]
    rf_profile: tuple[RFPoint, ...]
    graph: LayerGraph
    final_note: str | None = None
    global_from: str | None = None

    def to_dict(self) -> dict:
        """Totals and rows, JSON-ready."""
        pair = lambda v: list(v) if isinstance(v, tuple) else v  # noqa: E731
        return {
            "model": self.model,
            "input_size": list(self.input_size),
            "totals": {
                "params": self.params,
                "macs": self.macs,
                "depth": self.depth,
                "rf": pair(self.final_rf),
                "stride": pair(self.final_stride),
                "global_from": self.global_from,
            },
            "rows": [r.to_dict() for r in self.rows],
        }

    def to_text(self) -> str:
        """A fixed-width table, one line per row, then the totals."""
        header = ("Layer", "Type", "Output", "Params", "MACs", "RF", "Stride")
        body = [
            (
                r.name,
                r.type,
                format_shape(r.output_shape) if r.output_shape is not None else "(not run)",
                f"{r.params:,}" if r.params else "",
                f"{r.macs:,}" if r.macs else "",
                _cell(r.rf) or (r.note or ""),
                _cell(r.stride),
            )
            for r in self.rows
        ]
        widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
        left = {0, 1}

        def fmt(line):
            return "  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))).rstrip()

        rule = "-" * len(fmt(header))
        size = "×".join(map(str, self.input_size))
        totals = [
            f"Model: {self.model}    input: {size}",
            f"Parameters: {self.params:,} ({_si(self.params)})",
            f"MACs (multiply–accumulates, 1 MAC = 2 FLOPs; matrix products such as attention's included):"
            f" {self.macs:,} ({_si(self.macs)})",
            f"Depth (conv + linear layers on the longest path): {self.depth}",
            f"Receptive field of the last feature map: {_cell(self.final_rf) or 'n/a'}"
            f" (effective stride {_cell(self.final_stride) or 'n/a'})"
            + (f" — {self.final_note}" if self.final_note else "")
            + (f"; global from {self.global_from} on (attention mixes every position)" if self.global_from else ""),
        ]
        return "\n".join([fmt(header), rule, *(fmt(b) for b in body), rule, *totals])


def _cell(v) -> str:
    if v is None:
        return ""
    return "×".join(map(str, v)) if isinstance(v, tuple) else str(v)


def _si(n: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return str(n)


def _param_rows(model: nn.Module, records: tuple[NodeRecord, ...]) -> tuple[list[LayerRow], dict[str, int]]:
    """Rows for what did not run, and the parameters each recorded node owns.

    A node owns the parameters of its module (or the attribute it reads) that no earlier
    node claimed; whatever no node claimed belongs to modules that never ran and gets one
    row per outermost such module.
    """
    seen: set[int] = set()
    owned: dict[str, int] = {}
    modules = dict(model.named_modules(remove_duplicate=False))  # by path, without get_submodule's walk
    for r in records:
        if r.op == "call_module":
            tensors = list(modules[r.target].parameters())
        elif r.op == "get_attr":
            owner, _, attr = r.target.rpartition(".")
            param = modules[owner]._parameters.get(attr)  # None for buffers, constants
            tensors = [param] if param is not None else []
        else:
            continue
        fresh = [p for p in tensors if id(p) not in seen]
        seen.update(id(p) for p in fresh)
        owned[r.name] = sum(p.numel() for p in fresh)

    ran = {".".join(r.scope[:i]) for r in records for i in range(len(r.scope) + 1)}
    extra: list[LayerRow] = []
    for name, module in model.named_modules():
        if name in ran:
            continue
        fresh = [p for p in module.parameters() if id(p) not in seen]
        if fresh:
            seen.update(id(p) for p in fresh)
            extra.append(LayerRow(name, type(module).__name__, None, sum(p.numel() for p in fresh), 0, None, None, None))
    for name, p in model.named_parameters():
        if id(p) not in seen:
            seen.add(id(p))
            extra.append(LayerRow(name, "Parameter", None, p.numel(), 0, None, None, None))
    return extra, owned


def _row_name(r: NodeRecord, counts: dict[tuple, int]) -> str:
    """Modules and attributes by their path; functional ops by the module they run in
    and their op name (``layer1.0.add``, ``layer1.0.add_1``), which reads better than
    fx's graph-wide ``add_7``."""
    if r.op in ("call_module", "get_attr"):
        return r.target
    key = (r.scope, r.type)
    k = counts.get(key, 0)
    counts[key] = k + 1
    op = r.type if k == 0 else f"{r.type}_{k}"
    return ".".join((*r.scope, op))


# Products of two activations: attention scores and their weighted sums, through which
# every token reaches every other (a Linear layer multiplies by weights and mixes none).
_POSITION_MIXERS = {"matmul", "bmm", "baddbmm", "einsum", "scaled_dot_product_attention", "MultiheadAttention"}


def summarize(model: nn.Module, input_size: tuple[int, int, int], name: str | None = None) -> Analysis:
    """Analyse ``model``, which must be on the meta device and in eval mode."""
    trace: Trace = trace_shapes(model, input_size)
    extra, owned = _param_rows(model, trace.records)
    counts: dict[tuple, int] = {}
    rows: list[LayerRow] = []
    profile: list[RFPoint] = []
    late_note = None  # the first op not modelled after the last placed map
    mixer = None  # the first op after the last placed map that mixes all positions
    for r in trace.records:
        if r.op in ("placeholder", "output") or (r.op == "get_attr" and not owned.get(r.name)):
            continue
        f = r.field
        row = LayerRow(
            _row_name(r, counts), r.type, r.shape, owned.get(r.name, 0), r.macs,
            f.rf if f else None, f.stride if f else None, f.start if f else None, r.note,
            functional=r.op in ("call_function", "call_method"),
        )
        rows.append(row)
        if f is not None and not f.pooled:
            profile.append(RFPoint(row.name, r.type, r.depth, f.rf, f.stride))
            late_note = mixer = None
        elif r.type in _POSITION_MIXERS and mixer is None:
            mixer = row.name
        elif r.note and late_note is None:
            late_note = r.note
    rows.extend(extra)
    last = profile[-1] if profile and late_note is None else None
    return Analysis(
        model=name or type(model).__name__,
        input_size=tuple(input_size),
        params=sum(p.numel() for p in model.parameters()),
        macs=trace.total_macs,
        depth=max((r.depth for r in trace.records), default=0),
        final_rf=last.rf if last else None,
        final_stride=last.stride if last else None,
        rows=tuple(rows),
        rf_profile=tuple(profile),
        graph=LayerGraph(trace.records, trace.module_types),
        final_note=late_note,
        global_from=mixer,
    )


def _check_size(input_size) -> tuple[int, int, int]:
    try:
        c, h, w = (int(v) for v in input_size)
    except (TypeError, ValueError):
        raise ValueError(f"input_size must be (C, H, W), not {input_size!r}") from None
    if min(c, h, w) < 1:
        raise ValueError(f"input_size must be positive, not {input_size!r}")
    return c, h, w


@contextlib.contextmanager
def _gc_paused():
    """Hold off the cyclic garbage collector while one model is built and analysed.

    An analysis makes tens of thousands of objects that stay alive until it ends
    (modules, fx nodes, meta tensors). With the collector on, they keep tipping it into
    full collections, each of which walks every object in the process (some 300,000
    once torch is imported, about 0.2 s a walk); after the analysis most of them are
    garbage, so the collections found next to nothing. Where two analyses overlap (two
    browser sessions), the one that switched the collector off switches it back on when
    it ends: it is never left off.
    """
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


@functools.lru_cache(maxsize=64)
def _analyze_registered(name: str, input_size: tuple[int, int, int]) -> Analysis:
    from classifier.registry import create_meta_model

    with _gc_paused():
        return summarize(create_meta_model(name), input_size, name)


def analyze(name_or_module: str | nn.Module, input_size: tuple[int, int, int] | None = None) -> Analysis:
    """Summary, layer graph and receptive fields of a registered model (by name) or of
    any ``nn.Module``, at ``input_size`` (C, H, W; default: the model card's).

    Results for registered names are cached per (name, input size) and shared: treat
    them as read-only. A module is analysed on a meta copy and left untouched.
    """
    if isinstance(name_or_module, str):
        from classifier.registry import get_card

        size = _check_size(input_size or get_card(name_or_module).input_size)
        return _analyze_registered(name_or_module, size)
    if not isinstance(name_or_module, nn.Module):
        raise TypeError(f"analyze() takes a registered model name or an nn.Module, not {type(name_or_module).__name__}")
    if input_size is None:
        raise ValueError("input_size is needed to analyse a module that has no model card")
    with _gc_paused():
        model = meta_copy(name_or_module).eval()
        return summarize(model, _check_size(input_size), type(name_or_module).__name__)


analyze.cache_clear = _analyze_registered.cache_clear  # type: ignore[attr-defined]
