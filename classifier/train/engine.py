"""The training engine: one loop for the CLI, the app (through the CLI) and torchrun.

Per batch it does only what training needs, on the device and without waiting for it
(forward, loss, backward, clipping, optimizer and schedule steps, running sums). Every
``log_every`` batches it synchronises once: the sums become a metrics line, the status
file is refreshed, a non-finite loss ends the run as failed, and a stop request (the
run's ``stop`` file, SIGTERM or Ctrl-C) ends it as stopped after a checkpoint of the exact
position. Under torchrun these checks are all-reduced, so every process makes the same
decision at the same step. Before each evaluation the BatchNorm statistics are recomputed
for the current weights (:mod:`classifier.train.batchnorm`), since on a small dataset the
running averages lag far behind them.

Models with several outputs (GoogLeNet's and Inception's auxiliary heads, early-exit
networks; see :mod:`classifier.outputs` for which one is the prediction) are trained on
all of them: the prediction's loss plus every other head's, scored against the same
labels, with weight 0.3 (GoogLeNet's auxiliary weight), so the extra heads feed gradient
to early layers without outvoting the final classifier. Accuracy during training and all
evaluation use the prediction only.

A model may take part in its own training through four optional methods, each called
only when the model defines it (CondenseNet's learned group convolutions use them all):

- ``training_progress(fraction)``, before every training step, with the fraction of
  the run's steps already done (0 at the first step): for schedules that change the
  network itself, such as pruning in stages;
- ``regularization_loss()``, added to every step's loss (already weighted by the model);
- ``training_status()``, a one-line string shown with the run's progress (status.json's
  ``model_status``);
- ``inference_form()``, the network to use after training and the builder options that
  rebuild it (``create_model(name, **options)``), or None while it is not ready. best.pt
  and the per-epoch checkpoints hold that form (their ``build`` entry says how to build
  it); last.pt keeps the training form, which is what resuming needs. best.pt is the best
  evaluation of the network in its final form: the first evaluation in that form
  replaces a best.pt of the earlier one.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, Sampler

from classifier.outputs import main_logits, split_outputs
from classifier.data import download, load_data, make_datasets, normalisation, tqdm_progress
from classifier.registry import create_model, get_card
from classifier.train.batchnorm import recompute_batchnorm
from classifier.train.finetune import freeze_trunk, head_modules, starting_point, transfer
from classifier.train.checkpoint import load_checkpoint, save_checkpoint
from classifier.train.config import TrainConfig
from classifier.train.optim import build_optimizer, build_scheduler, end_epoch, restore_scheduler
from classifier.train.runs import RunDir

AUX_WEIGHT = 0.3
MODEL_HOOKS = ("training_progress", "regularization_loss", "training_status", "inference_form")
LOGS_PER_EPOCH = 50
STATUS_EVERY = 0.5  # seconds


class Diverged(RuntimeError):
    """The loss stopped being a finite number."""


@dataclass(frozen=True)
class Dist:
    """This process's place in a torchrun job (rank 0 of 1 when run alone)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> "Dist":
        env = os.environ
        return cls(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))

    @property
    def main(self) -> bool:
        return self.rank == 0

    def all_reduce(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.world > 1:
            torch.distributed.all_reduce(tensor)
        return tensor

    def barrier(self) -> None:
        if self.world > 1:
            torch.distributed.barrier()


def available_devices() -> list[str]:
    """Device choices on this machine, ``auto`` first."""
    found = ["auto", "cpu"]
    if torch.cuda.is_available():
        found.append("cuda")
    if torch.backends.mps.is_available():
        found.append("mps")
    return found


def pick_device(name: str, dist: Dist = Dist()) -> torch.device:
    """``auto`` takes CUDA, then Apple's MPS, then the CPU; each process of a job takes
    the GPU of its local rank."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    if name not in available_devices():
        raise ValueError(f"device {name!r} is not available on this machine (choose from {', '.join(available_devices())})")
    return torch.device(f"cuda:{dist.local_rank}" if name == "cuda" else name)


def mixed_precision(device_type: str, amp: str):
    """The autocast context factory and gradient scaler of an ``amp`` mode: bf16 and fp16
    cast inside autocast, and fp16 (whose small range underflows gradients) also scales
    the loss. Runs refuse AMP off CUDA, but the pair works on the CPU too (which is how
    the tests run these paths without a GPU)."""
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
    scaler = torch.amp.GradScaler(device_type, enabled=amp == "fp16")
    autocast = (lambda: torch.autocast(device_type, dtype=dtype)) if dtype else contextlib.nullcontext
    return autocast, scaler


def training_loss(outputs, labels: torch.Tensor, criterion: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss of one batch and the logits accuracy is measured on (see module doc)."""
    main, extra = split_outputs(outputs)
    loss = criterion(main, labels)
    for head in extra:
        loss = loss + AUX_WEIGHT * criterion(head, labels)
    return loss, main


class EpochSampler(Sampler[int]):
    """A fresh shuffle per epoch, identical in every process, each taking every
    ``world``-th index; can start part-way through an epoch to resume exactly.

    The tail that does not divide evenly among the processes is left out of the epoch
    (a different tail each time), so every process runs the same number of batches.
    """

    def __init__(self, size: int, seed: int, dist: Dist):
        self.size, self.seed, self.dist = size, seed, dist
        self.per_process = size // dist.world
        self.epoch = self.skip = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = epoch, skip

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.size, generator=g)[: self.per_process * self.dist.world]
        return iter(order[self.dist.rank:: self.dist.world][self.skip:].tolist())

    def __len__(self) -> int:
        return self.per_process - self.skip


@torch.no_grad()
def evaluate(model: nn.Module, loader, num_classes: int, device: torch.device, autocast=contextlib.nullcontext,
             channels_last: bool = False, dist: Dist = Dist()) -> dict:
    """Loss (plain cross-entropy), top-1, top-5 (top-k with k = min(5, classes)),
    per-class accuracy and the confusion matrix (rows: true class, columns: predicted)."""
    model.eval()
    k = min(5, num_classes)
    confusion = torch.zeros(num_classes * num_classes, dtype=torch.int64, device=device)
    sums = torch.zeros(2, device=device)  # loss, top-k hits
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast():
            out = model(x)
        out = main_logits(out).float()
        sums[0] += F.cross_entropy(out, y, reduction="sum")
        sums[1] += (out.topk(k, dim=1).indices == y[:, None]).any(dim=1).sum()
        confusion += torch.bincount(y * num_classes + out.argmax(dim=1), minlength=num_classes**2)
    dist.all_reduce(confusion)
    dist.all_reduce(sums)
    confusion = confusion.view(num_classes, num_classes).cpu()
    count = int(confusion.sum())
    per_class = confusion.diag() / confusion.sum(dim=1).clamp(min=1)
    return {
        "loss": sums[0].item() / count,
        "top1": confusion.diag().sum().item() / count,
        "top5": sums[1].item() / count,
        "per_class": [round(v, 6) for v in per_class.tolist()],
        "confusion": confusion.tolist(),
        "count": count,
    }


class StopSignal:
    """Turns SIGTERM and SIGINT into a polite request, checked at the next log step."""

    def __init__(self):
        self.event = threading.Event()
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, lambda *_: self.event.set())
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class Trainer:
    """Sets a run up (data, model, optimizer, schedule; the checkpoint when resuming)
    and trains it epoch by epoch. Only the main process writes to the run directory."""

    def __init__(self, cfg: TrainConfig, run: RunDir, dist: Dist = Dist(), resume: bool = False,
                 stop: threading.Event | None = None):
        self.cfg, self.run, self.dist = cfg, run, dist
        self.stop_event = stop or threading.Event()
        self.device = pick_device(cfg.device, dist)
        if cfg.amp != "none" and self.device.type != "cuda":
            raise ValueError(f"--amp {cfg.amp} needs a CUDA device; this run is on {self.device.type}")
        if cfg.batch_size % dist.world:
            raise ValueError(f"the batch size {cfg.batch_size} does not split evenly over {dist.world} processes")
        self.batch = cfg.batch_size // dist.world
        card = get_card(cfg.model)
        # a run that starts from trained weights sees images as those weights were trained on
        self.start = starting_point(cfg.model, cfg.init_weights) if cfg.init_weights else None
        self.input_size = self.start.input_size if self.start else card.input_size

        if dist.main:  # one process fetches a missing public dataset while the others wait
            download(cfg.dataset, progress=tqdm_progress())
        dist.barrier()
        self.data = load_data(cfg.dataset, self.input_size, path=cfg.data_path)
        if self.start:
            self.mean, self.std = self.start.preprocess.mean, self.start.preprocess.std
        else:
            self.mean, self.std = normalisation(self.data.info, self.input_size[0])
        train_set, test_set = make_datasets(self.data, self.input_size, cfg.augment, self.mean, self.std)
        self.sampler = EpochSampler(len(train_set), cfg.seed, dist)
        self.steps_per_epoch = self.sampler.per_process // self.batch
        if self.steps_per_epoch == 0:
            raise ValueError(f"{len(train_set)} training images make no full batch of {cfg.batch_size}")
        pin = self.device.type == "cuda"
        self.train_loader = DataLoader(train_set, self.batch, sampler=self.sampler, drop_last=True,
                                       num_workers=cfg.workers, pin_memory=pin, persistent_workers=cfg.workers > 0)
        self.test_loader = DataLoader(test_set, 2 * self.batch, sampler=list(range(dist.rank, len(test_set), dist.world)),
                                      num_workers=cfg.workers, pin_memory=pin)
        self.total_steps = cfg.epochs * self.steps_per_epoch
        self.log_every = max(1, self.steps_per_epoch // LOGS_PER_EPOCH)

        torch.manual_seed(cfg.seed)
        self.model = create_model(cfg.model, num_classes=self.data.num_classes)
        self.head = head_modules(self.model, transfer(self.model, self.start.model) if self.start else [])
        self.model = self.model.to(self.device)
        if cfg.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        self.optimizer = build_optimizer(self.model, cfg)
        self.scheduler = build_scheduler(self.optimizer, cfg, self.steps_per_epoch)
        self.autocast, self.scaler = mixed_precision(self.device.type, cfg.amp)
        self.hooks = {name: getattr(self.model, name, None) for name in MODEL_HOOKS}

        self.epoch = self.batch_in_epoch = self.step = 0
        self.best_top1 = self.last_top1 = None
        self.best_final = False  # whether best.pt holds the network in its final form
        self._status_at = -math.inf
        if resume:
            self._resume()
        self.net = self.model
        if dist.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        if dist.main:
            run.path.mkdir(parents=True, exist_ok=True)
        self._metrics = run.open_metrics() if dist.main else None

    # resume -------------------------------------------------------------------------
    def _resume(self) -> None:
        ckpt = load_checkpoint(self.run.last_checkpoint, map_location=self.device)
        if ckpt["model"] != self.cfg.model or ckpt["steps_per_epoch"] != self.steps_per_epoch:
            raise ValueError("the checkpoint does not match this run's model and data")
        self.model.load_state_dict(ckpt["model_state"])
        self.optimizer.load_state_dict(ckpt["optimizer_state"])
        self.scaler.load_state_dict(ckpt["scaler_state"])
        self.epoch, self.batch_in_epoch, self.step = ckpt["epoch"], ckpt["batch_in_epoch"], ckpt["step"]
        self.best_top1, self.last_top1 = ckpt["best_top1"], ckpt["last_top1"]
        self.best_final = ckpt.get("best_final", True)
        restore_scheduler(self.scheduler, ckpt["scheduler_state"], self.step, self.total_steps, ckpt["total_steps"])
        if self.dist.main:
            self.run.truncate_metrics(self.step)

    # checkpoints --------------------------------------------------------------------
    def _final_form(self) -> tuple[nn.Module, dict] | None:
        """The network to keep for use and its builder options, or None while the model's
        ``inference_form`` says it is not ready (see the module doc)."""
        inference_form = self.hooks["inference_form"]
        return inference_form() if inference_form else (self.model, {})

    def _payload(self, form: tuple[nn.Module, dict] | None = None) -> dict:
        """What every checkpoint holds; ``form`` (a network and its builder options)
        replaces the training form of the model."""
        module, build = form or (self.model, {})
        return {
            "model": self.cfg.model,
            "class_names": list(self.data.classes),
            "input_size": list(self.input_size),
            "mean": list(self.mean),
            "std": list(self.std),
            "dataset": self.cfg.dataset,
            "init_weights": self.start.source if self.start else None,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "step": self.step,
            "steps_per_epoch": self.steps_per_epoch,
            "best_top1": self.best_top1,
            "last_top1": self.last_top1,
            "build": build,
            "model_state": module.state_dict(),
        }

    def save_last(self) -> None:
        if self.dist.main:
            save_checkpoint(self.run.last_checkpoint, {
                **self._payload(),
                "config": self.cfg.to_dict(),
                "optimizer_state": self.optimizer.state_dict(),
                "scheduler_state": self.scheduler.state_dict(),
                "scaler_state": self.scaler.state_dict(),
                "total_steps": self.total_steps,
                "best_final": self.best_final,
            })

    # logging ------------------------------------------------------------------------
    def _write(self, row: dict) -> None:
        if self._metrics:
            self._metrics.write(json.dumps(row) + "\n")
            self._metrics.flush()

    def _status(self, state: str, throttle: bool = False, **extra) -> None:
        """Refresh status.json; ``throttle`` skips it if the last refresh is under
        STATUS_EVERY seconds old (the app polls once a second; renaming files is slow
        on busy disks)."""
        now = time.monotonic()
        if self.dist.main and not (throttle and now - self._status_at < STATUS_EVERY):
            self._status_at = now
            model_status = self.hooks["training_status"]
            self.run.write_status(
                state, epoch=self.epoch + self.batch_in_epoch / self.steps_per_epoch, epochs=self.cfg.epochs,
                step=self.step, total_steps=self.total_steps, best_top1=self.best_top1, last_top1=self.last_top1,
                model_status=model_status() if model_status else None, **extra,
            )

    def _check_finite(self, loss: float, where: str) -> None:
        if not math.isfinite(loss):
            raise Diverged(
                f"The {where} loss became {loss} at step {self.step} (epoch {self.epoch + 1}), so the run stopped: "
                f"training diverged; try a lower learning rate than {self.cfg.lr:g} or gradient clipping."
            )

    # training -----------------------------------------------------------------------
    def train_epoch(self, bar=None) -> bool:
        """Train until the end of the epoch (True) or a stop request (False)."""
        cfg, device = self.cfg, self.device
        self.net.train()
        if cfg.freeze_epochs:
            freeze_trunk(self.model, self.head, frozen=self.epoch < cfg.freeze_epochs)
        torch.manual_seed(cfg.seed + 1009 * self.epoch + self.dist.rank)  # augmentation draws
        self.sampler.set_epoch(self.epoch, skip=self.batch_in_epoch * self.batch)
        sums = torch.zeros(4, device=device)  # loss sum, correct, images, stop votes
        since = time.perf_counter()
        for x, y in self.train_loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if cfg.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            if self.hooks["training_progress"]:
                self.hooks["training_progress"](self.step / self.total_steps)
            with self.autocast():
                loss, logits = training_loss(self.net(x), y, self.criterion)
                if self.hooks["regularization_loss"]:
                    loss = loss + self.hooks["regularization_loss"]()
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if cfg.grad_clip:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            self.step += 1
            self.batch_in_epoch += 1
            sums[0] += loss.detach().float() * len(y)
            sums[1] += (logits.detach().argmax(dim=1) == y).sum()
            sums[2] += len(y)
            if bar is not None:
                bar.update()
            if self.batch_in_epoch % self.log_every == 0 or self.batch_in_epoch == self.steps_per_epoch:
                sums[3] = float(self.stop_event.is_set() or (self.dist.main and self.run.stop_requested()))
                loss_sum, correct, images, stop = self.dist.all_reduce(sums).tolist()
                now = time.perf_counter()
                self._check_finite(loss_sum / images, "training")
                row = {
                    "kind": "train", "epoch": self.epoch + self.batch_in_epoch / self.steps_per_epoch,
                    "step": self.step, "loss": loss_sum / images, "top1": correct / images,
                    "lr": self.optimizer.param_groups[0]["lr"], "images_per_s": images / (now - since),
                }
                self._write(row)
                self._status("running", throttle=True, images_per_s=row["images_per_s"])
                if bar is not None:
                    bar.set_postfix(loss=f"{row['loss']:.3f}", top1=f"{row['top1']:.1%}", refresh=False)
                sums.zero_()
                since = time.perf_counter()
                if stop:
                    return False
        self.epoch += 1
        self.batch_in_epoch = 0
        return True

    def evaluate(self) -> dict:
        """Test-split scores, after BatchNorm statistics are recomputed for the current
        weights (:mod:`classifier.train.batchnorm`)."""
        # the same images and augmentation draws in a resumed run as in an unbroken one
        self.sampler.set_epoch(self.epoch)
        torch.manual_seed(self.cfg.seed + 1009 * self.epoch + self.dist.rank)
        recompute_batchnorm(self.model, self.train_loader, self.device, self.autocast, self.cfg.channels_last,
                            self.dist.all_reduce if self.dist.world > 1 else None)
        result = evaluate(self.model, self.test_loader, self.data.num_classes, self.device, self.autocast,
                          self.cfg.channels_last, self.dist)
        self._check_finite(result["loss"], "test")
        return result

    def fit(self) -> str:
        """Train to ``cfg.epochs``; the final state: finished or stopped."""
        from tqdm import tqdm

        self._status("running", error=None)
        while self.epoch < self.cfg.epochs:
            with tqdm(total=self.steps_per_epoch, initial=self.batch_in_epoch, unit="batch", leave=False,
                      desc=f"epoch {self.epoch + 1}/{self.cfg.epochs}", disable=None if self.dist.main else True) as bar:
                completed = self.train_epoch(bar)
            if not completed:
                self.save_last()
                self._status("stopped")
                if self.dist.main:
                    self.run.stop_file.unlink(missing_ok=True)  # the request is honoured
                return "stopped"
            result = self.evaluate()
            self.last_top1 = result["top1"]
            end_epoch(self.scheduler, result["loss"])  # the plateau schedule decides here
            self._write({"kind": "eval", "epoch": self.epoch, "step": self.step,
                         **{k: v for k, v in result.items() if k != "count"}})
            form = self._final_form()
            final = form is not None
            if self.best_top1 is None or result["top1"] > self.best_top1 or (final and not self.best_final):
                self.best_top1, self.best_final = result["top1"], final
                if self.dist.main:
                    save_checkpoint(self.run.best_checkpoint, self._payload(form))
            if self.cfg.keep_epochs and self.dist.main:
                self.run.epochs_dir.mkdir(exist_ok=True)
                save_checkpoint(self.run.epoch_checkpoint(self.epoch), self._payload(form))
            self.save_last()
            self._status("running")
            if self.dist.main:
                tqdm.write(f"epoch {self.epoch}/{self.cfg.epochs}: test loss {result['loss']:.4f}, "
                           f"top-1 {result['top1']:.2%}, top-5 {result['top5']:.2%}")
        self._status("finished")
        return "finished"

    def close(self) -> None:
        if self._metrics:
            self._metrics.close()


def train(cfg: TrainConfig, run: RunDir, dist: Dist | None = None, resume: bool = False) -> str:
    """Run ``cfg`` in ``run`` (resuming from its last checkpoint if asked) and return
    the final state: ``finished``, ``stopped`` or ``failed``.

    A diverged loss ends as ``failed`` with a sentence in status.json; any other error
    is recorded the same way and then raised.
    """
    dist = dist or Dist.from_env()
    if dist.main:
        run.write_config(cfg)
        run.write_status("running", pid=os.getpid(), host=socket.gethostname(), world_size=dist.world,
                         started=time.time(), error=None)
    trainer = None
    with StopSignal() as stop:
        try:
            trainer = Trainer(cfg, run, dist, resume=resume, stop=stop.event)
            if dist.main:
                run.write_status("running", device=str(trainer.device), class_names=list(trainer.data.classes))
            return trainer.fit()
        except Diverged as exc:
            if dist.main:
                run.write_status("failed", error=str(exc))
            return "failed"
        except BaseException as exc:
            if dist.main:
                run.write_status("failed", error=f"{type(exc).__name__}: {exc}")
            raise
        finally:
            if trainer is not None:
                trainer.close()
