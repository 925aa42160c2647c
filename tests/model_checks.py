"""Checks every model family's tests share, so each family test reads as a list of
figures and the checks themselves exist once.

The rules checked here come from DESIGN.md: activations are modules used once and never
in place, every model traces with torch.fx, captum's Deconvolution runs without warnings
about the model, and torchvision's state dict loads strictly and gives its logits.
"""

from __future__ import annotations

import warnings
from collections import Counter

import torch
import torchvision
from captum.attr import Deconvolution
from torch import nn

from classifier import create_model, get_card

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
    with torch.device("meta"):
        model = create_model(name, **kwargs)
    return sum(p.numel() for p in model.parameters())


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


def check_forward_backward(model: nn.Module, x: torch.Tensor, num_classes: int) -> None:
    model.train()
    out = model(x)
    logits = out[0] if isinstance(out, (tuple, list)) else out
    assert logits.shape == (x.shape[0], num_classes)
    logits.float().sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None for g in grads), "some parameters got no gradient"
    model.eval()
    with torch.no_grad():
        out = model(x)
    assert out.shape == (x.shape[0], num_classes)
    assert torch.isfinite(out).all()


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


def check_model(name: str, size: int | None = None, batch: int = 2) -> nn.Module:
    """Build, forward/backward in train and eval, fx-trace, activation rules, Deconvolution."""
    torch.manual_seed(0)
    card = get_card(name)
    model = create_model(name)
    x = input_for(name, batch=batch, size=size)
    check_forward_backward(model, x, card.num_classes)
    check_activation_rules(model, x)
    check_fx_trace(model, x)
    check_deconvolution(model, x)
    return model


def check_torchvision_logits(name: str, size: int | None = None, atol: float = 1e-4, **tv_kwargs) -> None:
    """torchvision's randomly initialised state dict loads strictly and gives its logits."""
    card = get_card(name)
    assert card.torchvision, f"{name} has no torchvision counterpart on its card"
    torch.manual_seed(0)
    reference = torchvision.models.get_model(card.torchvision, weights=None, **tv_kwargs).eval()
    ours = create_model(name)
    ours.load_state_dict(reference.state_dict(), strict=True)
    x = input_for(name, batch=2, size=size)
    with torch.no_grad():
        expected, got = reference(x), ours(x)
    assert (expected - got).abs().max().item() <= atol
