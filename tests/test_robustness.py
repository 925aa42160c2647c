"""Robustness probes: the perturbations do what they say, a net invariant by construction
keeps its answer exactly, one that is not loses it, and strength 0 is the original."""

import numpy as np
import pytest
import torch
from torch import nn

from classifier.compare import look
from classifier.compare.robustness import (
    CIRCULAR_SHIFT,
    PROBES,
    blur,
    probe_figure,
    probe_net,
    probes_sheet,
    robustness,
    rotate,
    scale,
    shift,
)
from classifier.images import decode_image, sample_images
from classifier.weights import load_weights

CLASSES = [f"c{i}" for i in range(5)]


def pooled_net(padding_mode: str) -> nn.Module:
    """conv → ReLU → global average pool → linear: with circular padding every circular
    shift of the input only permutes the conv's outputs, which the pool then forgets."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, padding_mode=padding_mode), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5)).eval()


def test_perturbations_move_pixels_as_named():
    x = torch.zeros(1, 1, 7, 7)
    x[0, 0, 1, 2] = 1.0
    assert shift(x, 3)[0, 0].nonzero().tolist() == [[4, 5]]
    assert shift(x, 6)[0, 0].abs().sum() == 0  # moved out of the frame, the mean colour in
    assert shift(x, 6, circular=True)[0, 0].nonzero().tolist() == [[0, 1]]  # 1+6, 2+6 mod 7
    y = torch.randn(1, 2, 7, 7)
    # odd side, 90°: the grid maps onto itself, so bilinear rotation is exact; anticlockwise
    torch.testing.assert_close(rotate(y, 90), torch.rot90(y, 1, dims=(-2, -1)), atol=1e-5, rtol=0)
    torch.testing.assert_close(scale(y, 1.0), y, atol=1e-5, rtol=0)
    assert scale(torch.ones(1, 1, 20, 20), 0.5)[0, 0, 0].abs().max() == 0  # a border appears
    flat = torch.full((1, 3, 16, 16), 0.7)
    torch.testing.assert_close(blur(flat, 2.0), flat)
    assert blur(y, 1.0).std() < y.std()


def test_circularly_padded_pooled_net_is_exactly_shift_invariant():
    x = torch.randn(1, 3, 24, 24)
    net = probe_net(pooled_net("circular"), x, CLASSES, "pooled", [CIRCULAR_SHIFT])
    curve = net.curves["shift"]
    assert curve.values == list(range(9)) and curve.first_change() is None
    np.testing.assert_allclose(curve.probability, net.probability, atol=1e-5)


def test_zero_padded_pooled_net_keeps_its_answer_for_content_on_a_mean_background():
    # Content 10 px inside a zero (mean-colour) frame: a shift of up to 8 px only moves
    # it over more of the same background, which the zero-padded conv sees everywhere alike.
    x = torch.zeros(1, 3, 40, 40)
    x[..., 10:22, 10:22] = torch.randn(1, 3, 12, 12)
    net = probe_net(pooled_net("zeros"), x, CLASSES, "pooled", [PROBES["shift"]])
    np.testing.assert_allclose(net.curves["shift"].probability, net.probability, atol=1e-5)


def test_a_net_reading_pixel_positions_is_not_shift_invariant():
    # The control: a linear layer on the flattened pixels sees a shift as a new image.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 24 * 24, 5)).eval()
    x = torch.randn(1, 3, 24, 24)
    curve = probe_net(model, x, CLASSES, "flat", [CIRCULAR_SHIFT]).curves["shift"]
    assert max(abs(p - curve.probability[0]) for p in curve.probability) > 0.05


@pytest.fixture(scope="module")
def probed():
    """Two small registered nets on a sample image, probed once: (views, results, the
    progress calls)."""
    picture = decode_image(next(iter(sample_images().values())))
    views = [look(load_weights(name, "random"), picture) for name in ("resnet20_cifar", "lenet5")]
    done = []
    return views, robustness(views, progress=lambda d, t: done.append((d, t))), done


def test_strength_zero_is_the_original_prediction(probed):
    views, nets, done = probed
    assert done == [(1, 2), (2, 2)]
    for view, net in zip(views, nets):
        # the page's top-1 (one image alone) and the probes' batch agree at the neutral strength
        assert net.top1 == view.top1.index and net.probability == pytest.approx(view.top1.probability, abs=1e-6)
        for probe in PROBES.values():
            curve = net.curves[probe.key]
            at = curve.values.index(probe.neutral)
            assert curve.top1[at] == net.top1 and not curve.changed[at]
            assert curve.probability[at] == pytest.approx(net.probability, abs=1e-5)
            assert len(curve.probability) == len(probe.values)


def test_charts_have_a_line_per_net_and_crosses_where_the_top1_changed(probed):
    views, nets, _ = probed
    for probe in PROBES.values():
        fig = probe_figure(nets, probe)
        assert [t.name for t in fig.data] == [v.label for v in views]
        for trace, net in zip(fig.data, nets):
            crosses = [s == "x" for s in trace.marker.symbol]
            assert crosses == net.curves[probe.key].changed
    sheet = probes_sheet(nets)
    assert sheet.dtype == np.uint8 and sheet.ndim == 3 and sheet.shape[2] == 3 and sheet.std() > 0
