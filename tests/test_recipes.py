"""Per-model recipes: the plain CLI command trains LeNet-5 to 95 %, and settings resolve,
override, round-trip and refuse bad values."""

from __future__ import annotations

import pytest
import torch
from streamlit.testing.v1 import AppTest

from classifier.cli import build_parser, main
from classifier.data.transforms import augmentation
from classifier.registry import get_card, list_models
from classifier.train import RunDir, TrainConfig
from classifier.train.config import OPTIMIZERS, SCHEDULES
from classifier.train.optim import build_scheduler, end_epoch
from classifier.train.recipes import GENERAL, RECIPE_FIELDS, recipe_for
from tests_paths import ROOT

SMALL = list_models(small_input=True)


def evals(run: RunDir) -> list[dict]:
    return [m for m in run.read_metrics() if m["kind"] == "eval"]


# ---------------------------------------------------------------------------- the recipes themselves
@pytest.mark.parametrize("name", SMALL)
def test_every_small_input_variant_has_a_valid_recipe_with_its_source(name):
    recipe = get_card(name).recipe
    assert recipe is recipe_for(name) and recipe is not GENERAL, "each 32×32 variant has its own family's recipe"
    assert recipe.optimizer in OPTIMIZERS and recipe.schedule in SCHEDULES
    assert recipe.lr > 0 and recipe.weight_decay >= 0 and recipe.batch_size >= 1 and recipe.epochs >= 1
    assert 0 <= recipe.warmup_epochs < recipe.epochs and 0 <= recipe.label_smoothing < 1
    # a paper (author and year), the measurement that chose it, or the plain statement that it was not tuned
    assert (recipe.source.startswith(("measured here: ", "not tuned for this net: "))
            or any(str(y) in recipe.source for y in range(2012, 2024)))


def test_imagenet_sized_nets_fine_tune_with_the_general_recipe():
    assert get_card("resnet50").recipe is GENERAL and get_card("resnet20_cifar").recipe is not GENERAL


def test_unset_fields_come_from_the_recipe_and_set_ones_win():
    recipe = recipe_for("resnet20_cifar")
    cfg = TrainConfig(model="resnet20_cifar")
    assert {f: getattr(cfg, f) for f in RECIPE_FIELDS} == {f: getattr(recipe, f) for f in RECIPE_FIELDS}
    mine = TrainConfig(model="resnet20_cifar", epochs=3, weight_decay=0.0, label_smoothing=0.1)
    assert (mine.epochs, mine.weight_decay, mine.label_smoothing, mine.lr) == (3, 0.0, 0.1, recipe.lr)
    # another optimizer than the recipe's takes that optimizer's own rate and decay
    adam = TrainConfig(model="resnet20_cifar", optimizer="adam")
    assert (adam.lr, adam.weight_decay) == (1e-3, 0.0)
    # a recipe's warm-up shrinks to a quarter of a run the user made shorter than it
    assert TrainConfig(model="preact_resnet164_cifar", epochs=1).warmup_epochs == 0.25


def test_a_resolved_config_round_trips_through_json_and_the_command_line():
    cfg = TrainConfig(model="densenet40_cifar", epochs=2)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    args = build_parser().parse_args(["train", *cfg.to_args()])
    given = {k: v for k, v in vars(args).items() if v is not None and k in cfg.to_dict()}
    assert TrainConfig(**given) == cfg
    assert "--nesterov" in cfg.to_args()  # DenseNet's Nesterov momentum is recorded, not re-derived


@pytest.mark.parametrize("argv, sentence", [
    (["--lr", "-0.1"], "the learning rate must be positive, not -0.1"),
    (["--epochs", "0"], "epochs must be at least 1, not 0"),
    (["--batch-size", "2000"], "a batch of 2000 is larger than the 1,347 training images of digits"),
])
def test_an_out_of_range_field_is_one_sentence_and_no_run(tmp_path, capsys, argv, sentence):
    assert main(["train", "--model", "lenet5", *argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"error: {sentence}" and "Traceback" not in err
    assert not any(tmp_path.iterdir()), "no run folder was created"


def test_flip_mirrors_objects_only():
    assert augmentation("strokes", "flip", (32, 32)) == []  # a mirrored digit is another glyph
    (flip,) = augmentation("objects", "flip", (32, 32))
    assert type(flip).__name__ == "RandomHorizontalFlip"


def test_plateau_cuts_the_rate_after_its_patience_and_warms_up_first():
    cfg = TrainConfig(model="alexnet_cifar", epochs=10, lr=1.0, warmup_epochs=1)
    assert cfg.schedule == "plateau"
    opt = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=cfg.lr)
    sched = build_scheduler(opt, cfg, steps_per_epoch=4)
    rates = []
    for loss in (1.0, 0.9, 0.95, 0.95, 0.95, 0.95):
        for _ in range(4):
            rates.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        end_epoch(sched, loss)
    assert rates[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])  # the warm-up epoch
    # epochs 2-5 stay at 1.0; the third epoch in a row without a loss below 0.9 (patience 2) cuts ÷10
    assert rates[4:20] == pytest.approx([1.0] * 16) and rates[20:] == pytest.approx([0.1] * 4)
    plain = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.5)
    build_scheduler(plain, TrainConfig(model="alexnet_cifar", epochs=10, lr=0.5), 4).step()  # no warm-up
    assert plain.param_groups[0]["lr"] == 0.5
    restored = build_scheduler(torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=1.0), cfg, 4)
    restored.load_state_dict(sched.state_dict())
    assert restored.state_dict() == sched.state_dict()


# ---------------------------------------------------------------------------- the plain command learns
def test_plain_cli_command_trains_lenet5_past_95_percent_in_5_epochs(tmp_path, capsys):
    """The command a new user types (issue 15: it ended at 15.6 % with the old SGD 0.1)."""
    code = main(["train", "--model", "lenet5", "--dataset", "digits", "--epochs", "5",
                 "--out", str(tmp_path), "--run-id", "plain"])
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"lenet5 recipe: {recipe_for('lenet5').source}; set here: epochs")
    run = RunDir(tmp_path, "plain")
    assert evals(run)[-1]["top1"] >= 0.95, [e["top1"] for e in evals(run)]
    recorded = run.read_config()
    assert (recorded.optimizer, recorded.lr, recorded.epochs) == ("adamw", recipe_for("lenet5").lr, 5)


def test_train_page_starts_from_the_recipe_and_refuses_an_oversized_batch(tmp_path, monkeypatch):
    monkeypatch.setenv("CLASSIFIER_RUNS_DIR", str(tmp_path))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("app_pages/train.py").run()
    lenet = recipe_for("lenet5")
    assert any(lenet.source in c.value for c in at.caption), "one line says where the defaults come from"
    assert (at.number_input(key="train_epochs").value, at.number_input(key="train_lr").value) == (lenet.epochs, lenet.lr)
    at.selectbox(key="train_model").set_value("resnet20_cifar").run()
    resnet = recipe_for("resnet20_cifar")
    assert any(resnet.source in c.value for c in at.caption)
    assert at.selectbox(key="train_optimizer").value == resnet.optimizer
    assert at.number_input(key="train_weight_decay").value == resnet.weight_decay
    assert "plateau" in at.selectbox(key="train_schedule").options
    at.number_input(key="train_batch").set_value(4000)
    at.button(key="FormSubmitter:train_form-Start").click().run()
    assert [e.value for e in at.error] == [
        "Could not start the run: a batch of 4000 is larger than the 1,347 training images of digits"]
    assert not any(tmp_path.iterdir()), "no run was started"
