"""ENAS — "Efficient Neural Architecture Search via Parameter Sharing", Pham, Guan, Zoph,
Le and Dean, 2018 (arXiv 1802.03268).

Every candidate network is a subgraph of one large graph whose weights all candidates
share, so judging a candidate costs a validation pass instead of a training run. This file
is the CIFAR-10 network built from the cells ENAS found in its micro (cell) search space,
stacked with the shared machinery of :mod:`nas_cells`.
"""

from __future__ import annotations

from classifier.models.nas_cells import CellNetwork, Genotype, cell_stages, register_nas_model
from classifier.registry import Family

ENAS = Family(
    name="ENAS",
    year=2018,
    paper="Efficient Neural Architecture Search via Parameter Sharing",
    arxiv="1802.03268",
    authors="Hieu Pham, Melody Y. Guan, Barret Zoph, Quoc V. Le, Jeff Dean",
    ideas=(
        "All candidate architectures are paths through one big graph and share its weights, "
        "so no candidate is trained from scratch.",
        "An LSTM controller samples subgraphs and learns by policy gradient from their "
        "validation accuracy, alternating with training the shared weights.",
        "The search takes less than a day on one GPU, against thousands of GPU-days for NASNet.",
        "In the micro space it searches NASNet-style cells: five nodes, each the sum of two "
        "operations on earlier nodes.",
    ),
)

# The fixed architecture of the authors' scripts/cifar10_micro_final.sh (ops 0-4 = sep 3×3,
# sep 5×5, avg pool, max pool, identity), already numbered 0 = two cells back.
# Nodes no other node reads are concatenated.
ENAS_MICRO = Genotype(
    normal=(
        ("avg_pool_3x3", 0), ("sep_conv_3x3", 0),
        ("skip_connect", 0), ("sep_conv_5x5", 0),
        ("skip_connect", 0), ("sep_conv_5x5", 1),
        ("sep_conv_3x3", 1), ("sep_conv_5x5", 0),
        ("avg_pool_3x3", 0), ("sep_conv_5x5", 1),
    ),
    normal_concat=(2, 3, 4, 5, 6),
    reduce=(
        ("sep_conv_3x3", 1), ("sep_conv_3x3", 1),
        ("max_pool_3x3", 0), ("avg_pool_3x3", 0),
        ("sep_conv_5x5", 1), ("sep_conv_5x5", 3),
        ("sep_conv_3x3", 1), ("skip_connect", 0),
        ("max_pool_3x3", 0), ("sep_conv_5x5", 1),
    ),
    reduce_concat=(2, 4, 5, 6),
)


@register_nas_model(
    "enas_micro_cifar",
    genotype=ENAS_MICRO,
    family=ENAS,
    variant="ENAS micro-search cells, CIFAR-10 (N=6, F=36)",
    input_size=(3, 32, 32),
    num_classes=10,
    small_input=True,
    paper_params=4_600_000,
    params_source="Pham et al. 2018, Table 2: ENAS + micro search space, 4.6M",
    stages=cell_stages(ENAS_MICRO, 36, 6, "cifar", 108),
    block="cells.1",
    notes=(
        "Laid out like the authors' code (108-filter stem, 36 filters, the previous cell projected "
        "twice, dropout 0.2, no auxiliary head). Six normal cells per stage give the paper's 4.6M; "
        "the repository's final script stacks five (3.9M)."
    ),
    c=36, cells_per_stage=6, stem="cifar", stem_channels=108, dropout=0.2, double_projection=True,
)
def enas(num_classes: int, **config) -> CellNetwork:
    """The ENAS micro-search network: the found cells stacked three stages deep."""
    return CellNetwork(num_classes=num_classes, **config)
