"""Layer similarity by linear centred kernel alignment (CKA).

Kornblith, Norouzi, Lee and Hinton, "Similarity of Neural Network Representations
Revisited", 2019, arXiv 1905.00414. Two layers are compared through the same batch of
images: each layer's outputs form an n×p matrix (one flattened output per image), and
linear CKA compares the two n×n Gram matrices after centring them,

    CKA(K, L) = <HKH, HLH> / (‖HKH‖ ‖HLH‖),   K = X Xᵀ, L = Y Yᵀ, H = I − 11ᵀ/n.

Working on Gram matrices is what lets layers of any width be compared, and it gives the
invariances the paper argues for: a rotation or a uniform scaling of a layer's features
leaves CKA unchanged, while an arbitrary invertible linear map does not (a measure that
ignored those would call every pair of wide layers identical). Only the n×n Gram matrix
of each layer is kept, computed in a forward hook as the batch passes, so even the
56×56×256 maps of a ResNet-50 cost n² numbers each.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable

import numpy as np
import plotly.graph_objects as go
import torch
from PIL import Image
from torch import nn

from classifier.compare.image_sets import batch
from classifier.compare.views import stage_specs
from classifier.explain import explainable_layers
from classifier.explain.predict import device_of
from classifier.explain.safety import exclusive
from classifier.weights import LoadedModel

# Features per slice when forming a Gram matrix in float64: a 64-image batch of a
# 800k-feature map then needs 32 MB at a time instead of 400 MB.
GRAM_SLICE = 1 << 16
# Activations that are representations; sigmoid-like ones gate channels (SE blocks) and
# softmax normalises attention, so neither is offered as a layer to compare.
ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU,
               nn.Mish, nn.Hardswish, nn.Tanh)
CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
LAYER_SETS = {
    "blocks": "Repeated blocks (bottlenecks, encoder blocks, …)",
    "stages": "Stage outputs (one per stride)",
    "activations": "Every activation",
}
# A heat map with more rows than this is unreadable, and each layer costs a Gram matrix.
MAX_LAYERS = 48


def gram(features: torch.Tensor) -> torch.Tensor:
    """X Xᵀ in float64 for a batch of outputs of any shape (n, ...)."""
    x = features.detach().reshape(features.shape[0], -1)
    k = torch.zeros(x.shape[0], x.shape[0], dtype=torch.float64, device=x.device)
    for start in range(0, x.shape[1], GRAM_SLICE):
        part = x[:, start:start + GRAM_SLICE].double()
        k += part @ part.T
    return k.cpu()


def centre(k: torch.Tensor) -> torch.Tensor:
    """H K H: the Gram matrix of the features with each feature's mean removed."""
    return k - k.mean(0, keepdim=True) - k.mean(1, keepdim=True) + k.mean()


def _unit(k: torch.Tensor) -> torch.Tensor:
    """The centred Gram matrix scaled to Frobenius norm 1 (zero if it has no variance)."""
    c = centre(k.double())
    norm = torch.linalg.matrix_norm(c)
    return c / norm if norm > 0 else torch.zeros_like(c)


def cka(k: torch.Tensor, l: torch.Tensor) -> float:
    """Linear CKA of two Gram matrices over the same n examples, in [0, 1]."""
    if k.shape != l.shape:
        raise ValueError(f"Gram matrices of {k.shape[0]} and {l.shape[0]} examples cannot be compared")
    return float((_unit(k) * _unit(l)).sum())


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Linear CKA of two representations of the same examples, (n, p) and (n, q)."""
    return cka(gram(x), gram(y))


def cka_matrix(grams_a: list[torch.Tensor], grams_b: list[torch.Tensor]) -> np.ndarray:
    """CKA of every layer of ``a`` against every layer of ``b``: (len(a), len(b))."""
    a = torch.stack([_unit(k).flatten() for k in grams_a])
    b = torch.stack([_unit(k).flatten() for k in grams_b])
    return (a @ b.T).clamp(0, 1).numpy()


# --- which layers -----------------------------------------------------------------------


def _members(module: nn.Module, prefix: str = "") -> list[tuple[str, nn.Module]]:
    """A module's children, looking through plain containers (ResNet's ``layer1`` is a
    Sequential that only groups bottlenecks; subclasses of containers are real blocks)."""
    out = []
    for name, child in module.named_children():
        if type(child) in CONTAINERS:
            out += _members(child, f"{prefix}{name}.")
        else:
            out.append((f"{prefix}{name}", child))
    return out


def repeated_blocks(model: nn.Module, prefix: str = "") -> list[str]:
    """The network's building blocks, in definition order: at the outermost level where
    some kind of composite module occurs more than once (ResNet's bottlenecks, ViT's
    encoder blocks, Inception's modules), every composite module there — so Inception's
    one-off reduction modules count too. Levels without repetition are looked into."""
    members = [(name, m) for name, m in _members(model) if any(True for _ in m.children())]
    kinds = Counter(type(m) for _, m in members)
    if any(count > 1 for count in kinds.values()):
        return [prefix + name for name, _ in members]
    return [block for name, m in members for block in repeated_blocks(m, f"{prefix}{name}.")]


def activation_layers(model: nn.Module) -> list[str]:
    """Every activation module (each is used once, so each is one layer's output)."""
    return [n for n, m in model.named_modules() if isinstance(m, ACTIVATIONS)]


def layer_set(loaded: LoadedModel, kind: str, limit: int = MAX_LAYERS) -> tuple[list[str], str]:
    """The layers of ``kind`` (a key of LAYER_SETS) to compare, at most ``limit`` spread
    evenly, and the kind actually used: a net without repeated blocks (VGG, AlexNet)
    falls back to its activations."""
    if kind not in LAYER_SETS:
        raise ValueError(f"unknown layer set {kind!r}; choose one of {', '.join(LAYER_SETS)}")
    model = loaded.model
    if kind == "blocks" and len(repeated_blocks(model)) < 2:
        kind = "activations"
    if kind == "stages":
        layers = explainable_layers(loaded.name, tuple(loaded.input_size), model)
        names = [s.module for s in stage_specs(loaded.name, tuple(loaded.input_size), layers)]
    else:
        names = repeated_blocks(model) if kind == "blocks" else activation_layers(model)
    return evenly(names, limit), kind


def evenly(names: list[str], limit: int) -> list[str]:
    """At most ``limit`` names spread evenly from first to last, keeping both ends."""
    if len(names) <= limit:
        return list(names)
    picks = np.linspace(0, len(names) - 1, limit).round().astype(int)
    return [names[i] for i in sorted(set(picks.tolist()))]


# --- Gram matrices of a model's layers ----------------------------------------------------


def layer_grams(model: nn.Module, x: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
    """The Gram matrix of each named module's output for the batch ``x``, in one forward
    pass. A module whose output is not one tensor per example (a tuple of attention
    weights, a shared buffer) is left out of the result."""
    n = x.shape[0]
    grams: dict[str, torch.Tensor] = {}

    def keep(name: str) -> Callable:
        def hook(_module, _inputs, output):
            if isinstance(output, torch.Tensor) and output.dim() >= 1 and output.shape[0] == n:
                grams[name] = gram(output)
        return hook

    with exclusive(model), torch.no_grad():
        handles = [model.get_submodule(name).register_forward_hook(keep(name)) for name in layers]
        try:
            model(x.to(device_of(model)))
        finally:
            for h in handles:
                h.remove()
    return {name: grams[name] for name in layers if name in grams}


# --- two models over one image set -----------------------------------------------------------


@dataclass
class Similarity:
    """``matrix[i, j]``: CKA of layer ``layers_a[i]`` of model a with ``layers_b[j]`` of
    model b over ``images`` images; ``kinds``: the layer set used on each side."""

    layers_a: list[str]
    layers_b: list[str]
    matrix: np.ndarray
    images: int
    kinds: tuple[str, str]

    def diagonal(self) -> np.ndarray | None:
        """CKA of each layer with its namesake, when both sides have the same layers
        (one model at two checkpoints, or a model with itself)."""
        return np.diag(self.matrix).copy() if self.layers_a == self.layers_b else None


def similarity(a: LoadedModel, b: LoadedModel, images: list[Image.Image], kind: str = "blocks",
               limit: int = MAX_LAYERS) -> Similarity:
    """Linear CKA between the layers of ``a`` and ``b`` over ``images``, each model fed
    the images through its own preprocessing."""
    if len(images) < 3:
        raise ValueError(f"CKA needs at least 3 images; the set has {len(images)}")
    sides = []
    for loaded in (a, b) if b is not a else (a,):
        names, used = layer_set(loaded, kind, limit)
        grams = layer_grams(loaded.model, batch(images, loaded.preprocess), names)
        sides.append((list(grams), list(grams.values()), used))
    (names_a, grams_a, kind_a), (names_b, grams_b, kind_b) = sides[0], sides[-1]
    return Similarity(names_a, names_b, cka_matrix(grams_a, grams_b), len(images), (kind_a, kind_b))


def similarity_figure(sim: Similarity, title_a: str, title_b: str) -> go.Figure:
    """The CKA matrix as a heat map, model a's layers down, model b's across, first
    layers at the top left as in Kornblith et al.'s figures."""
    z = np.round(sim.matrix, 3).tolist()
    small = sim.matrix.size <= 144  # values written in the cells while they stay legible
    fig = go.Figure(go.Heatmap(
        z=z, x=sim.layers_b, y=sim.layers_a, zmin=0, zmax=1, colorscale="Magma", colorbar=dict(title="CKA"),
        text=z if small else None, texttemplate="%{text:.2f}" if small else None,
        hovertemplate=f"{title_a}: %{{y}}<br>{title_b}: %{{x}}<br>CKA %{{z:.3f}}<extra></extra>",
    ))
    size = max(360, min(900, 22 * max(len(sim.layers_a), len(sim.layers_b)) + 200))
    fig.update_layout(
        title=f"Linear CKA over {sim.images} images", height=size,
        xaxis=dict(title=title_b, type="category", tickangle=-45),
        yaxis=dict(title=title_a, type="category", autorange="reversed"),
        margin=dict(l=10, r=10, t=50, b=10),
    )
    return fig
