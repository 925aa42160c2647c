"""The layer graph: the traced nodes, folded by module depth, drawn as Graphviz DOT.

At depth 1 each top-level child of the model (``layer1``, ``features``) is one box; at
depth 2 each of their children (``layer1.0``) is; at :attr:`LayerGraph.max_depth` every
traced node is its own box. Edges between boxes are kept, so a residual block folded
into one box still shows where its shortcut comes from and goes to, and each edge can
carry the shape of the tensor it moves.

A deep net at block depth is a long column of identical boxes (ResNet-152 has 36
bottlenecks in stage 3), so runs of sibling blocks of one class and one output shape can
fold further into one box, "Bottleneck ×6": a stage's first block counts with the rest
(its input is wider, its output is the stage's), and a fold can be opened again by key.
"""

from __future__ import annotations

from dataclasses import dataclass

from classifier.analysis.trace import NodeRecord

_NORMS = ("BatchNorm", "LayerNorm", "GroupNorm", "InstanceNorm", "LocalResponseNorm")
_ACTIVATIONS = ("ReLU", "ReLU6", "LeakyReLU", "PReLU", "ELU", "SELU", "GELU", "SiLU", "Hardswish",
                "Hardsigmoid", "Sigmoid", "Tanh", "Softmax", "Mish", "Softplus")
_MERGES = ("add", "iadd", "mul", "imul", "sub", "cat", "concat", "stack", "matmul", "bmm")
_FILL = {
    "conv": "#cfe2ff", "linear": "#e0d4f5", "norm": "#fff3cd", "act": "#d4edda",
    "pool": "#f8d7da", "merge": "#ffe0b2", "group": "#e9ecef", "io": "#ffffff", "other": "#f5f5f5",
}


def _kind(rec: NodeRecord) -> str:
    t = rec.type
    if rec.op in ("placeholder", "output"):
        return "io"
    if "Conv" in t or t == "conv2d":
        return "conv"
    if t in ("Linear", "linear", "MultiheadAttention"):
        return "linear"
    if t.startswith(_NORMS):
        return "norm"
    if t in _ACTIVATIONS:
        return "act"
    if "Pool" in t or "pool" in t:
        return "pool"
    if t in _MERGES:
        return "merge"
    return "other"


def format_shape(shape: tuple[int, ...] | None) -> str:
    return "×".join(map(str, shape)) if shape else ""


@dataclass(frozen=True)
class GraphNode:
    """One box: a single traced node or a folded submodule."""

    key: str
    label: str  # the name shown: module path, or the op's name
    type: str
    shape: tuple[int, ...] | None
    kind: str
    members: tuple[str, ...]  # fx node names inside this box
    module: str | None = None  # the module path the box stands for; None for ops, input, output
    count: int = 1  # sibling blocks folded into this box ("Bottleneck ×6"); 1 for any other box

    @property
    def title(self) -> str:
        """The first line of the box: "Bottleneck ×6" for a fold, else the label."""
        return f"{self.type} ×{self.count}" if self.count > 1 else self.label


@dataclass(frozen=True)
class GraphView:
    """The boxes and edges of one folded view. ``shapes`` gives each edge the shape of
    the tensor(s) it carries; ``folds`` maps each fold's key to the block boxes it hides."""

    nodes: list[GraphNode]
    edges: list[tuple[str, str]]
    shapes: dict[tuple[str, str], str]
    folds: dict[str, tuple[str, ...]]


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot(nodes: list[GraphNode], edges: list[tuple[str, str]], dashed: frozenset[str] = frozenset(),
         shapes: dict[tuple[str, str], str] | None = None) -> str:
    lines = [
        "digraph {",
        '  graph [rankdir=TB, nodesep=0.25, ranksep=0.3];',
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10, margin="0.1,0.04"];',
        '  edge [arrowsize=0.6, color="#555555", fontname="Helvetica", fontsize=8, fontcolor="#666666"];',
    ]
    for n in nodes:
        parts = (n.title, n.label, format_shape(n.shape)) if n.count > 1 else (n.label, n.type, format_shape(n.shape))
        text = "\\n".join(_quote(part)[1:-1] for part in parts if part)
        attrs = [f'label="{text}"', f'fillcolor="{_FILL[n.kind]}"']
        if n.kind == "io":
            attrs.append("shape=ellipse")
        if n.kind == "group":
            attrs.append("penwidth=1.5")
        if n.count > 1:
            attrs.append("peripheries=2")  # a stack of blocks drawn as one
        if n.key in dashed:
            attrs.append('style="rounded,dashed"')
        lines.append(f"  {_quote(n.key)} [{', '.join(attrs)}];")
    for a, b in edges:
        shape = (shapes or {}).get((a, b))
        label = f" [label={_quote(' ' + shape)}]" if shape else ""
        lines.append(f"  {_quote(a)} -> {_quote(b)}{label};")
    lines.append("}")
    return "\n".join(lines)


class LayerGraph:
    """The traced nodes of one model with their module paths, foldable by depth."""

    def __init__(self, records: tuple[NodeRecord, ...], module_types: dict[str, str]):
        self.records = records
        self._by_name = {r.name: r for r in records}
        self._types = module_types
        self.max_depth = max((r.level for r in records), default=1)
        self._consumers: dict[str, list[NodeRecord]] = {}
        for r in records:
            for i in r.inputs:
                self._consumers.setdefault(i, []).append(r)

    def _key(self, rec: NodeRecord, depth: int) -> str:
        return ".".join(rec.scope[:depth]) if rec.level > depth else rec.name

    def _single(self, rec: NodeRecord, label: str | None = None) -> GraphNode:
        module = rec.target if rec.op == "call_module" else None
        if label is None:
            label = rec.target if rec.op in ("call_module", "get_attr") else rec.name
            label = rec.type if rec.op in ("placeholder", "output") else label
        kind = _kind(rec)
        # An op's name already says what it is; don't print it twice.
        shown_type = "" if rec.type in (label, "input", "output") or label.startswith(rec.type) else rec.type
        return GraphNode(rec.name, label, shown_type, rec.shape, kind, (rec.name,), module)

    def view(self, depth: int, fold: bool = False, unfold: tuple[str, ...] | frozenset[str] = ()) -> GraphView:
        """Boxes and edges with every submodule deeper than ``depth`` folded into its
        ancestor at ``depth``; nodes in execution order of their first member. With
        ``fold``, runs of sibling blocks that share a class and an output shape become
        one box each, except the folds whose keys are in ``unfold``."""
        depth = max(1, min(depth, self.max_depth))
        key_of = {r.name: self._key(r, depth) for r in self.records}
        members: dict[str, list[NodeRecord]] = {}
        for r in self.records:
            members.setdefault(key_of[r.name], []).append(r)
        nodes = []
        for key, recs in members.items():
            if len(recs) == 1 and recs[0].name == key:
                nodes.append(self._single(recs[0]))
                continue
            # The group's output is the last member whose value leaves the group.
            outs = [r for r in recs if any(key_of[c.name] != key for c in self._consumers.get(r.name, ()))]
            last = (outs or recs)[-1]
            nodes.append(GraphNode(key, key, self._types.get(key, ""), last.shape, "group", tuple(r.name for r in recs), key))
        folds: dict[str, tuple[str, ...]] = {}
        if fold:
            nodes, folds = _fold_runs(nodes, frozenset(unfold))
            box_of = {k: f for f, ks in folds.items() for k in ks}
            key_of = {name: box_of.get(k, k) for name, k in key_of.items()}
        shapes: dict[tuple[str, str], list[str]] = {}
        for r in self.records:
            for i in r.inputs:
                edge = (key_of[i], key_of[r.name])
                if edge[0] != edge[1]:
                    found = shapes.setdefault(edge, [])
                    text = format_shape(self._by_name[i].shape)
                    if text and text not in found:
                        found.append(text)
        return GraphView(nodes, list(shapes), {e: ", ".join(v) for e, v in shapes.items() if v}, folds)

    def collapse(self, depth: int) -> tuple[list[GraphNode], list[tuple[str, str]]]:
        """Boxes and edges of :meth:`view` at ``depth``, nothing folded further."""
        v = self.view(depth)
        return v.nodes, v.edges

    def to_dot(self, depth: int, fold: bool = False, unfold: tuple[str, ...] | frozenset[str] = ()) -> str:
        """Graphviz DOT of the graph folded at ``depth`` (1 … :attr:`max_depth`), each
        edge labelled with the shape it carries; ``fold`` and ``unfold`` as in :meth:`view`."""
        v = self.view(depth, fold, unfold)
        return _dot(v.nodes, v.edges, shapes=v.shapes)

    def submodules(self) -> list[str]:
        """Every module that holds traced nodes of its own (a block, a stage; not a
        single leaf layer), in execution order: what :meth:`subgraph_dot` can draw."""
        seen: dict[str, None] = {}
        for r in self.records:
            inner = r.scope[:-1] if r.op == "call_module" else r.scope
            for i in range(1, len(inner) + 1):
                seen.setdefault(".".join(inner[:i]), None)
        return list(seen)

    def subgraph_dot(self, module_prefix: str) -> str:
        """Graphviz DOT of the nodes inside one submodule (say ``layer1.0``), every node
        on its own, with dashed boxes for the tensors that enter it and one output."""
        parts = tuple(module_prefix.split(".")) if module_prefix else ()
        inside = [r for r in self.records if r.scope[:len(parts)] == parts and r.op not in ("placeholder", "output")]
        if not inside or not parts:
            known = ", ".join(self.submodules()[:8])
            raise ValueError(f"no traced nodes inside {module_prefix!r}; submodules include {known}")
        names = {r.name for r in inside}
        strip = len(module_prefix) + 1
        entries: dict[str, GraphNode] = {}
        nodes, edges = [], []
        for r in inside:
            label = r.target[strip:] if r.op in ("call_module", "get_attr") and r.target != module_prefix else None
            nodes.append(self._single(r, label))
            for i in r.inputs:
                if i in names:
                    edges.append((i, r.name))
                    continue
                src = self._by_name[i]
                key = f"in:{i}"
                entries.setdefault(key, GraphNode(key, "input", src.target, src.shape, "io", (i,)))
                edges.append((key, r.name))
        exits = [r.name for r in inside if any(c.name not in names for c in self._consumers.get(r.name, ()))]
        if exits:
            nodes.append(GraphNode("out", "output", "", self._by_name[exits[-1]].shape, "io", ()))
            edges.extend((e, "out") for e in exits)
        edges = list(dict.fromkeys(edges))
        source = {e.key: e.members[0] for e in entries.values()}
        shapes = {(a, b): format_shape(self._by_name[source.get(a, a)].shape) for a, b in edges}
        return _dot([*entries.values(), *nodes], edges, frozenset(entries), {e: t for e, t in shapes.items() if t})


def _fold_runs(nodes: list[GraphNode], unfold: frozenset[str]) -> tuple[list[GraphNode], dict[str, tuple[str, ...]]]:
    """Replace each run of two or more consecutive block boxes with one parent, one class
    and one output shape by a single box; a run whose key is in ``unfold`` stays open.
    The key, "layer3.0…layer3.5", names the first and last block."""
    def signature(n: GraphNode):
        return (n.key.rpartition(".")[0], n.type, n.shape) if n.kind == "group" else None

    runs: list[list[GraphNode]] = []
    for n in nodes:
        if runs and signature(n) is not None and signature(n) == signature(runs[-1][0]):
            runs[-1].append(n)
        else:
            runs.append([n])
    out: list[GraphNode] = []
    folds: dict[str, tuple[str, ...]] = {}
    for run in runs:
        key = f"{run[0].key}…{run[-1].key}"
        if len(run) < 2 or key in unfold:
            out.extend(run)
            continue
        folds[key] = tuple(n.key for n in run)
        members = tuple(m for n in run for m in n.members)
        out.append(GraphNode(key, f"{run[0].key} … {run[-1].key}", run[0].type, run[-1].shape, "group", members,
                             run[0].module, count=len(run)))
    return out, folds
