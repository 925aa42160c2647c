"""CondenseNet trained by the engine as the paper trains it: the learned group
convolutions prune in C − 1 stages during the first half of the run (the authors' code:
a stage at each 1/(2(C−1)) of training, here 1/6, 2/6 and 3/6 for C = 4), the group
lasso joins the loss until then, the run resumes from its training form, and best.pt
holds the converted network, which computes the trained network's logits.

Sampled, not the registered depth: CondenseNet-86 takes seconds per batch on CI's two
cores, so the registered condensenet_86_cifar is built here as a tiny CondenseNet of the
same class and layers (blocks of 2 layers, growth 4-8-16, stride-4 stem, C = G = 4) by
patching its registry defaults; every create_model of the test, the checkpoint readers'
included, then builds that one.
"""

from __future__ import annotations

import threading

import pytest
import torch
from streamlit.testing.v1 import AppTest

from classifier import registry
from classifier.data import load_data, make_datasets
from classifier.models.condensenet import LASSO_WEIGHT, CondensedConv, CondenseNet, LearnedGroupConv
from classifier.registry import create_model
from classifier.train import RunDir, TrainConfig, load_checkpoint, model_from_checkpoint, save_checkpoint, train
from classifier.train.engine import Trainer
from classifier.weights import WeightsError, load_weights
from tests_paths import ROOT

NAME = "condensenet_86_cifar"
TINY = {"layers": (2, 2, 2), "growth": (4, 8, 16), "stem_stride": 4}
# 1,347 digits in batches of 128: 10 steps an epoch, 20 in the two-epoch run.
CONFIG = dict(model=NAME, epochs=2, batch_size=128, optimizer="sgd", lr=0.1, schedule="cosine", augment="none")
STEPS = 20
STOP_AT_STAGE = 2  # the first process stops once this stage is done; a second one resumes


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One CondenseNet run stopped during condensation and resumed to the end, with a
    record of every training_progress and regularization_loss call the engine made."""
    calls = {"progress": [], "lasso": []}
    stop = threading.Event()
    progress, lasso = CondenseNet.training_progress, CondenseNet.regularization_loss

    def spy_progress(self, fraction):
        progress(self, fraction)
        stage = int(self._learned()[0].stage)
        calls["progress"].append((fraction, stage))
        if stage == STOP_AT_STAGE:
            stop.set()

    def spy_lasso(self):
        value = lasso(self)
        calls["lasso"].append(float(value.detach()))
        return value

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(registry._entry(NAME), "defaults", {**registry._entry(NAME).defaults, **TINY})
        mp.setattr(CondenseNet, "training_progress", spy_progress)
        mp.setattr(CondenseNet, "regularization_loss", spy_lasso)
        run = RunDir(tmp_path_factory.mktemp("runs"), "condense")
        cfg = TrainConfig(**CONFIG)
        run.write_config(cfg)
        first = Trainer(cfg, run, stop=stop)
        assert first.fit() == "stopped"
        first.close()
        stopped_at = load_checkpoint(run.last_checkpoint)
        assert train(cfg, run, resume=True) == "finished"
        yield run, calls, stopped_at  # the patches hold while the tests read the run


def learned(model):
    return [m for m in model.modules() if isinstance(m, LearnedGroupConv)]


def test_condensation_runs_on_the_papers_schedule(run):
    _, calls, stopped_at = run
    fractions = [f for f, _ in calls["progress"]]
    assert fractions == [s / STEPS for s in range(STEPS)], "once before every step, resumed run included"
    stages = [stage for _, stage in calls["progress"]]
    # A stage at each sixth of the 20 steps (3.3, 6.7, 10: the first step at or past it),
    # then the optimisation stage for the second half.
    assert [stages.index(k) for k in (1, 2, 3)] == [4, 7, 10]
    assert stages[-1] == 3
    assert stopped_at["step"] == 8, "stopped at the log step after stage 2 began"


def test_group_lasso_is_in_the_loss_until_condensation_ends(run):
    _, calls, _ = run
    assert len(calls["lasso"]) == STEPS
    assert all(v > 0 for v in calls["lasso"][:10]) and all(v == 0 for v in calls["lasso"][10:])
    # the weight is the authors' λ: the value is LASSO_WEIGHT × the plain group lasso
    model = create_model(NAME, num_classes=10).train()
    assert model.regularization_loss().item() == pytest.approx(LASSO_WEIGHT * model.lasso_loss().item(), rel=1e-6)


def test_resume_continues_from_the_training_form(run):
    path, _, stopped_at = run
    assert stopped_at["build"] == {} and stopped_at["batch_in_epoch"] == 8
    saved = {k: v for k, v in stopped_at["model_state"].items() if k.endswith("mask")}
    final = load_checkpoint(path.last_checkpoint)
    assert final["step"] == STEPS and final["build"] == {}
    for key, mask in saved.items():
        # stage 2's masks were restored, not redrawn: the final mask only removes more
        assert mask.sum() == mask.numel() // 2
        assert not (final["model_state"][key] > mask).any(), key


def test_every_learned_group_conv_keeps_one_in_c_inputs(run):
    path, _, _ = run
    model = create_model(NAME, num_classes=10)
    model.load_state_dict(load_checkpoint(path.last_checkpoint)["model_state"])
    convs = learned(model)
    assert len(convs) == 6
    for conv in convs:
        assert int(conv.stage) == conv.condense_factor - 1
        for g in range(conv.groups):
            assert int(conv.group_mask(g).sum()) == conv.in_channels // conv.condense_factor
            assert torch.equal(conv.mask[g :: conv.groups], conv.mask[g : g + 1].expand_as(conv.mask[g :: conv.groups]))


def test_best_checkpoint_is_the_converted_net_with_the_trained_logits(run):
    path, _, _ = run
    best = load_checkpoint(path.best_checkpoint)
    assert best["build"] == {"converted": True, "classifier_keep": 1.0}
    assert best["epoch"] == 2, "the first evaluation of the condensed net replaces the earlier best.pt"
    assert path.read_status()["best_top1"] == best["best_top1"]
    converted, _ = model_from_checkpoint(path.best_checkpoint)
    assert not learned(converted) and len([m for m in converted.modules() if isinstance(m, CondensedConv)]) == 6
    trained = create_model(NAME, num_classes=10)
    trained.load_state_dict(load_checkpoint(path.last_checkpoint)["model_state"])  # same epoch, same weights
    assert sum(p.numel() for p in converted.parameters()) < sum(p.numel() for p in trained.parameters())

    data = load_data("digits", (3, 32, 32))
    _, test = make_datasets(data, (3, 32, 32), "none", best["mean"], best["std"])
    x = torch.stack([test[i][0] for i in range(64)]).double()
    with torch.no_grad():
        delta = (converted.double()(x) - trained.double().eval()(x)).abs().max().item()
    assert delta < 1e-9, delta

    # what Evaluate and Inspect load: the run's checkpoint through load_weights
    loaded = load_weights(NAME, path.best_checkpoint)
    assert loaded.class_names == [str(d) for d in range(10)]
    assert len([m for m in loaded.model.modules() if isinstance(m, CondensedConv)]) == 6


def test_train_page_shows_the_condensation(run, monkeypatch):
    path, _, _ = run
    assert path.read_status()["model_status"].startswith("Condensation: stage 4 of 4 (optimisation), 75%")
    monkeypatch.setenv("CLASSIFIER_RUNS_DIR", str(path.root))
    at = AppTest.from_file(str(ROOT / "app_pages" / "train.py"), default_timeout=120).run()
    assert not at.exception, at.exception
    assert any(c.value.startswith("Condensation: stage 4 of 4") for c in at.caption)


def test_build_options_a_builder_does_not_take_are_one_sentence(tmp_path):
    """An uploaded file's own ``build`` entry reaches the builder; a wrong one is refused
    as a message, not a traceback."""
    path = tmp_path / "odd.pt"
    save_checkpoint(path, {"model": "lenet5", "class_names": list("0123456789"), "build": {"converted": True},
                           "model_state": create_model("lenet5", num_classes=10).state_dict()})
    with pytest.raises(WeightsError, match=r"^The checkpoint's build options \{'converted': True\} do not fit lenet5\.$"):
        load_weights(None, path)
