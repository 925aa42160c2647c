"""DPN — "Dual Path Networks", Chen, Li, Xiao, Jin, Yan and Feng, 2017 (arXiv 1707.01629).

Read as recurrent nets over depth, ResNet re-uses the same features (a residual path
that every block adds to) and DenseNet keeps finding new ones (a dense path that every
block appends to). A DPN block is a ResNeXt bottleneck whose output is split between the
two: most channels are added to the residual path, a few are concatenated to the dense
path, and the next block reads both.
"""

from __future__ import annotations

import torch
from torch import nn

from classifier.layers import NormActConv
from classifier.registry import Family, register_model
from classifier.weights.convert import by_order, rename, transform
from classifier.weights.entries import WeightEntry, register_weights
from classifier.weights.preprocess import Preprocess

DPN = Family(
    name="DPN",
    year=2017,
    paper="Dual Path Networks",
    arxiv="1707.01629",
    authors="Yunpeng Chen, Jianan Li, Huaxin Xiao, Xiaojie Jin, Shuicheng Yan, Jiashi Feng",
    ideas=(
        "ResNet's addition re-uses features; DenseNet's concatenation finds new ones but keeps redundant copies.",
        "A DPN block is a ResNeXt bottleneck whose output is split between a residual and a dense path.",
        "Both paths share the block's weights, so the dense path grows cheaply beside a fixed-width residual.",
    ),
)

BN_EPS = 1e-3  # the reference (MXNet-trained) weights use 0.001


class DualPathBlock(nn.Module):
    """Pre-activation grouped bottleneck (1×1 → grouped 3×3 → 1×1) over the concatenated
    paths, writing ``res_ch`` channels into the residual path and ``inc`` new channels
    onto the dense path.

    The first block of a stage has ``project=True``: a strided 1×1 conv turns its input
    into a fresh residual path (``res_ch``) and dense path (``2 × inc``), since both change
    size there. Other blocks take the incoming paths as they are.
    """

    def __init__(
        self, in_ch: int, mid_ch: int, res_ch: int, inc: int, groups: int, stride: int = 1, project: bool = False
    ):
        super().__init__()
        self.res_ch = res_ch
        self.project = NormActConv(in_ch, res_ch + 2 * inc, 1, stride, bn_eps=BN_EPS) if project else None
        self.reduce = NormActConv(in_ch, mid_ch, 1, bn_eps=BN_EPS)
        self.grouped = NormActConv(mid_ch, mid_ch, 3, stride, groups=groups, bn_eps=BN_EPS)
        self.expand = NormActConv(mid_ch, res_ch + inc, 1, bn_eps=BN_EPS)

    def forward(self, paths: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat(paths, 1)
        if self.project is None:
            residual, dense = paths
        else:
            shortcut = self.project(x)
            residual, dense = shortcut[:, : self.res_ch], shortcut[:, self.res_ch :]
        out = self.expand(self.grouped(self.reduce(x)))
        return residual + out[:, : self.res_ch], torch.cat([dense, out[:, self.res_ch :]], 1)


class DualPathStage(nn.Sequential):
    """The blocks of one resolution; takes and returns a single map (the two paths
    concatenated), so the stage output is an ordinary feature map."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        paths: tuple[torch.Tensor, ...] = (x,)
        for block in self:
            paths = block(paths)
        return torch.cat(paths, 1)


def _stage_widths(k_r: int, inc_sec: tuple[int, ...], k_sec: tuple[int, ...], small: bool):
    """(bottleneck width, residual width, dense increment, blocks) of each stage: the
    residual path doubles per stage (×4 for the big nets), the bottleneck is ``k_r``
    channels at the first stage and doubles too."""
    factor = 1 if small else 4
    return [(k_r * 2**i, 64 * factor * 2**i, inc, n) for i, (inc, n) in enumerate(zip(inc_sec, k_sec))]


def _out_channels(res_ch: int, inc: int, blocks: int) -> int:
    """Channels leaving a stage: the residual path plus a dense path that starts at
    ``2 × inc`` and grows by ``inc`` per block."""
    return res_ch + (blocks + 2) * inc


class DualPathNet(nn.Module):
    """Stem, four dual-path stages (``conv2``–``conv5`` as in the paper's table), a final
    BN-ReLU over the concatenated paths, global pooling and a linear classifier.

    ``small`` is the DPN-68 layout (3×3 stem, narrower residual path); ``cifar_stem``
    keeps full resolution for 32×32 inputs (3×3 conv, stride 1, no max pool).
    """

    def __init__(
        self,
        num_init_features: int,
        k_r: int,
        groups: int,
        k_sec: tuple[int, int, int, int],
        inc_sec: tuple[int, int, int, int],
        small: bool = False,
        num_classes: int = 1000,
        cifar_stem: bool = False,
    ):
        super().__init__()
        if cifar_stem:
            stem = [nn.Conv2d(3, num_init_features, 3, padding=1, bias=False)]
        else:
            k = 3 if small else 7
            stem = [nn.Conv2d(3, num_init_features, k, stride=2, padding=k // 2, bias=False)]
        stem += [nn.BatchNorm2d(num_init_features, eps=BN_EPS), nn.ReLU()]
        if not cifar_stem:
            stem.append(nn.MaxPool2d(3, stride=2, padding=1))
        self.stem = nn.Sequential(*stem)
        in_ch = num_init_features
        for i, (mid, res, inc, n) in enumerate(_stage_widths(k_r, inc_sec, k_sec, small)):
            stride = 1 if i == 0 else 2
            blocks = [DualPathBlock(in_ch, mid, res, inc, groups, stride, project=True)]
            blocks += [
                DualPathBlock(res + (j + 2) * inc, mid, res, inc, groups) for j in range(1, n)
            ]
            self.add_module(f"conv{i + 2}", DualPathStage(*blocks))
            in_ch = _out_channels(res, inc, n)
        self.norm = nn.BatchNorm2d(in_ch, eps=BN_EPS)
        self.act = nn.ReLU()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(in_ch, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv5(self.conv4(self.conv3(self.conv2(self.stem(x)))))
        x = self.avgpool(self.act(self.norm(x)))
        return self.classifier(torch.flatten(x, 1))


def dpn_stages(
    num_init_features: int,
    k_r: int,
    k_sec: tuple[int, ...],
    inc_sec: tuple[int, ...],
    small: bool = False,
    cifar_stem: bool = False,
) -> list[tuple[str, int, int]]:
    widths = _stage_widths(k_r, inc_sec, k_sec, small)
    first = 1 if cifar_stem else 4
    stages = [] if cifar_stem else [("stem.2", num_init_features, 2)]
    for i, (_, res, inc, n) in enumerate(widths[:-1]):
        stages.append((f"conv{i + 2}", _out_channels(res, inc, n), first * 2**i))
    _, res, inc, n = widths[-1]
    return stages + [("act", _out_channels(res, inc, n), first * 8)]


def build_dpn(num_classes: int, **kwargs) -> DualPathNet:
    return DualPathNet(num_classes=num_classes, **kwargs)


# name: (stem width, k_r, groups, blocks per stage, dense increments, small, parameters).
# The paper's Table 1 gives the layouts; the counts are those of the common reference
# port (Cadene's pretrainedmodels, also timm), which these nets reproduce exactly.
_CONFIGS = {
    68: (10, 128, 32, (3, 4, 12, 3), (16, 32, 32, 64), True, 12_611_602),
    92: (64, 96, 32, (3, 4, 20, 3), (16, 32, 24, 128), False, 37_668_392),
    98: (96, 160, 40, (3, 6, 20, 3), (16, 32, 32, 128), False, 61_570_728),
    107: (128, 200, 50, (4, 8, 20, 3), (20, 64, 64, 128), False, 86_917_800),
    131: (128, 160, 40, (4, 8, 28, 3), (16, 32, 32, 128), False, 79_254_504),
}
for _depth, (_init, _k_r, _g, _k_sec, _inc, _small, _params) in _CONFIGS.items():
    register_model(
        f"dpn{_depth}", family=DPN, variant=f"DPN-{_depth}", paper_params=_params,
        params_source="Cadene's pretrainedmodels / timm reference implementation",
        stages=dpn_stages(_init, _k_r, _k_sec, _inc, _small), block="conv2.1",
        num_init_features=_init, k_r=_k_r, groups=_g, k_sec=_k_sec, inc_sec=_inc, small=_small,
    )(build_dpn)

_init, _k_r, _g, _k_sec, _inc, _small, _ = _CONFIGS[68]
register_model(
    "dpn68_cifar", family=DPN, variant="DPN-68 (CIFAR stem)", input_size=(3, 32, 32), num_classes=10,
    small_input=True, stages=dpn_stages(_init, _k_r, _k_sec, _inc, _small, cifar_stem=True), block="conv2.1",
    notes="DPN-68's stages on a 3×3 stride-1 stem without max pool (the paper has no CIFAR net); "
    "stages run at 32, 16, 8 and 4 pixels.",
    num_init_features=_init, k_r=_k_r, groups=_g, k_sec=_k_sec, inc_sec=_inc, small=_small, cifar_stem=True,
)(build_dpn)


# Trained weights. timm's DPNs (Cadene's port of the authors' MXNet models) and
# pytorchcv's have the same layout as ours; both end in a 1×1 conv classifier, which is
# our Linear reshaped. timm's hub files are safetensors (sorted keys), so they map by
# explicit names: features.convS_B (1-based blocks) → convS.(B-1).
def _flatten_classifier(w: torch.Tensor) -> torch.Tensor:
    return w.reshape(w.shape[0], -1)


_TIMM_RULES = (
    (r"^features\.conv1_1\.conv\.", "stem.0."),
    (r"^features\.conv1_1\.bn\.", "stem.1."),
    (r"^features\.conv5_bn_ac\.bn\.", "norm."),
    *((rf"^features\.conv(\d)_{b}\.", rf"conv\g<1>.{b - 1}.") for b in range(1, 29)),
    (r"\.c1x1_w_s[12]\.", ".project."),
    (r"\.c1x1_a\.", ".reduce."),
    (r"\.c3x3_b\.", ".grouped."),
    (r"\.c1x1_c\.", ".expand."),
    (r"\.bn\.", ".norm."),
)
_DPN_MEAN = (124 / 255, 117 / 255, 104 / 255)
_DPN_STD = (1 / (0.0167 * 255),) * 3
_TIMM_TOP1 = {68: 76.30, 92: 80.03, 98: 79.66, 107: 80.17, 131: 79.84}
# pytorchcv files: (top-1 error, top-5 error, release, file error, sha1) from its README / metainfo.
_PYTORCHCV = {
    68: (23.24, 6.79, "v0.0.310", "0679", "a33c98c783cbf93cca4cc9ce1584da50a6b12077"),
    98: (18.44, 4.30, "v0.0.540", "0430", "50ff8ef6cc0a11461dfd7168c291e2fce4382d24"),
    131: (19.62, 5.03, "v0.0.534", "0503", "1765c5eec6e62bfe03cd25e1b31225b827cc9636"),
}
for _depth, _top1 in _TIMM_TOP1.items():
    register_weights(
        WeightEntry(
            model=f"dpn{_depth}", source="timm", source_model=f"dpn{_depth}", tag="mx_in1k",
            dataset="ImageNet-1k", num_classes=1000,
            preprocess=Preprocess.imagenet(224, 0.875, "bicubic", _DPN_MEAN, _DPN_STD),
            hf_repo=f"timm/dpn{_depth}.mx_in1k", checksum=None,
            top1=_top1, metric_source="timm results-imagenet.csv (via research notes)",
            license="Apache-2.0",
            convert=(rename(*_TIMM_RULES), transform(r"^classifier\.weight$", _flatten_classifier)),
            notes="The authors' MXNet DPN weights as ported by Cadene and timm: our layout block for block "
            "(BatchNorm eps 0.001); the 1×1 conv classifier becomes our Linear.",
        ),
    )
for _depth, (_err1, _err5, _release, _fe, _sha1) in _PYTORCHCV.items():
    register_weights(
        WeightEntry(
            model=f"dpn{_depth}", source="pytorchcv", source_model=f"dpn{_depth}", tag="in1k",
            dataset="ImageNet-1k", num_classes=1000,
            preprocess=Preprocess.imagenet(224, 0.875, "bilinear"),
            url=f"https://github.com/osmr/imgclsmob/releases/download/{_release}/dpn{_depth}-{_fe}-{_sha1[:8]}.pth.zip",
            checksum=f"sha1:{_sha1}",
            top1=round(100 - _err1, 2), top5=round(100 - _err5, 2),
            metric_source=f"pytorchcv README (top-1 error {_err1}, top-5 error {_err5})",
            license="MIT",
            convert=(transform(r"^output\.classifier\.weight$", _flatten_classifier), by_order(f"dpn{_depth}")),
            notes="pytorchcv's DPN is ours parameter for parameter (its 1×1 conv classifier reshaped into our "
            "Linear), so it maps by order.",
        ),
    )
