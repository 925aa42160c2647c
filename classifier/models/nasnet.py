"""NASNet-A — "Learning Transferable Architectures for Scalable Image Recognition",
Zoph, Vasudevan, Shlens and Le, 2017 (arXiv 1707.07012).

Instead of searching a whole network, the search looks for two small cells on CIFAR-10 and
the network is those cells stacked: more cells and more filters give the ImageNet models.
The cells themselves (shared machinery in :mod:`nas_cells`) are this file's genotype.
"""

from __future__ import annotations

from classifier.models.nas_cells import CellNetwork, Genotype, cell_stages, register_nas_model
from classifier.registry import Family

NASNET = Family(
    name="NASNet",
    year=2017,
    paper="Learning Transferable Architectures for Scalable Image Recognition",
    arxiv="1707.07012",
    authors="Barret Zoph, Vijay Vasudevan, Jonathon Shlens, Quoc V. Le",
    ideas=(
        "An RNN controller trained with reinforcement learning proposes cells; each proposal is "
        "scored by training a small network built from it on CIFAR-10.",
        "Only two cells are searched: a normal cell that keeps the resolution and a reduction "
        "cell that halves it.",
        "The same cells scale to ImageNet by stacking more of them with more filters, so the "
        "search cost does not grow with the dataset.",
        "The winning cells are mostly separable convolutions, pooling and identities summed in pairs.",
    ),
)

# From the authors' TensorFlow code (slim nets/nasnet/nasnet_utils.py), inputs renumbered
# to 0 = two cells back, 1 = previous cell. The normal cell also outputs its older input.
NASNET_A = Genotype(
    normal=(
        ("sep_conv_5x5", 1), ("sep_conv_3x3", 0),
        ("sep_conv_5x5", 0), ("sep_conv_3x3", 0),
        ("avg_pool_3x3", 1), ("skip_connect", 0),
        ("avg_pool_3x3", 0), ("avg_pool_3x3", 0),
        ("sep_conv_3x3", 1), ("skip_connect", 1),
    ),
    normal_concat=(0, 2, 3, 4, 5, 6),
    reduce=(
        ("sep_conv_5x5", 1), ("sep_conv_7x7", 0),
        ("max_pool_3x3", 1), ("sep_conv_7x7", 0),
        ("avg_pool_3x3", 1), ("sep_conv_5x5", 0),
        ("skip_connect", 3), ("avg_pool_3x3", 2),
        ("sep_conv_3x3", 2), ("max_pool_3x3", 1),
    ),
    reduce_concat=(3, 4, 5, 6),
)


@register_nas_model(
    "nasnet_a_mobile",
    genotype=NASNET_A,
    family=NASNET,
    variant="NASNet-A Mobile (4 @ 1056)",
    paper_params=5_300_000,
    params_source="Zoph et al. 2017, Table 2: NASNet-A (4 @ 1056), 5.3M",
    stages=cell_stages(NASNET_A, 44, 4, "imagenet", 32),
    block="cells.3",
    notes="N=4 normal cells per stage, 44 filters per op in the first stage (1056 before the classifier).",
    c=44, cells_per_stage=4, stem="imagenet", stem_channels=32, dropout=0.5,
)
@register_nas_model(
    "nasnet_a_large",
    genotype=NASNET_A,
    family=NASNET,
    variant="NASNet-A Large (6 @ 4032)",
    input_size=(3, 331, 331),
    paper_params=88_753_150,
    params_source="Cadene's pretrainedmodels nasnetalarge, 1000 classes: 88,753,150 (Table 2 of the paper: 88.9M)",
    stages=cell_stages(NASNET_A, 168, 6, "imagenet", 96),
    block="cells.3",
    notes="N=6, 168 filters; the cell after each reduction reads the reduction's older input, as released.",
    c=168, cells_per_stage=6, stem="imagenet", stem_channels=96, dropout=0.5, skip_reduction_input=True,
)
@register_nas_model(
    "nasnet_a_cifar",
    genotype=NASNET_A,
    family=NASNET,
    variant="NASNet-A CIFAR-10 (6 @ 768)",
    input_size=(3, 32, 32),
    num_classes=10,
    small_input=True,
    paper_params=3_300_000,
    params_source="Zoph et al. 2017, Table 1: NASNet-A (6 @ 768), 3.3M",
    stages=cell_stages(NASNET_A, 32, 6, "cifar", 96),
    block="cells.1",
    notes="The paper's CIFAR-10 network: a 96-filter 3×3 stem, N=6, 32 filters; auxiliary head left out.",
    c=32, cells_per_stage=6, stem="cifar", stem_channels=96,
)
def nasnet(num_classes: int, **config) -> CellNetwork:
    """NASNet-A: the searched normal/reduction cells stacked three stages deep."""
    return CellNetwork(num_classes=num_classes, **config)
