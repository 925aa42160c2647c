"""AmoebaNet-A — "Regularized Evolution for Image Classifier Architecture Search",
Real, Aggarwal, Huang and Le, 2018 (arXiv 1802.01548).

The NASNet search space searched by evolution instead of reinforcement learning. Aging
evolution retires the oldest model of the population rather than the worst, which favours
architectures that train well again and again, not ones that got lucky once. The network
is NASNet's stack of cells (shared in :mod:`nas_cells`) with AmoebaNet-A's genotype.
"""

from __future__ import annotations

from classifier.models.nas_cells import CellNetwork, Genotype, cell_stages, register_nas_model
from classifier.registry import Family

AMOEBANET = Family(
    name="AmoebaNet",
    year=2018,
    paper="Regularized Evolution for Image Classifier Architecture Search",
    arxiv="1802.01548",
    authors="Esteban Real, Alok Aggarwal, Yanping Huang, Quoc V. Le",
    ideas=(
        "Architectures evolve: a tournament picks a parent, one mutation rewires an input or "
        "swaps an operation, and the trained child joins the population.",
        "Aging evolution discards the oldest model instead of the worst one, a regulariser that "
        "keeps only architectures that retrain well.",
        "In NASNet's search space and with the same compute, evolution matched reinforcement "
        "learning and reached good models sooner.",
    ),
)

# From the authors' TensorFlow TPU code (models/official/amoeba_net/model_specs.py,
# 'amoeba_net_a'), inputs renumbered to 0 = two cells back, 1 = previous cell.
AMOEBANET_A = Genotype(
    normal=(
        ("avg_pool_3x3", 1), ("max_pool_3x3", 1),
        ("sep_conv_3x3", 0), ("skip_connect", 0),
        ("skip_connect", 1), ("avg_pool_3x3", 0),
        ("sep_conv_3x3", 1), ("sep_conv_5x5", 2),
        ("avg_pool_3x3", 5), ("sep_conv_3x3", 1),
    ),
    normal_concat=(0, 3, 4, 6),
    reduce=(
        ("sep_conv_3x3", 0), ("avg_pool_3x3", 1),
        ("max_pool_3x3", 1), ("sep_conv_7x7", 2),
        ("max_pool_3x3", 0), ("max_pool_3x3", 1),
        ("sep_conv_3x3", 4), ("conv_1x7_7x1", 1),
        ("avg_pool_3x3", 0), ("sep_conv_7x7", 1),
    ),
    reduce_concat=(2, 3, 4, 5, 6),
)


@register_nas_model(
    "amoebanet_a_mobile",
    genotype=AMOEBANET_A,
    family=AMOEBANET,
    variant="AmoebaNet-A mobile (N=4, F=50)",
    paper_params=5_100_000,
    params_source="Real et al. 2018, ImageNet results table: AmoebaNet-A (N=4, F=50), 5.1M",
    stages=cell_stages(AMOEBANET_A, 50, 4, "imagenet", 32),
    block="cells.3",
    c=50, cells_per_stage=4, stem="imagenet", stem_channels=32, dropout=0.5,
)
@register_nas_model(
    "amoebanet_a_large",
    genotype=AMOEBANET_A,
    family=AMOEBANET,
    variant="AmoebaNet-A large (N=6, F=190)",
    input_size=(3, 331, 331),
    paper_params=86_700_000,
    params_source="Real et al. 2018, ImageNet results table: AmoebaNet-A (N=6, F=190), 86.7M",
    stages=cell_stages(AMOEBANET_A, 190, 6, "imagenet", 32),
    block="cells.3",
    c=190, cells_per_stage=6, stem="imagenet", stem_channels=32, dropout=0.5,
)
@register_nas_model(
    "amoebanet_a_cifar",
    genotype=AMOEBANET_A,
    family=AMOEBANET,
    variant="AmoebaNet-A CIFAR-10 (N=6, F=36)",
    input_size=(3, 32, 32),
    num_classes=10,
    small_input=True,
    paper_params=3_200_000,
    params_source="Real et al. 2018, CIFAR-10 results table: AmoebaNet-A (N=6, F=36), 3.2M",
    stages=cell_stages(AMOEBANET_A, 36, 6, "cifar", 108),
    block="cells.1",
    notes="NASNet's CIFAR stem (3F filters); auxiliary head left out.",
    c=36, cells_per_stage=6, stem="cifar", stem_channels=108,
)
def amoebanet(num_classes: int, **config) -> CellNetwork:
    """AmoebaNet-A: the evolved normal/reduction cells stacked three stages deep."""
    return CellNetwork(num_classes=num_classes, **config)
