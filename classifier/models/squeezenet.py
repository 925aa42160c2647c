"""SqueezeNet — "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB
model size", Iandola et al., 2016, arXiv 1602.07360.

Parameters are saved in three ways: most 3×3 filters become 1×1, the 3×3 filters that
remain see few input channels because a 1×1 "squeeze" layer narrows the input of every
Fire module first, and downsampling comes late so the layers work on large maps. There
are no fully connected layers: a 1×1 conv gives one map per class, averaged globally.
"""

from __future__ import annotations

import torch
from torch import nn

from classifier.models.init import he_uniform_init
from classifier.registry import Family, register_model

SQUEEZENET = Family(
    name="SqueezeNet",
    year=2016,
    paper="SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size",
    arxiv="1602.07360",
    authors="Iandola, Han, Moskewicz, Ashraf, Dally, Keutzer",
    ideas=(
        "The Fire module squeezes channels with 1×1 filters, then expands with a mix of 1×1 and 3×3.",
        "Most filters are 1×1, and the few 3×3 ones see only the squeezed channels.",
        "Downsampling comes late, so most layers work on large feature maps.",
        "A final 1×1 conv and global averaging replace fully connected layers.",
    ),
)


class Fire(nn.Module):
    """Squeeze to ``squeeze`` channels with 1×1 filters, then expand with parallel 1×1
    and 3×3 filters whose outputs are concatenated. Names follow torchvision's ``Fire``."""

    def __init__(self, in_ch: int, squeeze: int, expand1x1: int, expand3x3: int):
        super().__init__()
        self.squeeze = nn.Conv2d(in_ch, squeeze, 1)
        self.squeeze_activation = nn.ReLU()
        self.expand1x1 = nn.Conv2d(squeeze, expand1x1, 1)
        self.expand1x1_activation = nn.ReLU()
        self.expand3x3 = nn.Conv2d(squeeze, expand3x3, 3, padding=1)
        self.expand3x3_activation = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat(
            [self.expand1x1_activation(self.expand1x1(x)), self.expand3x3_activation(self.expand3x3(x))], 1
        )


def _pool() -> nn.Module:
    return nn.MaxPool2d(3, 2, ceil_mode=True)


class SqueezeNet(nn.Module):
    """Version "1_0" is the paper's net (7×7 stem, 96 filters); "1_1" is the authors'
    later revision with a 3×3 stem and earlier pooling, 2.4× cheaper at the same accuracy.
    Names follow torchvision's ``squeezenet1_0``/``1_1``.

    ``cifar_stem=True`` gives the stem stride 1 (and padding), so 32×32 inputs end at 4×4.
    """

    def __init__(self, version: str = "1_0", num_classes: int = 1000, dropout: float = 0.5, cifar_stem: bool = False):
        super().__init__()
        stride, padding = (1, 1) if cifar_stem else (2, 0)
        if version == "1_0":
            layers = [
                nn.Conv2d(3, 96, 7, stride, 3 * padding), nn.ReLU(), _pool(),
                Fire(96, 16, 64, 64), Fire(128, 16, 64, 64), Fire(128, 32, 128, 128), _pool(),
                Fire(256, 32, 128, 128), Fire(256, 48, 192, 192), Fire(384, 48, 192, 192), Fire(384, 64, 256, 256),
                _pool(),
                Fire(512, 64, 256, 256),
            ]
        elif version == "1_1":
            layers = [
                nn.Conv2d(3, 64, 3, stride, padding), nn.ReLU(), _pool(),
                Fire(64, 16, 64, 64), Fire(128, 16, 64, 64), _pool(),
                Fire(128, 32, 128, 128), Fire(256, 32, 128, 128), _pool(),
                Fire(256, 48, 192, 192), Fire(384, 48, 192, 192), Fire(384, 64, 256, 256), Fire(512, 64, 256, 256),
            ]
        else:
            raise ValueError(f"SqueezeNet version must be '1_0' or '1_1', not {version!r}")
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Conv2d(512, num_classes, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1)
        )
        self.flatten = nn.Flatten(1)
        he_uniform_init(self)
        nn.init.normal_(self.classifier[1].weight, 0, 0.01)  # torchvision's and pytorchcv's final conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.flatten(self.classifier(self.features(x)))


@register_model(
    "squeezenet1_0",
    family=SQUEEZENET,
    variant="1.0 (paper)",
    paper_params=1_248_424,
    params_source="paper Table 1 (total before compression)",
    stages=[("features.1", 96, 2), ("features.5", 256, 4), ("features.10", 512, 8), ("features.12", 512, 16)],
    torchvision="squeezenet1_0",
    block="features.3",
    version="1_0",
)
@register_model(
    "squeezenet1_1",
    family=SQUEEZENET,
    variant="1.1 (3×3 stem, earlier pooling)",
    paper_params=1_235_496,
    params_source="torchvision squeezenet1_1 (the 1.1 revision is published as a model, not in the paper)",
    stages=[("features.1", 64, 2), ("features.4", 128, 4), ("features.7", 256, 8), ("features.12", 512, 16)],
    torchvision="squeezenet1_1",
    block="features.3",
    version="1_1",
)
@register_model(
    "squeezenet1_1_cifar",
    family=SQUEEZENET,
    variant="1.1, 32×32 input (stride-1 stem)",
    input_size=(3, 32, 32),
    num_classes=10,
    stages=[("features.1", 64, 1), ("features.4", 128, 2), ("features.7", 256, 4), ("features.12", 512, 8)],
    small_input=True,
    block="features.3",
    notes="The paper has no CIFAR network; a stride-1 padded stem keeps 32×32 inputs at 4×4 at the end.",
    version="1_1",
    cifar_stem=True,
)
def squeezenet(num_classes: int, version: str = "1_0", dropout: float = 0.5, cifar_stem: bool = False) -> SqueezeNet:
    return SqueezeNet(version, num_classes, dropout, cifar_stem)
