"""Vision Transformer (Dosovitskiy et al. 2020): torchvision-compatible B/L/H, the DeiT
sizes, ViT-Lite for 32×32 images, and attention maps reachable through hooks."""

import pytest
import torch
import torchvision
from model_checks import (
    assert_close_to_reference,
    check_model,
    check_stages,
    check_torchvision_logits,
    check_torchvision_names_and_shapes,
    meta_macs,
    meta_param_count,
)

from classifier import create_model, get_card, list_models

TORCHVISION = ["vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32", "vit_h_14"]
ALL = list_models(family="ViT")

# Parameter counts at 224×224 with 1000 classes. torchvision: weights metadata
# num_params of IMAGENET1K_V1 (vit_h_14 has only 518-pixel SWAG weights, so its 224
# figure is the count of torchvision's own vit_h_14() build, whose shapes ours equal). DeiT sizes:
# timm's deit_tiny_patch16_224 / deit_small_patch16_224 (DeiT Table 1: 5M, 22M).
PARAMS = {
    "vit_ti_16": 5_717_416,
    "vit_s_16": 22_050_664,
    "vit_b_16": 86_567_656,
    "vit_b_32": 88_224_232,
    "vit_l_16": 304_326_632,
    "vit_l_32": 306_535_400,
    "vit_h_14": 632_045_800,
}


def test_registered_variants():
    assert set(PARAMS) <= set(ALL)
    assert list_models(family="ViT", small_input=True) == ["vit_lite_7_4_cifar"]


@pytest.mark.parametrize("name", ["vit_ti_16", "vit_s_16"])
def test_deit_parameter_counts(name):
    assert meta_param_count(name) == get_card(name).paper_params == PARAMS[name]


@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_names_shapes_and_parameter_count(name):
    model = check_torchvision_names_and_shapes(name)
    assert sum(p.numel() for p in model.parameters()) == get_card(name).paper_params == PARAMS[name]
    if name != "vit_h_14":
        assert torchvision.models.get_model_weights(name).IMAGENET1K_V1.meta["num_params"] == PARAMS[name]


def test_vit_lite_parameters():
    # Hassani et al. 2021 (arXiv 2104.05704), SHI-Labs/Compact-Transformers README:
    # ViT-Lite-7/4 on CIFAR-10 has 3.717M parameters.
    assert get_card("vit_lite_7_4_cifar").paper_params == 3_717_000
    assert_close_to_reference(meta_param_count("vit_lite_7_4_cifar"), 3_717_000)


def test_torchvision_logits():
    # At 64×64 (16 patches) the encoder is the same code as at 224. B/32, L and H share
    # every class with B/16 and are compared by names, shapes and norms only, to keep
    # the file cheap.
    check_torchvision_logits("vit_b_16", size=64, model_kwargs={"image_size": 64}, image_size=64)


# DeiT (arXiv 2012.12877) Table 1, FLOPs (multiply-adds) at 224: ViT-Ti 1.3B, ViT-S
# 4.6B, ViT-B 17.6B (torchvision lists 17.564 GFLOPS for vit_b_16).
DEIT_GMACS = {"vit_ti_16": 1.3, "vit_s_16": 4.6, "vit_b_16": 17.6}


@pytest.mark.parametrize("name", DEIT_GMACS)
def test_macs(name):
    assert_close_to_reference(meta_macs(name), int(DEIT_GMACS[name] * 1e9), rel=0.05)


@pytest.mark.parametrize(
    "name, size",
    [("vit_lite_7_4_cifar", None), ("vit_ti_16", 64), ("vit_s_16", 64)],
)
def test_model_rules(name, size):
    # ImageNet ViTs are built for 64×64 inputs (image_size sets the position embeddings).
    # B, L and H (86M to 632M parameters) are the same classes with larger numbers and
    # are left out to keep the file within its time budget.
    kwargs = {} if size is None else {"image_size": size}
    check_model(name, size=size, **kwargs)


@pytest.mark.parametrize("name", ALL)
def test_stages(name):
    check_stages(name)


def test_attention_maps_reach_forward_hooks():
    model = create_model("vit_lite_7_4_cifar")
    maps = {}
    for i, block in enumerate(model.encoder.layers):
        block.self_attention.softmax.register_forward_hook(lambda m, inp, out, i=i: maps.setdefault(i, out))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        logits = model(x)
    assert sorted(maps) == list(range(7))
    # (batch, heads, tokens, tokens): 4 heads, 8×8 patches + the class token.
    assert all(m.shape == (2, 4, 65, 65) for m in maps.values())
    torch.testing.assert_close(maps[0].sum(-1), torch.ones(2, 4, 65))
    # The hooks only watch: the traced graph calls the same softmax modules, same logits.
    gm = torch.fx.symbolic_trace(model)
    called = {n.target for n in gm.graph.nodes if n.op == "call_module"}
    assert all(f"encoder.layers.encoder_layer_{i}.self_attention.softmax" in called for i in range(7))
    torch.testing.assert_close(gm(x), logits)


def test_attention_equals_torch_multihead_attention():
    from classifier.models.vit import SelfAttention

    torch.manual_seed(0)
    ours = SelfAttention(64, 4).eval()
    reference = torch.nn.MultiheadAttention(64, 4, batch_first=True).eval()
    reference.load_state_dict(ours.state_dict())
    x = torch.randn(2, 10, 64)
    with torch.no_grad():
        expected, weights = reference(x, x, x, need_weights=True, average_attn_weights=False)
        maps = []
        ours.softmax.register_forward_hook(lambda m, i, o: maps.append(o))
        torch.testing.assert_close(ours(x), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(maps[0], weights, rtol=1e-5, atol=1e-6)
