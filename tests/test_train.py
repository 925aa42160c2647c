"""The training engine on the bundled digits, on the CPU: accuracy after short runs,
crash and stop recovery, divergence, DistributedDataParallel with two processes, and the
pieces (schedules, multi-output loss, sampler, run ids, checkpoints) on their own."""

from __future__ import annotations

import json
import math
import os
import pickle
import signal
import subprocess
import sys
import threading
import time

import pytest
import torch
from torch.utils.data import DataLoader

from classifier.cli import build_parser, main
from classifier.data import load_data, make_datasets
from classifier.train import RunDir, TrainConfig, evaluate, load_checkpoint, model_from_checkpoint, train
from classifier.train.checkpoint import save_checkpoint
from classifier.train.engine import AUX_WEIGHT, Dist, EpochSampler, pick_device, training_loss
from classifier.train.optim import build_optimizer, build_scheduler
from classifier.train.runs import open_run, validate_run_id
from tests_paths import ROOT

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def evals(run: RunDir) -> list[dict]:
    return [m for m in run.read_metrics() if m["kind"] == "eval"]


def checkpoint_accuracy(path) -> float:
    """Top-1 of a checkpoint's model on the digits test split, measured afresh."""
    model, ckpt = model_from_checkpoint(path)
    data = load_data(ckpt["dataset"], tuple(ckpt["input_size"]))
    _, test = make_datasets(data, tuple(ckpt["input_size"]), "none")
    return evaluate(model, DataLoader(test, 256), data.num_classes, torch.device("cpu"))["top1"]


def cli_process(tmp_path, run_id, *args):
    return subprocess.Popen(
        [sys.executable, "-m", "classifier", "train", "--out", str(tmp_path), "--run-id", run_id, *args],
        cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def last_logged(run: RunDir) -> dict:
    rows = run.read_metrics()
    return rows[-1] if rows else {}


def wait_for(predicate, timeout=180.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


# ---------------------------------------------------------------------------- accuracy
def test_lenet5_reaches_95_percent_within_5_epochs(tmp_path):
    cfg = TrainConfig(model="lenet5", epochs=5, batch_size=32, optimizer="adamw", lr=5e-3, augment="none")
    run = RunDir(tmp_path, "lenet")
    assert train(cfg, run) == "finished"
    best = max(e["top1"] for e in evals(run))
    assert best >= 0.95, [e["top1"] for e in evals(run)]
    assert [e["epoch"] for e in evals(run)] == [1, 2, 3, 4, 5]
    status = run.read_status()
    assert status["state"] == "finished" and status["best_top1"] == best and status["error"] is None
    # best.pt holds the weights of the best epoch: measured again, it scores the same.
    assert checkpoint_accuracy(run.best_checkpoint) == pytest.approx(best, abs=1e-9)
    last = load_checkpoint(run.last_checkpoint)
    assert last["epoch"] == 5 and last["class_names"] == [str(d) for d in range(10)]
    assert last["input_size"] == [1, 32, 32] and len(last["mean"]) == 1
    assert {"optimizer_state", "scheduler_state", "scaler_state"} <= last.keys()
    final = evals(run)[-1]
    assert sum(map(sum, final["confusion"])) == 450 and len(final["per_class"]) == 10
    assert final["top5"] >= final["top1"]


# ---------------------------------------------------------------------------- crash, stop, resume
def test_sigkill_mid_epoch_leaves_metrics_and_last_checkpoint_and_resume_finishes(tmp_path):
    proc = cli_process(tmp_path, "killed", "--model", "lenet5", "--epochs", "3", "--batch-size", "16", "--augment", "none")
    run = RunDir(tmp_path, "killed")
    try:
        wait_for(lambda: 1.2 <= last_logged(run).get("epoch", 0) < 1.9 or proc.poll() is not None,
                 what="the middle of epoch 2")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL

    lines = run.metrics_file.read_text().splitlines()
    assert all(json.loads(line) for line in lines[:-1])  # at most the last line can be cut short
    rows = run.read_metrics()
    assert [e["epoch"] for e in evals(run)] == [1] and 1.2 <= rows[-1]["epoch"] < 2
    last = load_checkpoint(run.last_checkpoint)
    assert (last["epoch"], last["batch_in_epoch"]) == (1, 0)  # the last complete one
    assert run.read_status()["state"] == "interrupted"

    assert main(["train", "--resume", "killed", "--out", str(tmp_path)]) == 0
    assert run.read_status()["state"] == "finished"
    assert [e["epoch"] for e in evals(run)] == [1, 2, 3]
    steps = [r["step"] for r in run.read_metrics() if r["kind"] == "train"]
    assert steps == list(range(1, 3 * 84 + 1))  # 1,347 // 16 = 84 steps an epoch, none twice


@pytest.mark.parametrize("how", ["stop file", "SIGTERM"])
def test_stop_is_graceful_and_resume_continues_exactly(tmp_path, how, capsys):
    run = RunDir(tmp_path, "stopped")

    def stop_at_step_20():
        wait_for(lambda: last_logged(run).get("step", 0) >= 20, what="step 20")
        if how == "SIGTERM":  # what torchrun and `kill` send; the engine's handler takes it
            os.kill(os.getpid(), signal.SIGTERM)
        else:  # what the app's Stop button does
            run.request_stop()

    stopper = threading.Thread(target=stop_at_step_20)
    stopper.start()
    code = main(["train", "--model", "lenet5", "--epochs", "2", "--batch-size", "16", "--augment", "none",
                 "--out", str(tmp_path), "--run-id", "stopped"])
    stopper.join()
    assert code == 0 and capsys.readouterr().out.splitlines()[-1].startswith("stopped:")  # after the recipe line
    status = run.read_status()
    last = load_checkpoint(run.last_checkpoint)
    assert status["state"] == "stopped" and not run.stop_requested()
    assert last["epoch"] == 0 and 20 <= last["batch_in_epoch"] < 84 and last["step"] == status["step"]

    assert main(["train", "--resume", "stopped", "--out", str(tmp_path)]) == 0
    steps = [r["step"] for r in run.read_metrics() if r["kind"] == "train"]
    assert steps == list(range(1, 2 * 84 + 1))  # the resumed half continues at the next batch
    assert run.read_status()["state"] == "finished"


def test_resume_can_extend_the_run_but_not_change_it(tmp_path, capsys):
    args = ["train", "--model", "lenet5", "--epochs", "1", "--batch-size", "128", "--out", str(tmp_path), "--run-id", "r"]
    assert main(args) == 0
    assert main(["train", "--resume", "r", "--lr", "0.5", "--out", str(tmp_path)]) == 2
    assert "cannot change lr" in capsys.readouterr().err
    assert main(["train", "--resume", "r", "--epochs", "2", "--out", str(tmp_path)]) == 0
    assert [e["epoch"] for e in evals(RunDir(tmp_path, "r"))] == [1, 2]
    assert main(args) == 2  # the id is taken
    assert "already exists" in capsys.readouterr().err


def test_huge_learning_rate_fails_with_a_sentence(tmp_path, capsys):
    code = main(["train", "--model", "lenet5", "--lr", "1e6", "--epochs", "2", "--out", str(tmp_path), "--run-id", "boom"])
    assert code == 1
    status = RunDir(tmp_path, "boom").read_status()
    assert status["state"] == "failed"
    assert status["error"].startswith("The training loss became ")
    assert "diverged" in status["error"] and "lower learning rate" in status["error"]
    assert status["error"] in capsys.readouterr().out


# ---------------------------------------------------------------------------- distributed
def test_two_process_ddp_run_gives_a_loadable_checkpoint(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "classifier", "train", "--model", "lenet5", "--epochs", "1", "--batch-size", "32",
         "--optimizer", "adamw", "--lr", "5e-3", "--augment", "none", "--out", str(tmp_path), "--run-id", "ddp"],
        cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    run = RunDir(tmp_path, "ddp")
    status = run.read_status()
    assert status["state"] == "finished" and status["world_size"] == 2
    # 1,347 images split over two processes, 16 each per step: 673 // 16 = 42 steps.
    assert load_checkpoint(run.last_checkpoint)["step"] == 42
    logged = evals(run)[0]
    assert sum(map(sum, logged["confusion"])) == 450  # the two halves of the test set, summed
    # The all-reduced evaluation equals one process evaluating the saved weights.
    assert checkpoint_accuracy(run.last_checkpoint) == pytest.approx(logged["top1"], abs=1e-9)


# ---------------------------------------------------------------------------- pieces
def lr_curve(**kw) -> list[float]:
    cfg = TrainConfig(model="lenet5", epochs=10, lr=1.0, **kw)
    opt = build_optimizer(torch.nn.Linear(2, 2), cfg)
    sched = build_scheduler(opt, cfg, steps_per_epoch=10)
    rates = []
    for _ in range(100):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return rates


def test_schedules_with_warmup():
    cosine = lr_curve(schedule="cosine", warmup_epochs=2)
    assert cosine[:20] == pytest.approx([(i + 1) / 20 for i in range(20)])
    assert cosine[20] == pytest.approx(1.0) and cosine[60] == pytest.approx(0.5)
    assert cosine[-1] < 0.001 and all(a >= b for a, b in zip(cosine[20:], cosine[21:]))
    step = lr_curve(schedule="step", step_epochs=3, step_gamma=0.1, warmup_epochs=1)
    assert step[5] == pytest.approx(0.6) and step[29] == pytest.approx(1.0)
    assert step[30] == pytest.approx(0.1) and step[95] == pytest.approx(1e-3)
    onecycle = lr_curve(schedule="onecycle", warmup_epochs=3)
    assert max(onecycle) == pytest.approx(1.0) and onecycle.index(max(onecycle)) == 29
    assert onecycle[0] == pytest.approx(1 / 25) and onecycle[-1] < 1e-3  # OneCycleLR's div factors
    assert set(lr_curve(schedule="constant")) == {1.0}


def test_weight_decay_skips_biases_and_norms():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    groups = build_optimizer(model, TrainConfig(model="lenet5", optimizer="sgd")).param_groups
    assert [len(g["params"]) for g in groups] == [1, 3] and groups[0]["weight_decay"] == 5e-4
    assert groups[1]["weight_decay"] == 0.0


def test_several_outputs_weight_the_first_fully():
    labels = torch.tensor([0, 1, 2])
    main_out, aux1, aux2 = (torch.randn(3, 4) for _ in range(3))
    ce = torch.nn.CrossEntropyLoss()
    loss, logits = training_loss((main_out, aux1, aux2), labels, ce)
    assert logits is main_out
    assert loss.item() == pytest.approx((ce(main_out, labels) + AUX_WEIGHT * (ce(aux1, labels) + ce(aux2, labels))).item())
    assert training_loss((main_out, None), labels, ce)[0].item() == pytest.approx(ce(main_out, labels).item())
    # A real model with auxiliary heads: GoogLeNet returns (logits, aux1, aux2) when training.
    from classifier import create_model

    net = create_model("googlenet_cifar", aux_logits=True).train()
    out = net(torch.randn(2, 3, 32, 32))
    assert isinstance(out, tuple) and len(out) == 3
    loss, logits = training_loss(out, torch.tensor([1, 2]), ce)
    loss.backward()
    assert logits.shape == (2, 10) and net.aux1.fc2.weight.grad is not None


def test_epoch_sampler_shards_shuffles_and_resumes():
    shards = [list(EpochSampler(103, seed=7, dist=Dist(rank, 2, rank))) for rank in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == 51 and not set(shards[0]) & set(shards[1])
    sampler = EpochSampler(103, seed=7, dist=Dist())
    epoch0 = list(sampler)
    sampler.set_epoch(1)
    epoch1 = list(sampler)
    assert sorted(epoch0) == list(range(103)) and epoch0 != epoch1
    sampler.set_epoch(1, skip=40)
    assert list(sampler) == epoch1[40:] and len(sampler) == 63


def test_device_and_amp_choices(tmp_path, capsys):
    assert pick_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert pick_device("auto").type in ("cpu", "mps")
        code = main(["train", "--model", "lenet5", "--device", "cuda", "--out", str(tmp_path), "--run-id", "g"])
        assert code == 2 and "not available" in capsys.readouterr().err
        code = main(["train", "--model", "lenet5", "--amp", "bf16", "--device", "cpu", "--out", str(tmp_path), "--run-id", "a"])
        assert code == 2 and "needs a CUDA device" in capsys.readouterr().err
        assert RunDir(tmp_path, "a").read_status()["state"] == "failed"


@pytest.mark.parametrize("bad", ["..", "../x", "a/b", "/abs", "", ".hidden", "x" * 101, "a\\b", "a\0"])
def test_run_ids_cannot_leave_the_runs_folder(tmp_path, bad):
    with pytest.raises(ValueError, match="invalid run id"):
        validate_run_id(bad)
    with pytest.raises(ValueError):
        open_run(bad, tmp_path)


def test_resume_of_a_path_is_refused(tmp_path, capsys):
    assert main(["train", "--resume", "../../etc", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: invalid run id") and err.count("\n") == 1


def test_checkpoints_load_without_running_code(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"model": "lenet5", "model_state": {"w": torch.ones(2)}})
    assert load_checkpoint(path)["model_state"]["w"].sum() == 2
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary file left

    class Payload:
        def __reduce__(self):
            return (os.system, ("echo owned",))

    torch.save({"format": "classifier-explorer-checkpoint/1", "x": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        load_checkpoint(tmp_path / "evil.pt")


def test_metrics_reader_skips_a_cut_line(tmp_path):
    run = RunDir(tmp_path, "m")
    run.path.mkdir()
    run.metrics_file.write_text('{"kind": "train", "step": 1}\n{"kind": "train", "step": 2}\n{"kind": "tr')
    assert [r["step"] for r in run.read_metrics()] == [1, 2]
    run.truncate_metrics(1)
    assert run.metrics_file.read_text() == '{"kind": "train", "step": 1}\n'


def test_config_round_trips_through_the_command_line():
    cfg = TrainConfig(model="resnet20_cifar", optimizer="sgd", nesterov=True, schedule="onecycle", warmup_epochs=1.5,
                      label_smoothing=0.1, grad_clip=2.0, channels_last=True, seed=3)
    args = build_parser().parse_args(["train", *cfg.to_args()])
    given = {k: v for k, v in vars(args).items() if v is not None and k in cfg.to_dict()}
    assert TrainConfig(**given) == cfg
    assert math.isclose(cfg.lr, 0.1) and cfg.weight_decay == 1e-4  # the recipe's (He et al.'s) were filled in
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(model="lenet5", optimizer="lbfgs")
    with pytest.raises(ValueError, match="warm-up"):
        TrainConfig(model="lenet5", epochs=2, warmup_epochs=2)


def test_keep_epochs_saves_every_epoch_for_feature_evolution(tmp_path):
    from classifier.feature_evolution import saved_epochs

    cfg = TrainConfig(model="lenet5", epochs=2, batch_size=128, augment="none", keep_epochs=True)
    run = RunDir(tmp_path, "kept")
    assert train(cfg, run) == "finished"
    assert sorted(p.name for p in run.epochs_dir.iterdir()) == ["epoch-001.pt", "epoch-002.pt"]
    assert [(e.epoch, e.kind) for e in saved_epochs(run)] == [(1, "epoch"), (2, "epoch")]
    assert "--keep-epochs" in cfg.to_args()


def test_runs_table_row_of_a_run_stopped_before_its_first_evaluation(tmp_path):
    """A run stopped in its first epoch has no best top-1 yet: the table shows a dash."""
    from classifier.train.report import run_row

    run = RunDir(tmp_path, "early-stop")
    run.write_config(TrainConfig(model="lenet5", epochs=2))
    run.write_status("stopped", epoch=0.3)
    row = run_row(run)
    assert row["best top-1 (%)"] == "–" and row["state"] == "stopped"
    assert "None" not in map(str, row.values())
