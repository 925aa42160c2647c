"""Can an attribution map be trusted? Sanity checks and faithfulness measures for every
map the app draws.

A map that explains the *model* must change when the model does. Adebayo et al. ("Sanity
Checks for Saliency Maps", NeurIPS 2018, arXiv 1810.03292) test that two ways: re-initialise
the weights from the top layer down, one layer more at each step (cascading model
randomisation), and compare with a net trained on permuted labels (data randomisation).
They compare maps by the Spearman rank correlation of their absolute values; a method
whose map stays correlated (guided backprop, the deconvnet) is drawing the image's edges,
not the model's reasons. A map that explains the *decision* should also point at pixels the
prediction depends on: deleting the top-ranked pixels first should make the class probability
fall fast, inserting them first into a blurred image should make it rise fast (Petsiuk et
al., "RISE", 2018, arXiv 1806.07421). captum's infidelity and max-sensitivity (Yeh et al.,
NeurIPS 2019, arXiv 1901.09392) add two numbers per map: how well it predicts the effect of
noise on the logit, and how much it moves when the input moves a little.

Randomisation works on a deep copy, never on the caller's model (a cached model is shared
by every browser session).
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from captum.metrics import infidelity, sensitivity_max
from torch import nn
from torch.nn import functional as F
from torchvision.transforms.functional import gaussian_blur

from classifier.compare.agreement import spearman
from classifier.explain.attributions import METHODS, attribute, occlusion
from classifier.explain.layer_info import LayerInfo
from classifier.explain.predict import device_of
from classifier.explain.render import magnitude
from classifier.explain.safety import exclusive
from classifier.outputs import PredictionOnly, main_logits
from classifier.train.runs import list_runs

# Every map the Inspect page offers: captum's attributions, the deconvnet and occlusion.
SANITY_METHODS = {**METHODS, "occlusion": "Occlusion"}
RANDOM_ORDER = "random"  # the reference line of the perturbation curves: pixels in a random order
BASELINES = {
    "blur": "a blurred copy of the image (Gaussian, σ = side/16)",
    "mean": "the dataset mean (zero after normalisation)",
}
Progress = Callable[[int, int], None]


def occlusion_window(side: int) -> tuple[int, int]:
    """(window, stride) of the occluder: 8/4 px on 32×32 inputs, 32/16 px on 224×224,
    as the Inspect page's Occlusion tab starts."""
    window = max(2, side // 4 if side <= 64 else side // 7)
    return window, max(1, window // 2)


def importance(
    model: nn.Module, x: torch.Tensor, method: str, target: int, layer: LayerInfo | None = None
) -> np.ndarray:
    """The (H, W) map of ``method`` as the app shows it: the largest absolute value over
    channels for the gradient methods, Grad-CAM's (non-negative) heat, and for occlusion
    the drop in the class probability when a pixel is covered."""
    if method == "occlusion":
        window, stride = occlusion_window(min(x.shape[-2:]))
        occ = occlusion(model, x, target, window, stride)
        return (occ.base - occ.probability).astype(np.float32)
    return magnitude(attribute(model, x, method, target, layer=layer)).astype(np.float32)


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of ``|a|`` and ``|b|`` (Adebayo et al.'s "absolute value"
    variant: a map's sign flips under randomisation carry no meaning); NaN when either map
    is constant or not finite (a randomised net whose output underflowed to zero)."""
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return float("nan")
    return spearman(np.abs(a), np.abs(b))


def edge_map(x: torch.Tensor) -> np.ndarray:
    """Sobel gradient magnitude of the first image of ``x``, summed over channels: the map
    an explanation that ignores the model tends to resemble (Adebayo et al., Fig. 1)."""
    sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    kernels = torch.stack([sobel, sobel.T])[:, None]  # d/dx, d/dy
    img = x[:1].detach().float().cpu().transpose(0, 1)  # channels as the batch
    grad = F.conv2d(F.pad(img, (1, 1, 1, 1), mode="replicate"), kernels)
    return grad.pow(2).sum(1).sqrt().sum(0).numpy()


# --- cascading model randomisation ----------------------------------------------------------


def parameter_modules(model: nn.Module, x: torch.Tensor) -> list[str]:
    """Names of the modules that own parameters themselves, in the order one forward pass
    first calls them: the bottom of the net first. Modules the prediction never calls (an
    auxiliary head in eval mode) are left out, since they cannot change a map."""
    order: list[str] = []
    owners = {name: m for name, m in model.named_modules() if any(True for _ in m.parameters(recurse=False))}
    hooks = [
        m.register_forward_pre_hook(lambda _m, _i, name=name: order.append(name) if name not in order else None)
        for name, m in owners.items()
    ]
    try:
        with exclusive(model), torch.no_grad():
            model(x[:1].to(device_of(model)))
    finally:
        for h in hooks:
            h.remove()
    return order


@dataclass(frozen=True)
class Step:
    """One step of the cascade: ``label`` names the block it re-initialises, ``modules``
    the parameter-owning modules inside it."""

    label: str
    modules: tuple[str, ...]


OWN_PARAMETERS = "(the model's own parameters)"  # the label of the root module's step (ViT's class token)


def _runs(modules: list[str], depth: int) -> list[Step]:
    """Consecutive modules whose names agree in their first ``depth`` components."""
    steps: list[Step] = []
    for name in modules:
        key = ".".join(name.split(".")[:depth]) or OWN_PARAMETERS
        if steps and steps[-1].label == key:
            steps[-1] = Step(key, (*steps[-1].modules, name))
        else:
            steps.append(Step(key, (name,)))
    return steps


def cascade_steps(modules: list[str], max_steps: int = 20) -> list[Step]:
    """The modules grouped top-down into blocks named like the net's own parts, at the
    deepest level of their names that gives at most ``max_steps`` blocks (``fc``,
    ``layer4.1``, …, ``conv1`` for a ResNet; each layer of a VGG; each Mixed block of
    Inception v3, as the paper's figure goes). Where even the top level has more, the
    modules are cut into ``max_steps`` equal runs."""
    top_down = modules[::-1]
    for depth in range(max((n.count(".") + 1 for n in modules), default=1), 0, -1):
        steps = _runs(top_down, depth)
        if len(steps) <= max_steps:
            return steps
    size = math.ceil(len(top_down) / max_steps)
    chunks = [top_down[i : i + size] for i in range(0, len(top_down), size)]
    return [Step(f"{c[0]} … {c[-1]}" if len(c) > 1 else c[0], tuple(c)) for c in chunks]


def randomise(module: nn.Module) -> None:
    """Re-initialise the parameters ``module`` owns: by PyTorch's own initialisation where
    the module has one (``reset_parameters``, which also resets BatchNorm's statistics),
    else by normal noise with each parameter's own mean and spread (a class token, a
    position embedding, LeNet's subsampling coefficients)."""
    if hasattr(module, "reset_parameters"):
        module.reset_parameters()
        return
    with torch.no_grad():
        for p in module.parameters(recurse=False):
            spread = float(p.std()) if p.numel() > 1 else abs(float(p)) or 1.0
            p.normal_(float(p.mean()), spread or 1.0)


@dataclass
class Cascade:
    """``correlation[method][k]``: rank correlation of the map after steps ``0..k-1`` with
    the original map (index 0 is the original against itself); ``maps[method][k]`` those
    maps; ``edges[method]``: the original map's rank correlation with the image's edges."""

    steps: list[Step]
    correlation: dict[str, list[float]] = field(default_factory=dict)
    maps: dict[str, list[np.ndarray]] = field(default_factory=dict)
    edges: dict[str, float] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        return ["original", *(s.label for s in self.steps)]


def cascading_randomisation(
    model: nn.Module,
    x: torch.Tensor,
    target: int,
    methods: list[str],
    layer: LayerInfo | None = None,
    max_steps: int = 20,
    seed: int = 0,
    progress: Progress | None = None,
) -> Cascade:
    """Adebayo et al.'s cascading test: each method's map of class ``target`` on the model,
    then on a copy whose blocks are re-initialised one more at a time from the top down.
    ``layer`` is Grad-CAM's; it is randomised with its block like every other layer."""
    unknown = [m for m in methods if m not in SANITY_METHODS]
    if unknown:
        raise ValueError(f"unknown method {unknown[0]!r}; choose from {', '.join(SANITY_METHODS)}")
    steps = cascade_steps(parameter_modules(model, x), max_steps)
    with exclusive(model):  # no other session's hooks may be copied along
        net = copy.deepcopy(model)
    result = Cascade(steps)
    image_edges = edge_map(x)
    total, done = (len(steps) + 1) * len(methods), 0

    def record() -> None:
        nonlocal done
        for method in methods:
            m = importance(net, x, method, target, layer)
            result.maps.setdefault(method, []).append(m)
            result.correlation.setdefault(method, []).append(rank_correlation(result.maps[method][0], m))
            done += 1
            if progress:
                progress(done, total)

    record()
    result.edges = {m: rank_correlation(maps[0], image_edges) for m, maps in result.maps.items()}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for step in steps:
            for name in step.modules:
                randomise(net.get_submodule(name))
            record()
    return result


# --- data randomisation ---------------------------------------------------------------------


def data_randomisation(
    model: nn.Module,
    shuffled: nn.Module,
    x: torch.Tensor,
    target: int,
    methods: list[str],
    layer: LayerInfo | None = None,
    progress: Progress | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    """Per method: (the map of ``model``, the map of ``shuffled`` — the same architecture
    trained on permuted labels —, their rank correlation). A faithful method gives two
    different maps, since the shuffled net has learnt nothing about the classes."""
    out = {}
    for n, method in enumerate(methods, start=1):
        a = importance(model, x, method, target, layer)
        b = importance(shuffled, x, method, target, layer)
        out[method] = (a, b, rank_correlation(a, b))
        if progress:
            progress(n, len(methods))
    return out


# --- deletion and insertion curves ----------------------------------------------------------


def baseline_image(x: torch.Tensor, kind: str = "blur") -> torch.Tensor:
    """What removed pixels become (see :data:`BASELINES`)."""
    if kind not in BASELINES:
        raise ValueError(f"unknown baseline {kind!r}; choose {' or '.join(BASELINES)}")
    if kind == "mean":
        return torch.zeros_like(x)
    sigma = max(x.shape[-2:]) / 16
    size = min(2 * math.ceil(3 * sigma) + 1, 2 * (min(x.shape[-2:]) // 2) - 1)  # reflect padding needs < side
    return gaussian_blur(x, [size, size], [sigma, sigma])


@dataclass
class Curves:
    """``deletion[method]`` / ``insertion[method]``: the class probability after each
    fraction in ``fractions`` of the pixels, most important first, was removed / inserted."""

    fractions: np.ndarray
    baseline: str
    deletion: dict[str, np.ndarray] = field(default_factory=dict)
    insertion: dict[str, np.ndarray] = field(default_factory=dict)

    def area(self, kind: str, method: str) -> float:
        """Area under a curve over the fraction 0..1: deletion is better low, insertion high."""
        return float(np.trapezoid(getattr(self, kind)[method], self.fractions))


def perturbation_curves(
    model: nn.Module,
    x: torch.Tensor,
    target: int,
    maps: dict[str, np.ndarray],
    steps: int = 32,
    baseline: str = "blur",
    batch: int = 16,
    seed: int = 0,
    progress: Progress | None = None,
) -> Curves:
    """Petsiuk et al.'s deletion and insertion curves of class ``target`` for each (H, W)
    map in ``maps``, plus :data:`RANDOM_ORDER` (pixels in a random order: the chance level
    a map must beat). Each curve is ``steps`` + 1 images, ``batch`` per forward pass;
    a pixel is removed or inserted in all channels at once."""
    inp = x[:1].to(device_of(model))
    base = baseline_image(inp, baseline)
    h, w = inp.shape[-2:]
    fractions = np.linspace(0.0, 1.0, steps + 1)
    counts = np.rint(fractions * h * w).astype(int)
    rng = np.random.default_rng(seed)
    orders = {name: np.argsort(-m.ravel(), kind="stable") for name, m in maps.items()}
    orders[RANDOM_ORDER] = rng.permutation(h * w)
    curves = Curves(fractions, baseline)
    total, done = 2 * len(orders), 0
    with exclusive(model), torch.no_grad():
        for name, order in orders.items():
            rank = torch.empty(h * w, dtype=torch.long)
            rank[torch.as_tensor(order)] = torch.arange(h * w)
            rank = rank.view(1, 1, h, w).to(inp.device)
            for kind, start, end in (("deletion", inp, base), ("insertion", base, inp)):
                probs = []
                for i in range(0, len(counts), batch):
                    n = torch.as_tensor(counts[i : i + batch], device=inp.device).view(-1, 1, 1, 1)
                    changed = (rank < n).to(inp.dtype)  # the first n pixels of the order
                    images = start * (1 - changed) + end * changed
                    probs.append(main_logits(model(images)).float().softmax(1)[:, target].cpu())
                getattr(curves, kind)[name] = torch.cat(probs).numpy()
                done += 1
                if progress:
                    progress(done, total)
    return curves


# --- captum's infidelity and sensitivity ----------------------------------------------------


def _attribution(model: nn.Module, x: torch.Tensor, method: str, target: int, layer: LayerInfo | None) -> torch.Tensor:
    """(C, H, W) attribution of the first image, in the input's shape: Grad-CAM's and
    occlusion's single-channel maps repeated over the channels."""
    if method == "occlusion":
        m = torch.from_numpy(importance(model, x, method, target, layer))[None]
    else:
        m = attribute(model, x, method, target, layer=layer)
    return m.expand(x.shape[1], -1, -1).to(x.dtype)


@dataclass(frozen=True)
class Fidelity:
    """captum's infidelity (lower: the map better predicts how noise moves the logit) and
    max-sensitivity (lower: the map moves less when the input moves a little)."""

    infidelity: float
    sensitivity: float


def fidelity(
    model: nn.Module,
    x: torch.Tensor,
    target: int,
    method: str,
    layer: LayerInfo | None = None,
    samples: int = 8,
    noise: float = 0.1,
    radius: float = 0.02,
    seed: int = 0,
) -> Fidelity:
    """Infidelity with Gaussian noise of std ``noise`` (in normalised input units) and
    captum's ``normalize=True`` (the map is rescaled by its best fit first, so maps of
    different units compare), and max-sensitivity within a uniform ``radius``; both over
    ``samples`` perturbations, both of the target's logit."""
    inp = x[:1].to(device_of(model))
    forward = PredictionOnly(model)

    def perturb(inputs: torch.Tensor):
        noise_ = noise * torch.randn_like(inputs)
        return noise_, inputs - noise_

    def explain(inputs, **_) -> tuple[torch.Tensor]:  # captum passes and expects 1-tuples here
        batch = inputs[0] if isinstance(inputs, tuple) else inputs
        return (torch.stack([_attribution(model, row[None], method, target, layer) for row in batch]).to(batch.device),)

    with torch.random.fork_rng(devices=[]), exclusive(model):
        torch.manual_seed(seed)
        attr = _attribution(model, inp, method, target, layer)[None].to(inp.device)
        infid = infidelity(forward, perturb, inp, attr, target=target, n_perturb_samples=samples, normalize=True)
        sens = sensitivity_max(explain, inp, perturb_radius=radius, n_perturb_samples=samples)
    return Fidelity(float(infid[0]), float(sens[0]))


# --- runs trained on shuffled labels --------------------------------------------------------

SHUFFLED_LABEL_DATASETS = ("digits_shuffled",)  # see classifier.data.catalog


def shuffled_label_runs(model_name: str, root: str | os.PathLike | None = None) -> dict[str, Path]:
    """{run id: its best checkpoint} of the training runs of ``model_name`` on a dataset
    whose training labels are shuffled, newest first: the other half of Adebayo et al.'s
    data-randomisation test."""
    found = {}
    for run in list_runs(root):
        try:
            config = run.read_config()
        except (OSError, ValueError):
            continue  # a run folder being written, or from an older version: not one to compare with
        checkpoint = run.best_checkpoint if run.best_checkpoint.is_file() else run.last_checkpoint
        if config.model == model_name and config.dataset in SHUFFLED_LABEL_DATASETS and checkpoint.is_file():
            found[run.run_id] = checkpoint
    return found
