"""Densely connected families: DenseNet (against torchvision and the paper's Table 2), DPN
(against the reference port's counts), MSDNet (its exits, anytime prediction and the
reference implementation's per-exit figures) and CliqueNet (the paper's CIFAR and
ImageNet counts, shared weights between the two stages)."""

import pytest
import torch
import torch.nn.functional as F
import torchvision
from model_checks import (
    assert_close_to_reference,
    check_model,
    check_stages,
    check_torchvision_logits,
    meta_macs,
    meta_param_count,
)
from torch.utils.flop_counter import FlopCounterMode

from classifier import create_model, get_card
from classifier.models.cliquenet import CliqueBlock
from classifier.models.msdnet import anytime_predict, block_steps

DENSENET_TV = ["densenet121", "densenet161", "densenet169", "densenet201"]
DPN_IMAGENET = ["dpn68", "dpn92", "dpn98", "dpn107", "dpn131"]
CLIQUENET_CIFAR = [
    "cliquenet_t12_k36_cifar", "cliquenet_t15_k64_cifar", "cliquenet_t15_k80_cifar", "cliquenet_t18_k80_cifar",
]
ALL = [
    *DENSENET_TV, "densenet40_cifar", "densenet_bc100_cifar",
    *DPN_IMAGENET, "dpn68_cifar",
    "msdnet_cifar", "msdnet_imagenet",
    *CLIQUENET_CIFAR, "cliquenet_s3",
]

# Reference parameter counts and the tolerance each source allows.
EXACT = {
    # DPN: Cadene's pretrainedmodels port (also timm), the common reference implementation.
    "dpn68": 12_611_602,
    "dpn92": 37_668_392,
    "dpn98": 61_570_728,
    "dpn107": 86_917_800,
    "dpn131": 79_254_504,
}
ROUNDED = {
    # Figures printed rounded in the papers; tolerance: half a unit of the last printed
    # digit ("0.8M" is 0.75M-0.85M) or 1 %, whichever is larger.
    "densenet40_cifar": (1_000_000, 50_000),  # Huang et al. 2016, Table 2: 1.0M
    "densenet_bc100_cifar": (800_000, 50_000),  # Huang et al. 2016, Table 2: 0.8M
    # Yang et al. 2018, CIFAR results without augmentation (Table 3 of the authors' README):
    "cliquenet_t12_k36_cifar": (940_000, 5_000),  # 0.94M
    "cliquenet_t15_k64_cifar": (4_490_000, 5_000),  # 4.49M
    "cliquenet_t15_k80_cifar": (6_940_000, 5_000),  # 6.94M
    "cliquenet_t18_k80_cifar": (10_140_000, 5_000),  # 10.14M
    "cliquenet_s3": (14_380_000, 5_000),  # Yang et al. 2018, ImageNet table: CliqueNet-S3 14.38M
}

# check_model sizes. ImageNet nets run at 32×32 (the last stage is then 1×1, which they
# allow) and MSDNet/CliqueNet-S3 at 64 (their coarsest scale needs 2×2 after the stem).
SIZE = {"msdnet_imagenet": 64, "cliquenet_s3": 64}
# The same builders at fewer blocks or layers, where the full net costs seconds of CPU per
# check without exercising any other code: DPN-98/107/131 differ from DPN-92 only in their
# numbers (2 blocks per stage still run the projecting and the plain block), and the wide
# CliqueNets from T=12, k=36 only in width and depth (≈4-9 GFLOPs per 32×32 image).
REDUCED = {
    "dpn98": {"k_sec": (2, 2, 2, 2)},
    "dpn107": {"k_sec": (2, 2, 2, 2)},
    "dpn131": {"k_sec": (2, 2, 2, 2)},
    "cliquenet_t15_k64_cifar": {"channels": (16, 16, 16)},
    "cliquenet_t15_k80_cifar": {"channels": (16, 16, 16)},
    "cliquenet_t18_k80_cifar": {"channels": (16, 16, 16)},
}


@pytest.mark.parametrize("name", ALL)
def test_model_rules(name):
    size = SIZE.get(name, 32)
    check_model(name, size=size, **REDUCED.get(name, {}))


@pytest.mark.parametrize("name", ALL)
def test_stages(name):
    check_stages(name)


@pytest.mark.parametrize("name", DENSENET_TV)
def test_densenet_parameters_equal_torchvision(name):
    # torchvision's weights metadata (num_params) is the reference on the card.
    reference = torchvision.models.get_model_weights(name).IMAGENET1K_V1.meta["num_params"]
    assert get_card(name).paper_params == reference
    assert meta_param_count(name) == reference


@pytest.mark.parametrize("name", DENSENET_TV)
def test_densenet_torchvision_logits(name):
    check_torchvision_logits(name, size=32)


def test_densenet121_macs():
    # torchvision's published cost of densenet121: 2.83 GFLOPS (weights metadata "_ops",
    # counted as multiply-adds) at 224×224.
    assert_close_to_reference(meta_macs("densenet121"), 2_830_000_000, rel=0.05)


@pytest.mark.parametrize(
    "layers, growth, reference",
    # The authors' README, Tab 4 (CliqueNet with DenseNet's k and T): 1.05M and 0.99M.
    [(36, 12, 1_050_000), (18, 24, 990_000)],
)
def test_cliquenet_builder_at_the_readme_ablation_sizes(layers, growth, reference):
    count = meta_param_count("cliquenet_t12_k36_cifar", channels=(growth,) * 3, layers=(layers // 3,) * 3)
    assert abs(count - reference) <= 5_000


@pytest.mark.parametrize("name", sorted(EXACT))
def test_parameters_equal_reference_implementation(name):
    assert get_card(name).paper_params == EXACT[name]
    assert meta_param_count(name) == EXACT[name]


@pytest.mark.parametrize("name", sorted(ROUNDED))
def test_parameters_match_paper(name):
    reference, half_unit = ROUNDED[name]
    assert get_card(name).paper_params == reference
    assert_close_to_reference(meta_param_count(name), reference, rel=max(0.01, half_unit / reference))


def test_dense_block_concatenates_every_layer():
    """A dense block's output is its input followed by each layer's new maps."""
    model = create_model("densenet_bc100_cifar")
    block = model.features.denseblock1
    x = torch.randn(2, 24, 8, 8)
    with torch.no_grad():
        out = block(x)
        torch.testing.assert_close(out[:, :24], x)
        first = block.denselayer1([x])
        torch.testing.assert_close(out[:, 24:36], first)
        torch.testing.assert_close(out[:, 36:48], block.denselayer2([x, first]))
    assert out.shape[1] == 24 + 16 * 12


def test_dual_path_block_adds_and_appends():
    """After a block the residual path has kept its width and the dense path grew by inc."""
    model = create_model("dpn68_cifar")
    block = model.conv2[1]
    res, inc = block.res_ch, 16
    residual, dense = torch.randn(2, res, 8, 8), torch.randn(2, 3 * inc, 8, 8)
    with torch.no_grad():
        new_residual, new_dense = block((residual, dense))
        out = block.expand(block.grouped(block.reduce(torch.cat([residual, dense], 1))))
    torch.testing.assert_close(new_residual, residual + out[:, :res])
    torch.testing.assert_close(new_dense, torch.cat([dense, out[:, res:]], 1))
    assert new_dense.shape[1] == 4 * inc


# --- MSDNet -------------------------------------------------------------------------


@pytest.mark.parametrize("name, exits", [("msdnet_cifar", 10), ("msdnet_imagenet", 5)])
def test_msdnet_returns_every_exit(name, exits):
    size = SIZE.get(name, 32)
    with torch.device("meta"):
        outputs = create_model(name)(torch.empty(1, 3, size, size))
    assert len(outputs) == exits
    assert all(o.shape == (1, get_card(name).num_classes) for o in outputs)


def test_msdnet_exit_positions():
    # Anytime CIFAR net of the authors' code (-nBlocks 10 -step 2 -base 4): exits after
    # layers 4, 6, ..., 22; ImageNet, k = 4: after layers 4, 8, ..., 20.
    assert block_steps(10, 4, 2) == [4] + [2] * 9
    assert block_steps(5, 4, 4) == [4] * 5
    assert block_steps(5, 1, 1, "lin_grow") == [1, 2, 3, 4, 5]


def test_msdnet_imagenet_k7_matches_reference_implementation():
    """kalviny/MSDNet-PyTorch (the authors' PyTorch code) printed, for its released
    ImageNet model with step 7 (issue #10), the parameters and FLOPs up to each exit:
    8.76M/20.15M/31.73M/41.86M/62.31M and 615.69M/1436.39M/2283.21M/2967.42M/3253.79M
    (its counter also counts BatchNorm, ReLU and pooling, hence the 1 % on FLOPs)."""
    params_ref = [8.76e6, 20.15e6, 31.73e6, 41.86e6, 62.31e6]
    flops_ref = [615.69e6, 1436.39e6, 2283.21e6, 2967.42e6, 3253.79e6]
    with torch.device("meta"):
        model = create_model("msdnet_imagenet", base=7, step=7)
        maps = torch.empty(1, 3, 224, 224)
        params = macs = 0
        for block, exit_, p_ref, f_ref in zip(model.blocks, model.exits, params_ref, flops_ref):
            with FlopCounterMode(display=False) as counter:
                maps = block(maps)
                exit_(maps[-1])
            params += sum(p.numel() for p in [*block.parameters(), *exit_.parameters()])
            macs += counter.get_total_flops() // 2
            assert abs(params - p_ref) <= 0.005e6, (params, p_ref)
            assert_close_to_reference(macs, f_ref, rel=0.01)


@pytest.fixture(scope="module")
def msdnet_cifar():
    torch.manual_seed(0)
    return create_model("msdnet_cifar")


def test_anytime_threshold_zero_leaves_at_first_exit(msdnet_cifar):
    x = torch.randn(3, 3, 32, 32)
    result = anytime_predict(msdnet_cifar, x, threshold=0.0)
    assert result.exit_index.tolist() == [0, 0, 0]
    assert len(result.exit_macs) == 1  # nothing after the first exit was computed
    assert result.macs.tolist() == [result.exit_macs[0]] * 3
    with torch.no_grad():
        torch.testing.assert_close(result.logits, msdnet_cifar(x)[0])


def test_anytime_unreachable_threshold_runs_whole_net(msdnet_cifar):
    x = torch.randn(3, 3, 32, 32)
    result = anytime_predict(msdnet_cifar, x, threshold=1.1)
    assert result.exit_index.tolist() == [9, 9, 9]
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        final = msdnet_cifar(x)[-1]
    torch.testing.assert_close(result.logits, final)
    assert result.macs.tolist() == [counter.get_total_flops() // 2 // 3] * 3
    assert result.exit_macs == sorted(set(result.exit_macs))  # every exit costs more


def test_anytime_each_image_leaves_at_its_first_confident_exit(msdnet_cifar):
    torch.manual_seed(1)
    x = torch.randn(8, 3, 32, 32)
    with torch.no_grad():
        confidence = torch.stack([o.softmax(1).amax(1) for o in msdnet_cifar(x)], 1)  # (8, exits)
    # The most confident image at the first exit leaves there, the others later.
    threshold = confidence[:, 0].max().item()
    result = anytime_predict(msdnet_cifar, x, threshold)
    for i in range(8):
        passing = (confidence[i] >= threshold).nonzero()
        expected = passing[0].item() if len(passing) else confidence.shape[1] - 1
        assert result.exit_index[i].item() == expected
        assert result.macs[i].item() == result.exit_macs[expected]
    assert len(set(result.exit_index.tolist())) > 1


# --- CliqueNet ----------------------------------------------------------------------


def test_clique_block_shares_weights_between_stages():
    """One conv per directed edge (n from the input, n(n-1) between layers), used by both
    stages: stage I reads the forward edges, stage II also the backward ones."""
    block = CliqueBlock(in_ch=8, channels=4, layers=3)
    assert sorted(block.edges) == ["0_1", "0_2", "0_3", "1_2", "1_3", "2_1", "2_3", "3_1", "3_2"]
    block.eval()
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        feature, refined = block(x)
        # A backward edge (from layer 3 to layer 1) exists only in stage II: changing it
        # changes the refined layers, starting with layer 1.
        block.edges["3_1"].weight.mul_(2.0)
        _, changed = block(x)
    assert not torch.allclose(changed[:, :4], refined[:, :4])
    torch.testing.assert_close(feature, torch.cat([x, refined], 1))


def test_clique_update_equals_one_conv_over_concatenated_sources():
    """Summing the edge convs equals the paper's single conv over the concatenated
    sources with the edges' weights stacked."""
    block = CliqueBlock(in_ch=8, channels=4, layers=3).eval()
    sources = [(0, torch.randn(2, 8, 5, 5)), (1, torch.randn(2, 4, 5, 5)), (2, torch.randn(2, 4, 5, 5))]
    update = block.stage1[2]
    with torch.no_grad():
        ours = block._update(update, 3, sources)
        x = update.act(update.norm(torch.cat([t for _, t in sources], 1)))
        weight = torch.cat([block.edges[f"{j}_3"].weight for j, _ in sources], 1)
        torch.testing.assert_close(ours, F.conv2d(x, weight, padding=1))
