"""The engine's CUDA-only paths, checked on a machine without a GPU, so that a GPU run
only has speed left to confirm.

Where torch runs the path on the CPU, the engine's own training step runs it: bf16 and
fp16 autocast with the gradient scaler (the pair ``mixed_precision`` builds, which a run
refuses off CUDA but which works on the CPU), and channels-last weights and batches.
Two processes under torch.distributed (gloo) are tests/test_train.py's
test_two_process_ddp_run_gives_a_loadable_checkpoint. What only CUDA can run is checked
at the torch calls the settings reach: the nccl backend and the GPU of the local rank
under torchrun, pinned host memory in both loaders, and the fp16 scaler and autocast of
a CUDA run.
"""

from __future__ import annotations

import math
import threading

import pytest
import torch

from classifier.cli import main
from classifier.train import RunDir, TrainConfig
from classifier.train import engine
from classifier.train.engine import Dist, Trainer, mixed_precision, pick_device

# Short runs on the bundled digits; explicit settings, so a model's recipe cannot change them.
SETTINGS = dict(dataset="digits", epochs=1, optimizer="adamw", lr=5e-3, augment="none", device="cpu")


def trainer(tmp_path, model: str, batch_size: int, **options) -> Trainer:
    cfg = TrainConfig(model=model, batch_size=batch_size, **{**SETTINGS, **options})
    return Trainer(cfg, RunDir(tmp_path, "run"), stop=threading.Event())


def train_steps(t: Trainer, steps: int) -> list[dict]:
    """Run the engine's own loop for ``steps`` steps (a stop request after the last one,
    honoured at the next log step) and return the logged training rows."""
    forwards = []

    def count(*_):  # one forward per step, whether or not the optimizer then steps
        forwards.append(1)
        if len(forwards) == steps:
            t.stop_event.set()

    handle = t.model.register_forward_pre_hook(count)
    assert t.train_epoch() is False and t.step == steps
    handle.remove()
    t.close()
    return [r for r in t.run.read_metrics() if r["kind"] == "train"]


def record_dtypes(model: torch.nn.Module, kind) -> list[torch.dtype]:
    seen = []
    for m in model.modules():
        if isinstance(m, kind):
            m.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    return seen


# ------------------------------------------------------------------------- mixed precision
def test_bf16_autocast_trains_a_real_step_on_the_cpu(tmp_path):
    t = trainer(tmp_path, "lenet5", 32)
    t.autocast, t.scaler = mixed_precision("cpu", "bf16")
    assert not t.scaler.is_enabled(), "bf16 has float32's range: no loss scaling"
    layers = record_dtypes(t.model, (torch.nn.Conv2d, torch.nn.Linear))
    before = [p.detach().clone() for p in t.model.parameters()]
    rows = train_steps(t, 4)
    assert layers and set(layers) == {torch.bfloat16}, "every convolution and linear layer ran in bf16"
    assert all(p.dtype == torch.float32 for p in t.model.parameters()), "the weights stay float32"
    assert all(not torch.equal(p, b) for p, b in zip(t.model.parameters(), before)), "and every one was updated"
    assert len(rows) == 4 and all(math.isfinite(r["loss"]) for r in rows)


# torch notes that the schedule stepped while the optimizer did not (a skipped first step)
@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")
def test_fp16_steps_go_through_the_gradient_scaler(tmp_path):
    """A scale too large for fp16 overflows the gradients: those steps are skipped and
    the scale halves each time; every other step updates the weights."""
    t = trainer(tmp_path, "lenet5", 16)
    t.autocast, scaler = mixed_precision("cpu", "fp16")
    assert scaler.is_enabled()
    # The logits' gradient, up to 1/16 a batch, times 2^24 is far past fp16's 65,504.
    start = 2.0**24
    t.scaler = torch.amp.GradScaler("cpu", init_scale=start)
    layers = record_dtypes(t.model, (torch.nn.Conv2d, torch.nn.Linear))
    updates = []
    t.optimizer.register_step_post_hook(lambda *_: updates.append(1))  # only the steps the scaler lets through
    steps = 14
    rows = train_steps(t, steps)
    assert set(layers) == {torch.float16}
    skipped = round(math.log2(start / t.scaler.get_scale()))  # no growth within torch's 2,000-step interval
    assert 1 <= skipped < steps, "the overflowing steps were skipped, then training went on"
    assert len(updates) + skipped == len(rows) == steps
    assert all(math.isfinite(r["loss"]) for r in rows)
    assert t.scaler.state_dict()["scale"] == t.scaler.get_scale(), "the scale is saved with last.pt for resume"


def test_a_cuda_run_asks_torch_for_fp16_autocast_and_an_enabled_scaler(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.amp, "GradScaler", lambda device, enabled: calls.append(("scaler", device, enabled)))
    monkeypatch.setattr(torch, "autocast", lambda device, dtype: calls.append(("autocast", device, dtype)))
    autocast, _ = mixed_precision("cuda", "fp16")
    autocast()
    assert calls == [("scaler", "cuda", True), ("autocast", "cuda", torch.float16)]
    calls.clear()
    autocast, _ = mixed_precision("cuda", "bf16")
    autocast()
    assert calls == [("scaler", "cuda", False), ("autocast", "cuda", torch.bfloat16)]
    calls.clear()
    autocast, _ = mixed_precision("cuda", "none")
    assert calls == [("scaler", "cuda", False)] and autocast is not torch.autocast


# --------------------------------------------------------------------------- channels-last
def test_channels_last_reaches_the_weights_and_every_batch(tmp_path):
    t = trainer(tmp_path, "resnet20_cifar", 16, channels_last=True)
    kernels = [p for p in t.model.parameters() if p.dim() == 4]
    assert kernels and all(p.is_contiguous(memory_format=torch.channels_last) for p in kernels)
    assert not all(p.is_contiguous() for p in kernels), "really permuted, not trivially both"
    batches = []
    t.model.register_forward_pre_hook(
        lambda _m, args: batches.append((args[0].is_contiguous(memory_format=torch.channels_last), args[0].is_contiguous()))
    )
    train_steps(t, 2)
    assert batches == [(True, False)] * 2, "the training batches are channels-last"
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in kernels), "and stay so after the steps"
    batches.clear()
    first = next(iter(t.test_loader))
    t.test_loader = [first]  # one test batch is enough to see its layout
    assert math.isfinite(t.evaluate()["loss"])
    # the BatchNorm recompute's training batches, then the one test batch
    assert len(batches) > 1 and set(batches) == {(True, False)}, "the evaluation batches too"


# --------------------------------------------------------------------- CUDA without a GPU
class Stop(Exception):
    """Raised by a stand-in torch call once the settings under test have reached it."""


@pytest.fixture
def fake_cuda(monkeypatch):
    """torch believes a CUDA device is there; calls that would need one are recorded."""
    calls = {}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_device", lambda index: calls.setdefault("set_device", index))
    return calls


@pytest.mark.parametrize("cuda", [True, False])
def test_torchrun_takes_nccl_and_the_local_rank_gpu_with_cuda_else_gloo(tmp_path, monkeypatch, fake_cuda, cuda):
    if not cuda:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for name, value in (("RANK", "1"), ("WORLD_SIZE", "2"), ("LOCAL_RANK", "1")):
        monkeypatch.setenv(name, value)

    def init_process_group(backend):
        fake_cuda["backend"] = backend
        raise Stop

    monkeypatch.setattr(torch.distributed, "init_process_group", init_process_group)
    with pytest.raises(Stop):
        main(["train", "--model", "lenet5", "--out", str(tmp_path), "--run-id", "ddp"])
    assert fake_cuda == ({"backend": "nccl", "set_device": 1} if cuda else {"backend": "gloo"})
    assert pick_device("auto", Dist(1, 2, 1)) == torch.device("cuda:1" if cuda else "cpu")


def test_a_cuda_run_pins_host_memory_for_both_loaders(tmp_path, monkeypatch, fake_cuda):
    loaders = []

    class Recorder(torch.utils.data.DataLoader):
        def __init__(self, *args, **kwargs):
            loaders.append(kwargs)
            super().__init__(*args, **kwargs)

    def no_model(*_args, **_kwargs):
        raise Stop  # the loaders are built; a model cannot go to a GPU that is not there

    monkeypatch.setattr(engine, "DataLoader", Recorder)
    monkeypatch.setattr(engine, "create_model", no_model)
    for device, pinned in (("cuda", True), ("cpu", False)):
        loaders.clear()
        with pytest.raises(Stop):
            trainer(tmp_path, "lenet5", 64, device=device, amp="fp16" if device == "cuda" else "none")
        assert [kw["pin_memory"] for kw in loaders] == [pinned, pinned], device
