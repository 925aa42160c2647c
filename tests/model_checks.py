"""Checks every model family's tests share, so each family test reads as a list of
figures and the checks themselves exist once.

The rules checked here come from DESIGN.md: activations are modules used once and never
in place, every model traces with torch.fx, captum's Deconvolution runs without warnings
about the model, and torchvision's state dict loads strictly and gives its logits.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter

import torch
import torchvision
from captum.attr import Deconvolution
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from classifier import create_model, get_card
from classifier.registry import create_meta_model
from classifier.outputs import PredictionOnly, split_outputs

ACTIVATIONS = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.GELU, nn.SiLU, nn.Hardswish,
    nn.Hardsigmoid, nn.Sigmoid, nn.Tanh, nn.Softplus, nn.PReLU, nn.Mish,
)
# captum announces, once per call, that it hooks ReLUs; that is information, not a fault.
CAPTUM_NOTICE = "Setting backward hooks on ReLU activations"
FUNCTIONAL_ACTIVATIONS = {
    torch.relu, torch.nn.functional.relu, torch.nn.functional.relu6, torch.sigmoid,
    torch.nn.functional.gelu, torch.nn.functional.silu, torch.nn.functional.hardswish,
    torch.tanh, torch.nn.functional.elu, torch.nn.functional.leaky_relu,
}


def meta_param_count(name: str, **kwargs) -> int:
    """Parameters of a registered model, counted without allocating any weights."""
    return sum(p.numel() for p in create_meta_model(name, **kwargs).parameters())


def meta_macs(name: str, size: int | None = None, **kwargs) -> int:
    """Multiply-adds of one image's forward pass (FlopCounterMode's FLOPs / 2), counted on
    the meta device at the card's input size or at ``size``."""
    c, h, w = get_card(name).input_size
    model = create_meta_model(name, **kwargs)
    with torch.device("meta"):
        with FlopCounterMode(display=False) as counter:
            model(torch.empty(1, c, size or h, size or w))
    return counter.get_total_flops() // 2


def input_for(name: str, batch: int = 2, size: int | None = None) -> torch.Tensor:
    c, h, w = get_card(name).input_size
    if size is not None:
        h = w = size
    return torch.randn(batch, c, h, w)


def assert_close_to_reference(measured: int, reference: int, rel: float = 0.01) -> None:
    assert abs(measured - reference) <= rel * reference, f"{measured:,} vs reference {reference:,}"


def check_activation_rules(model: nn.Module, x: torch.Tensor) -> None:
    """Every activation module is called exactly once per forward and never in place."""
    calls: Counter[str] = Counter()
    hooks = []
    for name, mod in model.named_modules():
        if isinstance(mod, ACTIVATIONS):
            assert not getattr(mod, "inplace", False), f"{name} is in place"
            hooks.append(mod.register_forward_hook(lambda m, i, o, n=name: calls.update([n])))
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    reused = {n: c for n, c in calls.items() if c > 1}
    assert not reused, f"activation modules used more than once: {reused}"


def check_fx_trace(model: nn.Module, x: torch.Tensor) -> torch.fx.GraphModule:
    """The model traces in eval mode, has no functional activations, and the traced
    graph computes the same logits."""
    model.eval()
    gm = torch.fx.symbolic_trace(model)
    functional = [n.name for n in gm.graph.nodes if n.op == "call_function" and n.target in FUNCTIONAL_ACTIVATIONS]
    assert not functional, f"functional activations hide from captum: {functional}"
    with torch.no_grad():
        torch.testing.assert_close(gm(x), model(x))
    return gm


def check_forward_backward(model: nn.Module, x: torch.Tensor, num_classes: int):
    """In training a net with auxiliary classifiers (GoogLeNet, Inception-v3) returns a
    tuple whose first item is the logits; every item then takes part in the loss, so the
    auxiliary heads must receive gradients too. In eval mode the logits come alone, except
    from a multi-exit net (MSDNet), which returns every exit's logits, earliest first
    (see :mod:`classifier.outputs`)."""
    model.train()
    out = model(x)
    outputs = list(out) if isinstance(out, (tuple, list)) else [out]
    for logits in outputs:
        assert logits.shape == (x.shape[0], num_classes)
    sum(o.float().sum() for o in outputs).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None for g in grads), "some parameters got no gradient"
    model.eval()
    with torch.no_grad():
        out = model(x)
    # A multi-exit net (MSDNet) returns every exit's logits in eval mode too.
    main, others = split_outputs(out)
    for logits in [main, *others]:
        assert logits.shape == (x.shape[0], num_classes)
        assert torch.isfinite(logits).all()
    return out


def check_deconvolution(model: nn.Module, x: torch.Tensor) -> None:
    """captum's Deconvolution runs on the model and warns about nothing but its notice."""
    model.eval()
    inp = x[:1].clone().requires_grad_(True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        attr = Deconvolution(model).attribute(inp, target=0)
    messages = [str(w.message) for w in caught if CAPTUM_NOTICE not in str(w.message)]
    assert not messages, messages
    assert attr.shape == inp.shape and torch.isfinite(attr).all()


def check_model(name: str, size: int | None = None, batch: int = 2, **model_kwargs) -> nn.Module:
    """Build, forward/backward in train and eval, fx-trace, activation rules, Deconvolution.
    ``model_kwargs`` go to the builder (a ViT's ``image_size`` must match ``size``)."""
    torch.manual_seed(0)
    card = get_card(name)
    model = create_model(name, **model_kwargs)
    x = input_for(name, batch=batch, size=size)
    check_forward_backward(model, x, card.num_classes)
    check_activation_rules(model, x)
    check_fx_trace(model, x)
    check_deconvolution(PredictionOnly(model), x)
    return model


def _make_logits_informative(model: nn.Module, x: torch.Tensor) -> None:
    """Give a freshly initialised net logits worth comparing. Parameters that start at
    zero (ViT's head, many biases) are redrawn, and BatchNorm statistics are set from the
    batch itself: with default statistics, nets whose init shrinks the signal (the
    depthwise convs of MobileNet/EfficientNet) give logits of 1e-14, equal to anything."""
    with torch.no_grad():
        for p in model.parameters():
            if not p.any():
                p.normal_(0.0, 0.02)
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average: after one batch, that batch's statistics
    if norms:
        model.train()
        with torch.no_grad():
            model(x)
    model.eval()


def check_torchvision_logits(
    name: str, size: int | None = None, atol: float = 1e-4, model_kwargs: dict | None = None, **tv_kwargs
) -> None:
    """Our randomly initialised state dict and torchvision's model match key for key and
    shape for shape (``strict=True``) and give the same logits. ``tv_kwargs`` go to
    torchvision's builder and ``model_kwargs`` to ours (for example the same
    ``image_size`` for a ViT); ``atol`` is relative to the largest logit.

    torchvision's model is built on the meta device and takes our tensors, so only one
    net is initialised (VGG's init alone takes seconds); one with buffers outside its
    state dict, which would stay on the meta device, is built for real instead."""
    card = get_card(name)
    assert card.torchvision, f"{name} has no torchvision counterpart on its card"
    torch.manual_seed(0)
    ours = create_model(name, **(model_kwargs or {}))
    x = input_for(name, batch=2, size=size)
    _make_logits_informative(ours, x)
    with torch.device("meta"):
        reference = torchvision.models.get_model(card.torchvision, weights=None, **tv_kwargs)
    reference.load_state_dict(ours.state_dict(), strict=True, assign=True)
    if any(t.is_meta for t in [*reference.parameters(), *reference.buffers()]):
        reference = torchvision.models.get_model(card.torchvision, weights=None, **tv_kwargs)
        reference.load_state_dict(ours.state_dict(), strict=True)
    reference.eval()
    with torch.no_grad():
        expected, got = reference(x), ours(x)
    scale = expected.abs().max().item()
    assert expected.std().item() > 1e-3, f"reference logits too uniform to compare (scale {scale:.2e})"
    assert (expected - got).abs().max().item() <= atol * max(1.0, scale)


class _StagesSeen(Exception):
    """Raised by a hook once every stage has been seen, to skip the rest of the forward
    (the head of a net such as LeNet only accepts the card's input size)."""


def _stage_shapes(model: nn.Module, x: torch.Tensor, modules: list[str]) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}

    def record(name: str):
        def hook(mod, inp, out):
            shapes.setdefault(name, tuple(out.shape))
            if len(shapes) == len(modules):
                raise _StagesSeen

        return hook

    hooks = [model.get_submodule(m).register_forward_hook(record(m)) for m in modules]
    try:
        model(x)
    except _StagesSeen:
        pass
    finally:
        for h in hooks:
            h.remove()
    return shapes


def _same(x: torch.Tensor) -> torch.Tensor:
    return x


def measure_stages(name: str, size: int | None = None) -> list[tuple[str, int, float]]:
    """(module, channels, stride) of each card stage, measured with forward hooks on the
    meta device. The stride is the growth of the input over the growth of the stage output
    between two inputs that differ by a multiple of every stride, so it is the cumulative
    stride whatever the padding (a valid 5×5 conv shrinks the map but has stride 1)."""
    card = get_card(name)
    modules = [s.module for s in card.stages]
    c, h, _ = card.input_size
    h = size or h
    step = math.lcm(*(s.stride for s in card.stages))
    model = create_meta_model(name)
    # BatchNorm keeps shapes, and on the meta device it runs through slow Python
    # decompositions (most of the time of a BN-heavy net such as NASNet): skip it here.
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.forward = _same
    seen = []
    for side in (h, h + step):
        with torch.device("meta"):
            seen.append(_stage_shapes(model, torch.empty(1, c, side, side), modules))
    missing = [m for m in modules if m not in seen[0]]
    assert not missing, f"stage modules never ran: {missing}"
    growth = {m: seen[1][m][-1] - seen[0][m][-1] for m in modules}
    # A map that does not grow with the input (after a global pool) has no finite stride.
    return [(m, seen[0][m][1], step / growth[m] if growth[m] else math.inf) for m in modules]


def check_stages(name: str, size: int | None = None) -> None:
    """The card's stages name real submodules with those output channels and strides,
    in order of non-decreasing stride. Only a net without spatial layers (a fully
    connected net on flattened pixels) may have no stages: it has no resolutions."""
    card = get_card(name)
    if not card.stages:
        spatial = [n for n, m in create_meta_model(name).named_modules() if isinstance(m, nn.modules.conv._ConvNd)]
        assert not spatial, f"{name} has no stages on its card but has convolutions: {spatial[:3]}"
        return
    strides = [s.stride for s in card.stages]
    assert strides == sorted(strides), f"stages out of stride order: {strides}"
    assert measure_stages(name, size) == [(s.module, s.channels, s.stride) for s in card.stages]


def check_torchvision_names_and_shapes(name: str) -> nn.Module:
    """torchvision's state dict keys and shapes, and its normalisation settings (eps,
    momentum: not in the state dict, yet they change the logits of pretrained weights),
    compared on the meta device: free even for nets too big to run twice in a test
    (ViT-H), whose logits are then compared on a smaller sibling built by the same code.
    Returns our model, still on the meta device."""
    card = get_card(name)
    assert card.torchvision, f"{name} has no torchvision counterpart on its card"
    with torch.device("meta"):
        reference = torchvision.models.get_model(card.torchvision, weights=None)
        ours = create_model(name)
    expected = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == expected

    def norms(model: nn.Module) -> list[tuple]:
        kinds = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm)
        return [(n, m.eps, getattr(m, "momentum", None)) for n, m in model.named_modules() if isinstance(m, kinds)]

    assert norms(ours) == norms(reference)
    return ours
