"""Training runs: the engine, run directories, checkpoints, export and the CLI commands.

``train(config, run)`` trains in this process; ``launch(config)`` starts the same thing
as ``python -m classifier train`` in its own process (what the app does). Everything a
run produces lives in its directory (see :mod:`classifier.train.runs`).
"""

from classifier.train.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from classifier.train.config import AMP_MODES, OPTIMIZERS, SCHEDULES, TrainConfig
from classifier.train.engine import Trainer, available_devices, evaluate, train
from classifier.train.export import FORMATS, current_export, export_checkpoint, export_model, export_run
from classifier.train.runs import ACTIVE, RunDir, launch, list_runs, open_run, runs_root, validate_run_id

__all__ = [
    "ACTIVE",
    "AMP_MODES",
    "FORMATS",
    "OPTIMIZERS",
    "RunDir",
    "SCHEDULES",
    "TrainConfig",
    "Trainer",
    "available_devices",
    "evaluate",
    "export_checkpoint",
    "export_model",
    "export_run",
    "current_export",
    "launch",
    "list_runs",
    "load_checkpoint",
    "model_from_checkpoint",
    "open_run",
    "runs_root",
    "save_checkpoint",
    "train",
    "validate_run_id",
]
