"""NASNet-A, AmoebaNet-A and ENAS: the cells built from each genotype, the networks' sizes
against the papers, and the shared model checks."""

import re

import pytest
import torch

from classifier import get_card, list_models
from classifier.models.nas_cells import (
    GENOTYPES,
    Cell,
    CellNetwork,
    FactorizedReduce,
    Genotype,
    SepConv,
    cell_dot,
    check_genotype,
    genotype_of,
)
from model_checks import assert_close_to_reference, check_model, check_stages, meta_param_count

NAS_FAMILIES = ("NASNet", "AmoebaNet", "ENAS")
NAS_MODELS = [n for n in list_models() if get_card(n).family.name in NAS_FAMILIES]

PAPER_COUNTS = {
    # Zoph et al. 2017 (arXiv 1707.07012), Table 2: NASNet-A (4 @ 1056), 5.3M.
    "nasnet_a_mobile": 5_300_000,
    # Cadene's pretrainedmodels, nasnetalarge with a 1000-class head: 88,753,150
    # (Table 2 of the paper rounds it to 88.9M).
    "nasnet_a_large": 88_753_150,
    # Zoph et al. 2017, Table 1: NASNet-A (6 @ 768), 3.3M.
    "nasnet_a_cifar": 3_300_000,
    # Real et al. 2018 (arXiv 1802.01548), ImageNet table: AmoebaNet-A (N=4, F=50), 5.1M.
    "amoebanet_a_mobile": 5_100_000,
    # Real et al. 2018, ImageNet table: AmoebaNet-A (N=6, F=190), 86.7M.
    "amoebanet_a_large": 86_700_000,
    # Real et al. 2018, CIFAR-10 table: AmoebaNet-A (N=6, F=36), 3.2M.
    "amoebanet_a_cifar": 3_200_000,
    # Pham et al. 2018 (arXiv 1802.03268), Table 2: ENAS + micro search space, 4.6M.
    "enas_micro_cifar": 4_600_000,
}


def test_every_nas_model_is_checked_and_has_a_genotype():
    assert sorted(NAS_MODELS) == sorted(PAPER_COUNTS)
    assert set(NAS_MODELS) <= set(GENOTYPES)
    for name in NAS_MODELS:
        assert genotype_of(name) is GENOTYPES[name]
        assert get_card(name).paper_params == PAPER_COUNTS[name]
    with pytest.raises(ValueError, match="not built from a genotype"):
        genotype_of("igcv3_d")


@pytest.mark.parametrize("name", NAS_MODELS)
def test_parameter_count_matches_the_paper(name):
    assert_close_to_reference(meta_param_count(name), PAPER_COUNTS[name], rel=0.01)


@pytest.mark.parametrize("name", NAS_MODELS)
def test_stages(name):
    check_stages(name)


# The 32×32 nets at their own size; the mobile ImageNet nets at 64 pixels (their stem
# reaches stride 32 at 2×2). The large ones (23 GFLOPs a picture) are counted and shaped
# on the meta device only.
@pytest.mark.parametrize(
    "name, size",
    [("nasnet_a_cifar", None), ("amoebanet_a_cifar", None), ("enas_micro_cifar", None),
     ("nasnet_a_mobile", 64), ("amoebanet_a_mobile", 64)],
)
def test_model_checks(name, size):
    check_model(name, size=size)


def test_cells_follow_the_genotype():
    genotype = GENOTYPES["nasnet_a_cifar"]
    for kind, c_in, stride in (("normal", 16, 1), ("reduce", 16, 2)):
        ops, concat = genotype.cell(kind)
        cell = Cell(genotype, kind, c_prev_prev=24, c_prev=32, c=c_in, prev_prev_is_larger=False)
        assert len(cell.ops) == len(ops)
        for module, (op, src) in zip(cell.ops, ops):
            if op.startswith("sep_conv"):
                assert isinstance(module, SepConv)
                k = int(op[-1])
                depthwise = module[1]
                assert depthwise.kernel_size == (k, k)
                assert depthwise.stride == ((stride, stride) if src < 2 else (1, 1))
        s0, s1 = torch.randn(2, 24, 8, 8), torch.randn(2, 32, 8, 8)
        out = cell.eval()(s0, s1)
        assert out.shape == (2, len(concat) * c_in, 8 // stride, 8 // stride)


def test_an_older_input_at_twice_the_size_is_reduced_by_factorized_reduction():
    cell = Cell(GENOTYPES["enas_micro_cifar"], "normal", 20, 40, 8, prev_prev_is_larger=True)
    assert isinstance(cell.preprocess0, FactorizedReduce)
    out = cell.eval()(torch.randn(1, 20, 9, 9), torch.randn(1, 40, 5, 5))  # odd sizes: 9 → 5
    assert out.shape == (1, 5 * 8, 5, 5)


@pytest.mark.parametrize("skip", [False, True])
def test_the_cell_after_a_reduction_reads_the_right_older_input(skip):
    """NASNet-A Large feeds the cell after a reduction the reduction's own older input;
    otherwise that cell reads the reduction's input, like every other cell."""
    torch.manual_seed(0)
    net = CellNetwork(GENOTYPES["nasnet_a_mobile"], c=8, cells_per_stage=2, num_classes=3, stem="cifar",
                      stem_channels=12, skip_reduction_input=skip).eval()
    outputs, older_inputs = {}, {}
    for i, cell in enumerate(net.cells):
        cell.register_forward_hook(lambda m, args, out, i=i: outputs.__setitem__(i, out))
        cell.register_forward_pre_hook(lambda m, args, i=i: older_inputs.__setitem__(i, args[0]))
    with torch.no_grad():
        net(torch.randn(1, 3, 16, 16))
    reduction = 2  # cells 0, 1 normal; 2 reduction; 3, 4 normal
    assert net.cells[reduction].reduction
    source = reduction - 2 if skip else reduction - 1
    assert older_inputs[reduction + 1] is outputs[source]


def test_invalid_genotypes_are_refused():
    ok = GENOTYPES["nasnet_a_cifar"]
    with pytest.raises(ValueError, match="not computed yet"):
        check_genotype(Genotype((("sep_conv_3x3", 2), ("sep_conv_3x3", 0)), (2,), ok.reduce, ok.reduce_concat))
    with pytest.raises(ValueError, match="unknown operation"):
        check_genotype(Genotype((("conv_9x9", 0), ("sep_conv_3x3", 1)), (2,), ok.reduce, ok.reduce_concat))
    with pytest.raises(ValueError, match="full-resolution inputs"):
        check_genotype(Genotype(ok.normal, ok.normal_concat, ok.reduce, (1, 3)))
    with pytest.raises(ValueError, match="'normal' or 'reduce'"):
        ok.cell("stem")


@pytest.mark.parametrize("name", ["nasnet_a_cifar", "amoebanet_a_cifar", "enas_micro_cifar"])
@pytest.mark.parametrize("kind", ["normal", "reduce"])
def test_cell_dot_draws_every_operation_and_the_concatenation(name, kind):
    genotype = genotype_of(name)
    ops, concat = genotype.cell(kind)
    dot = cell_dot(genotype, kind)
    unquoted = re.sub(r'"[^"]*"', "", dot)
    assert dot.startswith("digraph") and unquoted.count("{") == unquoted.count("}") == 1
    op_edges = re.findall(r'"([^"]+)" -> "(\d+)" \[label="([^"]+)"\]', dot)
    assert len(op_edges) == len(ops)
    names = ["c_{k-2}", "c_{k-1}"] + [str(i) for i in range(len(ops) // 2)]
    for (src_name, node, label), (op, src), i in zip(op_edges, ops, range(len(ops))):
        assert src_name == names[src] and int(node) == i // 2
        assert ("/2" in label) == (kind == "reduce" and src < 2)
    concat_edges = re.findall(r'"([^"]+)" -> "c_\{k\}"', dot)
    assert concat_edges == [names[j] for j in concat]


def test_nasnet_imagenet_counts_equal_the_released_tf_slim_networks():
    """The first stem cell reads the raw stem output as TF-slim's does, so the counts equal the
    released networks' exactly (pytorchcv nasnet_4a1056 and nasnet_6a4032, Cadene's nasnetalarge)."""
    assert meta_param_count("nasnet_a_mobile") == 5_289_978
    assert meta_param_count("nasnet_a_large") == 88_753_150
