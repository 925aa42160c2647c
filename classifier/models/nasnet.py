"""NASNet-A — "Learning Transferable Architectures for Scalable Image Recognition",
Zoph, Vasudevan, Shlens and Le, 2017 (arXiv 1707.07012).

Instead of searching a whole network, the search looks for two small cells on CIFAR-10 and
the network is those cells stacked: more cells and more filters give the ImageNet models.
The cells themselves (shared machinery in :mod:`nas_cells`) are this file's genotype.
"""

from __future__ import annotations

from classifier.models.nas_cells import CellNetwork, Genotype, cell_stages, register_nas_model
from classifier.registry import Family
from classifier.weights.convert import rename
from classifier.weights.entries import WeightEntry, register_weights
from classifier.weights.preprocess import Preprocess

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
    notes="N=4 normal cells per stage, 44 filters per op in the first stage (1056 before the classifier). "
    "As in the authors' TF-slim code, the first stem cell runs its separable convs on the raw stem "
    "output (no 1×1 projection of that input; +2,902 parameters over projecting it) and reductions on an even "
    "side pad like TensorFlow's SAME (one pixel less before than after) at the card's 224×224 input.",
    c=44, cells_per_stage=4, stem="imagenet", stem_channels=32, dropout=0.5, image_size=224, raw_stem_input=True,
)
@register_nas_model(
    "nasnet_a_large",
    genotype=NASNET_A,
    family=NASNET,
    variant="NASNet-A Large (6 @ 4032)",
    input_size=(3, 331, 331),
    paper_params=88_753_150,
    params_source="Cadene's pretrainedmodels nasnetalarge (and pytorchcv nasnet_6a4032), 1000 classes: 88,753,150 "
    "(Table 2 of the paper: 88.9M); this network has exactly that count",
    stages=cell_stages(NASNET_A, 168, 6, "imagenet", 96),
    block="cells.3",
    notes="N=6, 168 filters; the cell after each reduction reads the reduction's older input, as released. "
    "As in the authors' TF-slim code, the first stem cell runs its separable convs on the raw stem "
    "output (no 1×1 projection of that input; +9,330 parameters over projecting it) and reductions on an even "
    "side pad like TensorFlow's SAME (one pixel less before than after) at the card's 331×331 input. " "timm's nasnetalarge.tf_in1k is not offered: its "
    "stride-2 average pools count TF's SAME padding in the mean (timm's AvgPool2dSame), which TensorFlow and "
    "this network leave out, so its logits differ at the borders.",
    c=168, cells_per_stage=6, stem="imagenet", stem_channels=96, dropout=0.5, skip_reduction_input=True,
    image_size=331, raw_stem_input=True,
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


def _pytorchcv_names(cells_per_stage: int):
    """pytorchcv's NASNet names → ours. Its units are our cells in order (stem1, stem2, then
    each stage's units, a stage after the first opening with its reduction); in a unit,
    ``conv1x1`` projects the previous cell (our input 1), ``conv1x1_prev`` or the two-path
    ``path`` the older one (input 0), and ``comb{n}_left/right`` are node n's two ops."""
    n = cells_per_stage
    offsets = {1: 1, 2: 1 + n, 3: 2 + 2 * n}
    rules = [
        (r"^features\.init_block\.conv\.", "stem.0."),
        (r"^features\.init_block\.bn\.", "stem.1."),
        (r"^features\.stem1_unit\.", "cells.0."),
        (r"^features\.stem2_unit\.", "cells.1."),
    ]
    for stage, offset in offsets.items():
        units = n if stage == 1 else n + 1
        rules += [(rf"^features\.stage{stage}\.unit{j}\.", f"cells.{offset + j}.") for j in range(1, units + 1)]
    rules += [
        (r"\.conv1x1_prev\.conv\.", ".preprocess0.1."),
        (r"\.conv1x1_prev\.bn\.", ".preprocess0.2."),
        (r"\.conv1x1\.conv\.", ".preprocess1.1."),
        (r"\.conv1x1\.bn\.", ".preprocess1.2."),
        (r"\.path\.path1\.conv\.", ".preprocess0.conv_1."),
        (r"\.path\.path2\.conv\.", ".preprocess0.conv_2."),
        (r"\.path\.bn\.", ".preprocess0.bn."),
    ]
    for node in range(5):
        rules += [(rf"\.comb{node}_left\.", f".ops.{2 * node}."), (rf"\.comb{node}_right\.", f".ops.{2 * node + 1}.")]
    rules += [
        (r"\.conv1\.conv\.dw_conv\.", ".1."),
        (r"\.conv1\.conv\.pw_conv\.", ".2."),
        (r"\.conv1\.bn\.", ".3."),
        (r"\.conv2\.conv\.dw_conv\.", ".5."),
        (r"\.conv2\.conv\.pw_conv\.", ".6."),
        (r"\.conv2\.bn\.", ".7."),
        (r"^output\.fc\.", "classifier."),
    ]
    return rename(*rules)


register_weights(
    WeightEntry(
        model="nasnet_a_mobile", source="pytorchcv", source_model="nasnet_4a1056", tag="in1k",
        dataset="ImageNet-1k", num_classes=1000,
        preprocess=Preprocess.imagenet(224, 0.875, "bilinear"),
        url="https://github.com/osmr/imgclsmob/releases/download/v0.0.495/nasnet_4a1056-0803-44f5ecbe.pth.zip",
        checksum="sha1:44f5ecbe03da2cd21803c555366121e29b207907",
        top1=74.68, top5=91.97, metric_source="pytorchcv README (top-1 error 25.32, top-5 error 8.03)",
        license="MIT",
        convert=(_pytorchcv_names(4),),
        notes="pytorchcv's NASNet-A 4@1056 follows TF-slim (raw stem output into the first stem cell, "
        "TF 'SAME' padding on even sides), as our network now does; names renamed unit by unit.",
    ),
    WeightEntry(
        model="nasnet_a_large", source="pytorchcv", source_model="nasnet_6a4032", tag="in1k",
        dataset="ImageNet-1k", num_classes=1000,
        preprocess=Preprocess.imagenet(331, 0.875, "bilinear"),
        url="https://github.com/osmr/imgclsmob/releases/download/v0.0.101/nasnet_6a4032-0421-f354d28f.pth.zip",
        checksum="sha1:f354d28f4acdde399e081260c3f46152eca5d27e",
        top1=81.86, top5=95.79, metric_source="pytorchcv README (top-1 error 18.14, top-5 error 4.21)",
        license="MIT",
        convert=(_pytorchcv_names(6),),
        notes="The TF-slim NASNet-A Large weights as Cadene's port carries them (pytorchcv); names renamed "
        "unit by unit.",
    ),
)
