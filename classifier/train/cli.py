"""``python -m classifier train`` and ``python -m classifier export``.

``train`` runs in the terminal with a tqdm bar, under ``torchrun --nproc_per_node=N``
with DistributedDataParallel (gloo on CPU, nccl on GPUs), and is what the app launches.
Every option defaults to "not given" so that ``--resume`` can tell which ones the user
set: a resumed run keeps its recorded configuration and only the epoch count, device
and worker count may change. A fresh run takes every training setting it is not given
from the model's recipe (:mod:`classifier.train.recipes`) and says where that comes from.
"""

from __future__ import annotations

import argparse
from dataclasses import fields

from classifier.train.config import AMP_MODES, DEVICES, OPTIMIZERS, SCHEDULES, TrainConfig, check_batch

RESUMABLE = {"epochs", "device", "workers"}


def register(subparsers) -> None:
    from classifier.data import AUGMENTATIONS, DATASETS

    p = subparsers.add_parser("train", help="train a registered model; writes runs/<id>/", argument_default=None)
    p.add_argument("--model", help="registered model name (see `list`)")
    p.add_argument("--dataset", choices=list(DATASETS), help="default: digits (bundled, no download)")
    p.add_argument("--data-path", help="folder of class sub-folders, for --dataset folder")
    p.add_argument("--epochs", type=int, help="default, as for every training setting below: the model's recipe")
    p.add_argument("--batch-size", type=int, help="images per step over all processes")
    p.add_argument("--optimizer", choices=OPTIMIZERS)
    p.add_argument("--lr", type=float, help="base learning rate (another optimizer than the recipe's: "
                   "0.1 for SGD, 1e-3 for Adam/AdamW)")
    p.add_argument("--momentum", type=float)
    p.add_argument("--nesterov", action=argparse.BooleanOptionalAction)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--schedule", choices=SCHEDULES)
    p.add_argument("--warmup-epochs", type=float)
    p.add_argument("--step-epochs", type=int, help="epochs between decays of the step schedule")
    p.add_argument("--step-gamma", type=float, help="factor of each cut of the step and plateau schedules")
    p.add_argument("--label-smoothing", type=float)
    p.add_argument("--grad-clip", type=float, help="clip the gradient norm to this (0: off)")
    p.add_argument("--augment", choices=AUGMENTATIONS)
    p.add_argument("--seed", type=int)
    p.add_argument("--device", choices=DEVICES)
    p.add_argument("--amp", choices=AMP_MODES, help="mixed precision on CUDA")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction)
    p.add_argument("--keep-epochs", action=argparse.BooleanOptionalAction,
                   help="keep a checkpoint of every epoch (for the Compare page's feature evolution)")
    p.add_argument("--workers", type=int, help="data-loading processes (default 0)")
    p.add_argument("--init-weights", metavar="WEIGHTS", help="start from a weights entry id (see `weights MODEL`) "
                   "or a checkpoint; a head of another class count starts fresh")
    p.add_argument("--freeze-epochs", type=int, help="with --init-weights: epochs that train the head alone")
    p.add_argument("--out", default=None, help="runs folder (default ./runs or $CLASSIFIER_RUNS_DIR)")
    p.add_argument("--run-id", help="name of the run folder (default: time, model, dataset)")
    p.add_argument("--resume", metavar="RUN", help="continue RUN from its last checkpoint")
    p.set_defaults(run=_cmd_train)

    p = subparsers.add_parser("export", help="export a model to TorchScript or ONNX")
    p.add_argument("--model", help="registered model name; optional with --checkpoint")
    p.add_argument("--checkpoint", help="a .pt checkpoint of a run (best.pt or last.pt)")
    p.add_argument("--format", choices=["torchscript", "onnx"], required=True)
    p.add_argument("--out", required=True, help="file to write")
    p.set_defaults(run=_cmd_export)


def _given(args: argparse.Namespace) -> dict:
    names = {f.name for f in fields(TrainConfig)}
    return {k: v for k, v in vars(args).items() if k in names and v is not None}


def _cmd_train(args: argparse.Namespace) -> int:
    import torch

    from classifier.cli import UserError
    from classifier.registry import get_card
    from classifier.train.engine import Dist, pick_device, train
    from classifier.train.runs import RunDir, new_run_id, open_run, runs_root

    given = _given(args)
    root = runs_root(args.out)
    dist = Dist.from_env()
    if args.resume:
        changed = set(given) - RESUMABLE
        if changed:
            raise UserError(f"a resumed run keeps its configuration; cannot change {', '.join(sorted(changed))}")
        run = open_run(args.resume, root)
        # ("queued" is the mark the app's launcher leaves for this very process.)
        if dist.main and run.read_status().get("state") == "running":
            raise UserError(f"run {args.resume!r} is still running")
        if not run.last_checkpoint.is_file():
            raise UserError(f"run {args.resume!r} has no checkpoint to resume from")
        cfg = TrainConfig.from_dict({**run.read_config().to_dict(), **given})
    else:
        if not args.model:
            raise UserError("--model is required (see `python -m classifier list`)")
        get_card(args.model)
        cfg = TrainConfig(**given)
        check_batch(cfg)
        run = None
        if dist.main:
            print(recipe_line(cfg, given))

    if dist.world > 1:
        backend = "nccl" if pick_device(cfg.device, dist).type == "cuda" else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(dist.local_rank)
        torch.distributed.init_process_group(backend)
    try:
        if run is None:
            run_id = [args.run_id or new_run_id(cfg.model, cfg.dataset)]
            if dist.world > 1:
                torch.distributed.broadcast_object_list(run_id, src=0)
            run = RunDir(root, run_id[0])
            state = run.read_status(raw=True).get("state") if dist.main else None
            if state not in (None, "queued"):
                raise UserError(f"run {run.run_id!r} already exists ({state}); use --resume to continue it")
        state = train(cfg, run, dist, resume=bool(args.resume))
    finally:
        if dist.world > 1:
            torch.distributed.destroy_process_group()
    if dist.main:
        status = run.read_status()
        print(f"{state}: {run.path}" + (f" — {status['error']}" if status.get("error") else ""))
    return 1 if state == "failed" else 0


def recipe_line(cfg: TrainConfig, given: dict) -> str:
    """One line: where the run's settings come from, and which ones the user set."""
    from classifier.registry import get_card
    from classifier.train.recipes import RECIPE_FIELDS

    own = [name.replace("_", "-") for name in RECIPE_FIELDS if name in given]
    return f"{cfg.model} recipe: {get_card(cfg.model).recipe.source}" + (f"; set here: {', '.join(own)}" if own else "")


def _cmd_export(args: argparse.Namespace) -> int:
    from classifier.cli import UserError
    from classifier.train.checkpoint import load_checkpoint
    from classifier.train.export import export_checkpoint, export_random

    if args.checkpoint:
        if args.model and load_checkpoint(args.checkpoint)["model"] != args.model:
            raise UserError(f"{args.checkpoint} holds a different model than {args.model}")
        path = export_checkpoint(args.checkpoint, args.format, args.out)
    elif args.model:
        path = export_random(args.model, args.format, args.out)
    else:
        raise UserError("give --model, --checkpoint or both")
    print(path)
    return 0
