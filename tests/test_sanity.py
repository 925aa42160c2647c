"""Sanity checks of attribution maps (Adebayo et al. 2018, arXiv 1810.03292) and their
faithfulness curves: the paper's two findings reproduced on nets trained here in seconds,
curve areas against a model whose evidence is known, and the Inspect tab rendering them."""

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest
from tests_paths import ROOT
from torch import nn

from classifier import create_model
from classifier.data import load_data
from classifier.data.sets import shuffled_labels
from classifier.explain.sanity import (
    RANDOM_ORDER,
    cascade_steps,
    cascading_randomisation,
    data_randomisation,
    edge_map,
    fidelity,
    parameter_modules,
    perturbation_curves,
    rank_correlation,
    shuffled_label_runs,
)
from classifier.train import TrainConfig
from classifier.train.engine import train
from classifier.train.runs import RunDir

DIGITS_MEAN, DIGITS_STD = 0.3062, 0.3243


def small_cnn() -> nn.Module:
    """Three conv–ReLU–max-pool stages: the shape of the paper's MNIST net, small enough to
    train on the bundled digits in seconds."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 10),
    )


def fit(images: torch.Tensor, labels: torch.Tensor, epochs: int) -> nn.Module:
    net = small_cnn()
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        order = torch.randperm(len(images), generator=g)
        for i in range(0, len(images), 64):
            idx = order[i : i + 64]
            loss = nn.functional.cross_entropy(net(images[idx]), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


def normalised(images: torch.Tensor) -> torch.Tensor:
    return (images.float() / 255 - DIGITS_MEAN) / DIGITS_STD


@pytest.fixture(scope="module")
def digits():
    data = load_data("digits", (1, 32, 32))
    return normalised(data.train.images), data.train.labels, normalised(data.test.images), data.test.labels


@pytest.fixture(scope="module")
def trained(digits):
    images, labels, test_images, test_labels = digits
    net = fit(images, labels, epochs=2)
    with torch.no_grad():
        accuracy = (net(test_images).argmax(1) == test_labels).float().mean().item()
    assert accuracy > 0.85, accuracy  # it learnt the digits (96 % after three epochs when measured)
    return net


def shapes_image(size: int = 32) -> torch.Tensor:
    """A bright rectangle and a green disc on a dark ground: edges a Sobel filter finds."""
    x = torch.full((3, size, size), 0.1)
    x[:, size // 4 : size // 2, size // 4 : 3 * size // 4] = 0.9
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    x[1][(yy - 0.7 * size) ** 2 + (xx - 0.6 * size) ** 2 < (size / 6) ** 2] = 0.8
    return ((x - 0.45) / 0.25)[None]


def test_cascade_steps_follow_the_nets_blocks():
    net = small_cnn()
    modules = parameter_modules(net, torch.zeros(1, 1, 32, 32))
    assert modules == ["0", "3", "6", "10"]  # execution order; ReLU and pooling own nothing
    assert [s.label for s in cascade_steps(modules)] == ["10", "6", "3", "0"]
    nested = ["stem.conv", "stem.bn", "layer1.0.conv", "layer1.0.bn", "layer1.1.conv", "fc"]
    assert [s.label for s in cascade_steps(nested, max_steps=5)] == ["fc", "layer1.1", "layer1.0", "stem.bn", "stem.conv"]
    assert [s.label for s in cascade_steps(nested, max_steps=4)] == ["fc", "layer1", "stem"]
    halves = cascade_steps(nested, max_steps=2)  # even the top level has too many: equal runs
    assert [s.label for s in halves] == ["fc … layer1.0.bn", "layer1.0.conv … stem.conv"]
    assert sorted(m for s in halves for m in s.modules) == sorted(nested)


def test_saliency_of_a_trained_net_decorrelates_while_guided_backprop_does_not(trained, digits):
    """Adebayo et al. Fig. 2/4: the gradient changes with the weights, guided backprop much less."""
    _, _, test_images, test_labels = digits
    x, y = test_images[:1], int(test_labels[0])
    before = [p.detach().clone() for p in trained.parameters()]
    cascade = cascading_randomisation(trained, x, y, ["saliency", "guided"])
    assert all(torch.equal(a, b) for a, b in zip(before, trained.parameters())), "the caller's model must stay as it was"
    assert cascade.labels == ["original", "10", "6", "3", "0"]
    saliency, guided = cascade.correlation["saliency"], cascade.correlation["guided"]
    assert saliency[0] == pytest.approx(1.0) and guided[0] == pytest.approx(1.0)
    # measured: saliency 0.31 after the top layer, 0.09 fully random; guided 0.77, then 0.32
    assert saliency[-1] < 0.25 and max(saliency[1:]) < 0.5, saliency
    assert guided[1] > saliency[1] + 0.3, (guided, saliency)


def test_guided_backprop_of_a_fully_random_net_draws_the_edges():
    """The known failure: with every layer re-initialised, guided backprop's map still ranks
    pixels like an edge detector, and far more so than the gradient does. ZFNet's 32×32
    variant (the deconvnet's own net), every block re-initialised in one step."""
    x = shapes_image()
    cascade = cascading_randomisation(create_model("zfnet_cifar"), x, 0, ["guided", "saliency"], max_steps=1)
    edges = edge_map(x)
    guided = rank_correlation(cascade.maps["guided"][-1], edges)
    saliency = rank_correlation(cascade.maps["saliency"][-1], edges)
    # measured over seeds 0–2: guided 0.57–0.59, saliency 0.34–0.39
    assert guided > 0.5 and guided > saliency + 0.12, (guided, saliency)


def test_data_randomisation_the_shuffled_label_net_gets_another_saliency_map(trained, digits):
    images, labels, test_images, test_labels = digits
    real, permuted = load_data("digits", (1, 32, 32)), load_data("digits_shuffled", (1, 32, 32))
    shuffled_set = permuted.train
    assert torch.equal(shuffled_set.labels, shuffled_labels(real.train).labels)
    assert torch.equal(shuffled_set.images, real.train.images) and torch.equal(permuted.test.labels, real.test.labels)
    assert torch.equal(shuffled_set.labels.bincount(), labels.bincount())  # same class counts …
    assert (shuffled_set.labels != labels).float().mean() > 0.8  # … on other images
    shuffled = fit(images, shuffled_set.labels, epochs=1)
    x, y = test_images[:1], int(test_labels[0])
    (_, _, rho), = data_randomisation(trained, shuffled, x, y, ["saliency"]).values()
    assert abs(rho) < 0.3, rho  # measured −0.07 to 0.08 on the first three test digits


class EvidenceModel(nn.Module):
    """Logit 0 is the sum of the pixels weighted by ``evidence``, logit 1 is the constant
    ``threshold``: the pixels that matter, and by how much, are known exactly."""

    def __init__(self, evidence: torch.Tensor, threshold: float):
        super().__init__()
        self.evidence = nn.Parameter(evidence)
        self.threshold = threshold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = (x * self.evidence).flatten(1).sum(1)
        return torch.stack([score, torch.full_like(score, self.threshold)], 1)


def evidence_setup():
    g = torch.Generator().manual_seed(0)
    evidence = torch.rand(1, 1, 16, 16, generator=g) ** 4  # a few pixels carry most of it
    x = torch.ones(1, 1, 16, 16)
    return EvidenceModel(evidence, float(evidence.sum()) / 2).eval(), x, evidence[0, 0].numpy()


def test_curve_areas_rank_an_oracle_map_above_a_random_map():
    model, x, oracle = evidence_setup()
    noise = np.random.default_rng(1).random(oracle.shape)
    curves = perturbation_curves(model, x, 0, {"oracle": oracle, "noise": noise}, steps=16, baseline="mean")
    assert curves.deletion["oracle"][0] == pytest.approx(curves.deletion["noise"][0])  # the same image at step 0
    for other in ("noise", RANDOM_ORDER):
        assert curves.area("deletion", "oracle") < curves.area("deletion", other) - 0.1
        assert curves.area("insertion", "oracle") > curves.area("insertion", other) + 0.1


def test_infidelity_is_zero_for_the_exact_attribution_of_a_linear_model():
    """For a linear logit the gradient (saliency) predicts every perturbation exactly; occlusion,
    which measures the probability, does not."""
    model, x, _ = evidence_setup()
    exact = fidelity(model, x, 0, "saliency", samples=4)
    occluded = fidelity(model, x, 0, "occlusion", samples=4)
    assert exact.infidelity < 1e-6 < occluded.infidelity
    assert exact.sensitivity == pytest.approx(0.0, abs=1e-6)  # the gradient of a linear map never moves


@pytest.fixture(scope="module")
def shuffled_run(tmp_path_factory):
    """A real run of LeNet-5 on shuffled digits (one epoch: what it memorises is beside the point here)."""
    root = tmp_path_factory.mktemp("runs")
    cfg = TrainConfig(model="lenet5", dataset="digits_shuffled", epochs=1, batch_size=64, optimizer="adamw",
                      lr=5e-3, augment="none")
    assert train(cfg, RunDir(root, "lenet-shuffled")) == "finished"
    return root


def test_inspect_sanity_tab_renders_each_check(shuffled_run, monkeypatch):
    monkeypatch.setenv("CLASSIFIER_RUNS_DIR", str(shuffled_run))
    assert list(shuffled_label_runs("lenet5")) == ["lenet-shuffled"]
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["inspect_model"] = "lenet5"
    at.session_state["inspect_tab"] = "Sanity checks"
    at.switch_page("app_pages/inspect.py")
    at.run()
    assert not at.exception, at.exception
    at.multiselect(key="sanity_methods").set_value(["saliency", "gradcam"]).run()
    expected = {  # the chart's title, a download
        "cascade": ("Cascading model randomisation", "Correlations (CSV)"),
        "data": (None, "Maps (PNG)"),
        "curves": ("Deletion curve", "Curves (CSV)"),
        "fidelity": (None, "Scores (CSV)"),
    }
    for check, (chart, download) in expected.items():
        at.radio(key="sanity_check").set_value(check).run()
        assert any("Press **Run**" in i.value for i in at.info), [i.value for i in at.info]
        at.button(key=f"sanity_run_{check}").click().run()
        assert not at.exception and not at.error, (check, at.exception, [e.value for e in at.error])
        assert any(download in d.proto.label for d in at.get("download_button")), check
        charts = [c.proto.spec for c in at.get("plotly_chart")][1:]  # after the top-5 chart
        if chart:
            assert charts and chart in charts[0], check
        else:
            assert not charts, check
    table = at.dataframe[-1].value
    assert list(table["Method"]) == ["Saliency (gradient)", "Grad-CAM"]
