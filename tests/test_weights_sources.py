"""Every weights entry from an installable library, proved against that library's model.

For each timm and pytorchcv entry (all of them, none sampled): build the source's own
network with random weights, give its BatchNorms distinct running statistics, write its
state dict where and how the loader reads the real file, load it through the project's
loader with the network unreachable, and require our logits to equal the source's
(max abs diff ≤ 1e-4) on one image, at half the entry's side where the net accepts it
(``weights_oracle.measure``). torchvision's entries share one loading path without a mapping
and are proved in test_weights.py.
"""

from __future__ import annotations

import socket

import pytest

from classifier.weights import all_entries, get_entry
from weights_oracle import caches_under, measure

SOURCE_ENTRIES = [e.id for e in all_entries() if e.source in ("timm", "pytorchcv")]
TOLERANCE = 1e-4


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """Empty caches under tmp_path, the hub offline, and any socket connection refused."""
    for key, value in caches_under(tmp_path).items():
        monkeypatch.setenv(key, value)

    def refuse(*args, **kwargs):
        raise OSError("network unreachable (test)")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return tmp_path


@pytest.mark.parametrize("entry_id", SOURCE_ENTRIES)
def test_entry_gives_the_source_models_logits(entry_id, offline):
    entry = get_entry(entry_id)
    got, expected, loaded = measure(entry)
    assert got.shape == expected.shape == (1, entry.num_classes)
    assert expected.std() > 1e-3, "the reference's logits are flat: the comparison would prove nothing"
    diff = (got - expected).abs().max().item()
    assert diff <= TOLERANCE, f"{entry_id}: max abs logit difference {diff:.3g}"
    assert loaded.source == entry.id and loaded.preprocess == entry.preprocess


# Issue 13's coverage list: ImageNet weights for every one of these.
IMAGENET_COVERAGE = (
    "zfnet inception_v2 inception_v4 inception_resnet_v1 inception_resnet_v2 xception dpn68 dpn92 dpn98 dpn107 "
    "dpn131 se_resnet50 se_resnext50_32x4d senet154 nasnet_a_large nasnet_a_mobile mobilenet_v1 vit_ti_16 "
    "vit_s_16 igcv3_d condensenet_g4 preact_resnet18 preact_resnet50 preact_resnet200"
).split()


@pytest.mark.parametrize("name", IMAGENET_COVERAGE)
def test_listed_nets_have_imagenet_weights(name):
    from classifier.weights import weight_entries

    assert any(e.dataset == "ImageNet-1k" for e in weight_entries(name)), f"{name} has no ImageNet entry"
