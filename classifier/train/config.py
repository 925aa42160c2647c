"""Everything that defines a training run, as one flat, JSON-ready record.

The same record is written to ``config.json``, turned into the command line that the app
launches (:meth:`TrainConfig.to_args`), and read back by ``--resume``; so a run started
from the page can be repeated from a terminal and vice versa.

The fields a model's recipe covers (:mod:`classifier.train.recipes`) default to None and
are filled from the chosen model's recipe; what the user sets wins. The record written
to ``config.json`` holds the resolved values, so a run repeats exactly even if the recipe
changes later.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("cosine", "onecycle", "step", "plateau", "constant")
AMP_MODES = ("none", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda", "mps")

# Learning rate and weight decay per optimizer, for a user who picks another optimizer
# than the recipe's and gives none: SGD's classic CIFAR recipe, Adam's default step,
# AdamW's decoupled decay. (The recipe's own rate belongs to the recipe's optimizer.)
DEFAULT_LR = {"sgd": 0.1, "adam": 1e-3, "adamw": 1e-3}
DEFAULT_WEIGHT_DECAY = {"sgd": 5e-4, "adam": 0.0, "adamw": 0.05}


@dataclass
class TrainConfig:
    """A run's settings. Fields left as None come from the model's recipe (``lr`` and
    ``weight_decay`` from the optimizer's defaults above when the user picked another
    optimizer than the recipe's). ``batch_size`` counts the images of one optimizer step
    over all processes; ``step_gamma`` is the factor of each cut of the step and plateau
    schedules; ``step_epochs`` 0 decays the step schedule after each third of the run;
    ``data_path`` is the folder of the ``folder`` dataset; ``workers`` is the number
    of data-loading processes (0 loads in the training process); ``init_weights`` and
    ``freeze_epochs`` fine-tune from trained weights (:mod:`classifier.train.finetune`)."""

    model: str
    dataset: str = "digits"
    data_path: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    optimizer: str | None = None
    lr: float | None = None
    momentum: float = 0.9
    nesterov: bool | None = None
    weight_decay: float | None = None
    schedule: str | None = None
    warmup_epochs: float | None = None
    step_epochs: int = 0
    step_gamma: float = 0.1
    label_smoothing: float | None = None
    grad_clip: float = 0.0
    augment: str | None = None
    seed: int = 0
    device: str = "auto"
    amp: str = "none"
    channels_last: bool = False
    keep_epochs: bool = False  # also save epochs/epoch-NNN.pt after every epoch (feature evolution)
    workers: int = 0
    init_weights: str | None = None  # a weights entry id or checkpoint to start from (fine-tuning)
    freeze_epochs: int = 0  # with init_weights: epochs that train the classifier head alone

    def __post_init__(self) -> None:
        """Fill the unset fields from the recipe and refuse values that cannot work."""
        from classifier.data import AUGMENTATIONS, get_info

        self._fill_from_recipe()
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

    def _fill_from_recipe(self) -> None:
        """The model's recipe for every field left unset. A recipe's warm-up is kept to
        a quarter of a run the user shortened below it."""
        from classifier.train.recipes import RECIPE_FIELDS, recipe_for

        unset = [name for name in RECIPE_FIELDS if getattr(self, name) is None]
        if not unset:
            return
        recipe = recipe_for(self.model)
        own_optimizer = self.optimizer in (None, recipe.optimizer)
        if self.optimizer is None:
            self.optimizer = recipe.optimizer
        for name in unset:
            value = getattr(recipe, name)
            if name in ("lr", "weight_decay") and not own_optimizer and self.optimizer in OPTIMIZERS:
                value = (DEFAULT_LR if name == "lr" else DEFAULT_WEIGHT_DECAY)[self.optimizer]
            if getattr(self, name) is None:
                setattr(self, name, value)
        if "warmup_epochs" in unset and isinstance(self.epochs, int) and self.warmup_epochs >= self.epochs:
            self.warmup_epochs = self.epochs / 4

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


def check_batch(cfg: TrainConfig) -> None:
    """Refuse, before a run exists, a batch larger than the training split. Only data
    already on this machine is counted (an image folder is not decoded here); the engine
    repeats the check once the data is loaded."""
    from classifier.data import get_info, is_downloaded, load_data
    from classifier.registry import get_card

    if get_info(cfg.dataset).needs_path or not is_downloaded(cfg.dataset):
        return
    images = len(load_data(cfg.dataset, get_card(cfg.model).input_size).train)
    if cfg.batch_size > images:
        raise ValueError(f"a batch of {cfg.batch_size} is larger than the {images:,} training images of {cfg.dataset}")
