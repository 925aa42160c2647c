"""The Concepts page's numbers, each checked against an independent computation."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from classifier.concepts import activations, conv_arithmetic, efficient_conv, label_smoothing, normalization, regularization
from classifier.concepts.conv_arithmetic import ConvSpec


@pytest.mark.parametrize("name", list(activations.ACTIVATIONS))
def test_activation_derivative_matches_finite_differences(name):
    c = activations.curve(name, -3, 3, 301)
    x, y, dy = (torch.tensor(c[k], dtype=torch.float64) for k in ("x", "y", "dy"))
    numeric = (y[2:] - y[:-2]) / (x[2:] - x[:-2])
    # Hard-swish and ReLU have kinks; away from them the slopes agree.
    smooth = (x[1:-1].abs() > 0.05) & ((x[1:-1].abs() - 3).abs() > 0.05)
    assert torch.allclose(numeric[smooth], dy[1:-1][smooth], atol=1e-3)


def test_sigmoid_derivative_peaks_at_a_quarter():
    dy = activations.curve("sigmoid")["dy"]
    assert max(dy) == pytest.approx(0.25, abs=1e-6)


def test_sigmoid_gradients_vanish_and_relu_units_die():
    sig = activations.gradient_through_stack("sigmoid", depth=20)
    assert sig.grad_norm[0] < 1e-4 * sig.grad_norm[-1]  # each sigmoid multiplies by ≤ 0.25
    relu = activations.gradient_through_stack("ReLU", depth=20)
    assert 0.05 < relu.grad_norm[0] / relu.grad_norm[-1] < 20  # ReLU keeps them in range
    shifted = activations.gradient_through_stack("ReLU", depth=20, bias_shift=-1.0)
    assert shifted.dead_fraction[-1] > 0.5 > relu.dead_fraction[-1]


def test_a_vanishing_sigmoid_gradient_is_not_counted_as_dead_units():
    """Fifty sigmoid layers shrink the gradient by far more than float32 can hold, yet
    no sigmoid unit is dead: its derivative is never zero."""
    sig = activations.gradient_through_stack("sigmoid", depth=50)
    assert 0 < sig.grad_norm[0] < 1e-20 * sig.grad_norm[-1]
    assert max(sig.dead_fraction) == 0


@pytest.mark.parametrize("spec", [
    ConvSpec(32, 3, 16, 3, 1, 1),
    ConvSpec(224, 3, 64, 7, 2, 3, bias=False),
    ConvSpec(17, 8, 8, 3, 2, 2, dilation=2, groups=4),
    ConvSpec(9, 6, 12, 5, 3, 0, groups=3),
])
def test_conv_arithmetic_matches_torch(spec):
    layer = efficient_conv.build(spec)
    x = torch.randn(1, spec.in_channels, spec.in_size, spec.in_size)
    with FlopCounterMode(display=False) as counter:
        out = layer(x)
    assert out.shape[-1] == spec.out_size
    assert sum(p.numel() for p in layer.parameters()) == spec.params
    assert counter.get_total_flops() // 2 == spec.macs


def test_conv_settings_are_validated():
    assert "divide" in ConvSpec(8, 3, 8, 3, groups=2).validate()
    assert "does not fit" in ConvSpec(4, 3, 8, 7).validate()
    assert ConvSpec(8, 4, 8, 3, groups=2, padding=1).validate() is None


def test_conv_receptive_field_agrees_with_the_analysis():
    from classifier.analysis import analyze

    spec = ConvSpec(33, 3, 4, 3, 2, 1, dilation=3)
    a = analyze(nn.Sequential(efficient_conv.build(spec)), input_size=(3, 33, 33))
    assert a.final_rf == spec.receptive_field


@pytest.mark.parametrize("size, k, s, p, op", [(5, 3, 2, 1, 0), (7, 4, 2, 1, 0), (8, 3, 1, 0, 0), (4, 3, 2, 1, 1)])
def test_transposed_conv_size_matches_torch(size, k, s, p, op):
    layer = nn.ConvTranspose2d(1, 1, k, s, p, output_padding=op)
    assert layer(torch.zeros(1, 1, size, size)).shape[-1] == conv_arithmetic.transposed_out_size(size, k, s, p, op)


def test_transposed_conv_inverts_conv_shape():
    spec = ConvSpec(32, 1, 1, 3, 2, 1)
    assert conv_arithmetic.transposed_out_size(spec.out_size, 3, 2, 1, output_padding=1) == 32


@pytest.mark.parametrize("kind, module", [
    ("BatchNorm", lambda c: nn.BatchNorm2d(c, affine=False)),
    ("LayerNorm", lambda c: nn.GroupNorm(1, c, affine=False)),
    ("InstanceNorm", lambda c: nn.InstanceNorm2d(c)),
    ("GroupNorm", lambda c: nn.GroupNorm(2, c, affine=False)),
])
def test_normalisation_axes_match_torch_modules(kind, module):
    x = torch.randn(3, 4, 5, 5)
    ids = normalization.statistic_groups(kind, 3, 4, groups=2)
    assert torch.allclose(normalization.normalize_by_groups(x, ids), module(4).train()(x), atol=1e-5)


def test_layernorm_axes_also_match_nn_layernorm():
    x = torch.randn(2, 3, 4, 4)
    ids = normalization.statistic_groups("LayerNorm", 2, 3)
    assert torch.allclose(normalization.normalize_by_groups(x, ids), nn.LayerNorm([3, 4, 4], elementwise_affine=False)(x), atol=1e-5)


def test_batchnorm_statistics_get_noisier_with_small_batches():
    feats = torch.randn(5000) * 3 + 1
    rows = normalization.batch_statistic_noise(feats, [2, 8, 64])
    errs = [r["mean_error"] for r in rows]
    assert errs[0] > errs[1] > errs[2]
    # The mean of b draws strays by about σ·sqrt(2/(πb)) on average (half-normal mean).
    assert errs[2] == pytest.approx(3 * math.sqrt(2 / (math.pi * 64)), rel=0.2)


def test_batchnorm_train_and_eval_differ_until_running_stats_converge():
    x = torch.randn(16, 3, 4, 4) * 2 + 5
    one = normalization.train_eval_difference(x, steps=1)
    many = normalization.train_eval_difference(x, steps=200)
    assert (one["train"] - one["eval"]).abs().max() > 1
    assert (many["train"] - many["eval"]).abs().max() < 0.05


def test_dropout_keeps_expectation_and_is_identity_in_eval():
    stats = regularization.expectation_check(0.3)
    assert stats["kept_fraction"] == pytest.approx(0.7, abs=0.01)
    assert stats["mean"] == pytest.approx(1.0, abs=0.02)
    x = torch.randn(50)
    assert torch.equal(regularization.dropout_pass(x, 0.5, training=False), x)


def test_droppath_drops_whole_samples_and_not_in_eval():
    factors = regularization.droppath_pass(1000, 0.25, training=True)
    assert set(round(f, 5) for f in factors) == {0.0, round(1 / 0.75, 5)}
    assert regularization.droppath_pass(10, 0.25, training=False) == [1.0] * 10


def test_efficient_conv_costs_match_the_torch_layers():
    rows = {r["design"]: r for r in efficient_conv.cost_table(14, 64, 128, 3, 4)}
    for name, layers in efficient_conv.variants(14, 64, 128, 3, 4).items():
        mods = [efficient_conv.build(s) for s in layers]
        assert rows[name]["params"] == sum(p.numel() for m in mods for p in m.parameters())
    # Depthwise-separable costs 1/C_out + 1/k² of a standard conv (MobileNet paper, eq. 5).
    assert rows["depthwise-separable"]["macs_ratio"] == pytest.approx(1 / 128 + 1 / 9)
    assert rows["group (g=4)"]["params_ratio"] == pytest.approx(1 / 4)


def test_channel_shuffle_matches_reshape_transpose_and_connects_groups():
    perm = efficient_conv.shuffle_permutation(6, 3)
    x = torch.arange(6.0).view(1, 6, 1, 1)
    shuffled = x.view(1, 3, 2, 1, 1).transpose(1, 2).reshape(1, 6, 1, 1)
    assert shuffled.flatten().long().tolist() == perm
    assert sum(map(sum, efficient_conv.group_connectivity(6, 3, shuffle=False))) == 6 * 2
    # With at least as many channels per group as groups, one shuffle mixes every group.
    assert all(all(row) for row in efficient_conv.group_connectivity(9, 3, shuffle=True))
    assert not all(all(row) for row in efficient_conv.group_connectivity(9, 3, shuffle=False))


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_label_smoothing_loss_matches_torch(eps):
    logits = torch.randn(10)
    expected = F.cross_entropy(logits[None], torch.tensor([4]), label_smoothing=eps).item()
    assert label_smoothing.loss_by_hand(logits, 4, eps) == pytest.approx(expected, rel=1e-5)
    assert sum(label_smoothing.smoothed_target(10, 4, eps)) == pytest.approx(1.0)


def test_label_smoothing_has_a_finite_best_margin():
    k, eps = 10, 0.1
    margins = [i / 10 for i in range(0, 150)]
    rows = label_smoothing.loss_against_confidence(k, eps, margins)
    best = min(rows, key=lambda r: r["loss"])["margin"]
    q = 1 - eps + eps / k  # the loss is lowest where softmax equals the smoothed target
    assert best == pytest.approx(math.log(q * k / eps), abs=0.06)


def test_deleting_a_block_equals_zeroing_its_residual_branch():
    """Independent check of the deletion: with its last BatchNorm zeroed a block's branch
    adds nothing, so the block outputs relu(shortcut(x)) — the shortcut itself, since block
    inputs are non-negative."""
    from classifier import create_model
    from classifier.concepts.ensemble import DeletedBlock, blocks

    torch.manual_seed(0)
    model, x = create_model("resnet20_cifar"), torch.randn(4, 3, 32, 32)
    for name, stage, i in blocks(model):
        block = stage[i]
        stage[i] = DeletedBlock(block.downsample)
        with torch.no_grad():
            deleted = model(x)
        stage[i] = block
        saved = {k: v.clone() for k, v in block.bn2.state_dict().items()}
        with torch.no_grad():
            block.bn2.weight.zero_(), block.bn2.bias.zero_()
            zeroed = model(x)
        block.bn2.load_state_dict(saved)
        assert torch.allclose(deleted, zeroed, atol=1e-6), name


def test_evolution_mutates_one_slot_and_ages_out_the_oldest():
    import random

    from classifier.concepts import evolution
    from classifier.models.nas_cells import check_genotype

    rng = random.Random(1)
    parent = evolution.random_genotype(rng)
    check_genotype(parent)
    for _ in range(20):
        child, text = evolution.mutate(parent, rng)
        check_genotype(child)
        diffs = [(a, b) for a, b in zip(parent.normal + parent.reduce, child.normal + child.reduce) if a != b]
        assert len(diffs) == 1, text
    alive_log = []
    history = evolution.regularized_evolution(population=2, sample=1, candidates=3, steps=5,
                                              on_candidate=lambda c, alive: alive_log.append([a.id for a in alive]))
    assert [c.id for c in history] == [0, 1, 2]
    assert history[2].parent in (0, 1) and history[0].parent is None
    assert alive_log[-1] == [1, 2]  # candidate 0, the oldest, died however good it was
    assert all(0 <= c.accuracy <= 1 for c in history)


def test_kept_share_measures_what_survives_above_chance():
    from classifier.concepts.ensemble import Deletions, kept_share

    rows = [{"deleted": "none", "top1": 0.9, "downsampling": False},
            {"deleted": "a", "top1": 0.5, "downsampling": False},   # half of the 0.8 above chance
            {"deleted": "b", "top1": 0.05, "downsampling": True}]   # below chance counts as nothing kept
    assert kept_share(rows, 0.1) == pytest.approx(0.25)
    assert kept_share(rows, 0.1, downsampling=False) == pytest.approx(0.5)
    assert kept_share(rows, 0.1, downsampling=True) == 0
    assert kept_share([{**rows[0], "top1": 0.1}, rows[1]], 0.1) == 0  # a net at chance keeps nothing
    assert Deletions({"n": rows}, 0.1).kept("n") == pytest.approx(0.25)


def test_the_verdict_refuses_a_net_too_close_to_chance():
    from classifier.concepts.ensemble import Deletions

    def net(intact, deleted):
        return [{"deleted": "none", "top1": intact, "downsampling": False},
                {"deleted": "a", "top1": deleted, "downsampling": False}]

    assert Deletions({"res": net(0.9, 0.8), "plain": net(0.6, 0.2)}, 0.1).verdict()[0]
    shown, text = Deletions({"res": net(0.9, 0.8), "plain": net(0.2, 0.19)}, 0.1).verdict()
    assert not shown and text.startswith("plain reached only 20%")
    shown, text = Deletions({"res": net(0.9, 0.2), "plain": net(0.6, 0.5)}, 0.1).verdict()
    assert not shown and "does not show" in text
