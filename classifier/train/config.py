"""Everything that defines a training run, as one flat, JSON-ready record.

The same record is written to ``config.json``, turned into the command line that the app
launches (:meth:`TrainConfig.to_args`), and read back by ``--resume``; so a run started
from the page can be repeated from a terminal and vice versa.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("cosine", "onecycle", "step", "constant")
AMP_MODES = ("none", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda", "mps")

# Learning rate and weight decay a short run does well with, per optimizer, when the
# user gives none: SGD's classic CIFAR recipe, Adam's default step, AdamW's decoupled decay.
DEFAULT_LR = {"sgd": 0.1, "adam": 1e-3, "adamw": 1e-3}
DEFAULT_WEIGHT_DECAY = {"sgd": 5e-4, "adam": 0.0, "adamw": 0.05}


@dataclass
class TrainConfig:
    """A run's settings. ``batch_size`` counts the images of one optimizer step over all
    processes; ``lr`` and ``weight_decay`` left as None take the optimizer's defaults
    above; ``step_epochs`` 0 decays the step schedule after each third of the run;
    ``data_path`` is the folder of the ``folder`` dataset; ``workers`` is the number
    of data-loading processes (0 loads in the training process); ``init_weights`` and
    ``freeze_epochs`` fine-tune from trained weights (:mod:`classifier.train.finetune`)."""

    model: str
    dataset: str = "digits"
    data_path: str | None = None
    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "sgd"
    lr: float | None = None
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float | None = None
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    step_epochs: int = 0
    step_gamma: float = 0.1
    label_smoothing: float = 0.0
    grad_clip: float = 0.0
    augment: str = "standard"
    seed: int = 0
    device: str = "auto"
    amp: str = "none"
    channels_last: bool = False
    keep_epochs: bool = False  # also save epochs/epoch-NNN.pt after every epoch (feature evolution)
    workers: int = 0
    init_weights: str | None = None  # a weights entry id or checkpoint to start from (fine-tuning)
    freeze_epochs: int = 0  # with init_weights: epochs that train the classifier head alone

    def __post_init__(self) -> None:
        """Fill the optimizer-dependent defaults and refuse values that cannot work."""
        from classifier.data import AUGMENTATIONS, get_info

        for name, value, allowed in (
            ("optimizer", self.optimizer, OPTIMIZERS),
            ("schedule", self.schedule, SCHEDULES),
            ("amp", self.amp, AMP_MODES),
            ("device", self.device, DEVICES),
            ("augment", self.augment, AUGMENTATIONS),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
        if get_info(self.dataset).needs_path and not self.data_path:
            raise ValueError(f"the {self.dataset} dataset needs a path to a folder of class sub-folders (--data-path)")
        if self.lr is None:
            self.lr = DEFAULT_LR[self.optimizer]
        if self.weight_decay is None:
            self.weight_decay = DEFAULT_WEIGHT_DECAY[self.optimizer]
        if self.step_epochs <= 0:
            self.step_epochs = max(1, self.epochs // 3)
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"the learning rate must be positive, not {self.lr}")
        if not 0 <= self.warmup_epochs < self.epochs:
            raise ValueError(f"warm-up ({self.warmup_epochs} epochs) must be shorter than the run ({self.epochs})")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label smoothing must be in [0, 1), not {self.label_smoothing}")
        if not 0 <= self.freeze_epochs <= self.epochs:
            raise ValueError(f"freeze epochs must be between 0 and the run's {self.epochs} epochs, not {self.freeze_epochs}")
        if self.freeze_epochs and not self.init_weights:
            raise ValueError("freezing the trunk needs starting weights (--init-weights)")
        if self.workers < 0 or self.grad_clip < 0 or self.weight_decay < 0:
            raise ValueError("workers, grad_clip and weight_decay cannot be negative")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown training options: {', '.join(sorted(unknown))}")
        return cls(**data)

    def to_args(self) -> list[str]:
        """The ``python -m classifier train`` arguments that rebuild this config."""
        args = []
        for f in fields(self):
            value = getattr(self, f.name)
            flag = "--" + f.name.replace("_", "-")
            if isinstance(value, bool):
                args.append(flag if value else "--no-" + flag[2:])
            elif value is not None:
                args += [flag, str(value)]
        return args
