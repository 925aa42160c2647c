"""A run is a directory, and the directory is the whole truth about the run.

``runs/<id>/`` holds ``config.json`` (what was asked), ``status.json`` (state, progress,
error), ``metrics.jsonl`` (one JSON object per logged step or evaluation, flushed as it
is written), ``last.pt`` and ``best.pt`` (written to a temporary file and renamed, so a
reader or a crash never sees half a checkpoint), and when launched from the app
``log.txt`` (the process's output) and ``pid``; ``stop`` appears when a stop is
requested. The app and the CLI read these files and keep no state of their own, so a
page can be closed and reopened and still shows the run as it is.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from classifier.train.config import TrainConfig

STATES = ("queued", "running", "finished", "failed", "stopped")
ACTIVE = ("queued", "running")
# A run whose process vanished without saying so (SIGKILL, power loss) reads as this.
INTERRUPTED = "interrupted"
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
REPO_ROOT = Path(__file__).resolve().parents[2]


def runs_root(path: str | os.PathLike | None = None) -> Path:
    """Where runs live: an explicit path, else $CLASSIFIER_RUNS_DIR, else ./runs."""
    return Path(path or os.environ.get("CLASSIFIER_RUNS_DIR") or "runs")


def validate_run_id(run_id: str) -> str:
    """A run id is a single path component of safe characters: never ``..``, never a
    separator, so no id can name a folder outside the runs root."""
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id) or ".." in run_id:
        raise ValueError(f"invalid run id {run_id!r}: use letters, digits, '-', '_' and '.'")
    return run_id


def new_run_id(model: str, dataset: str) -> str:
    return validate_run_id(f"{time.strftime('%Y%m%d-%H%M%S')}-{model}-{dataset}-{secrets.token_hex(2)}")


def atomic_write_bytes(path: Path, data: bytes, durable: bool = False) -> None:
    """Write ``data`` next to ``path`` and rename it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        if durable:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)


def pid_alive(pid: int | None) -> bool:
    """Whether a process runs under ``pid`` (a zombie, dead but not yet reaped, does not)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


@dataclass(frozen=True)
class RunDir:
    root: Path
    run_id: str

    def __post_init__(self) -> None:
        validate_run_id(self.run_id)

    @property
    def path(self) -> Path:
        return Path(self.root) / self.run_id

    config_file = property(lambda self: self.path / "config.json")
    status_file = property(lambda self: self.path / "status.json")
    metrics_file = property(lambda self: self.path / "metrics.jsonl")
    last_checkpoint = property(lambda self: self.path / "last.pt")
    best_checkpoint = property(lambda self: self.path / "best.pt")
    epochs_dir = property(lambda self: self.path / "epochs")

    def epoch_checkpoint(self, epoch: int) -> Path:
        """Where ``--keep-epochs`` saves the weights after ``epoch`` epochs."""
        return self.epochs_dir / f"epoch-{epoch:03d}.pt"
    stop_file = property(lambda self: self.path / "stop")
    pid_file = property(lambda self: self.path / "pid")
    log_file = property(lambda self: self.path / "log.txt")

    def exists(self) -> bool:
        return self.config_file.is_file()

    # config -------------------------------------------------------------------------
    def write_config(self, config: TrainConfig) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        data = {**config.to_dict(), "command": "python -m classifier train " + " ".join(config.to_args())}
        atomic_write_bytes(self.config_file, json.dumps(data, indent=2).encode())

    def read_config(self) -> TrainConfig:
        data = json.loads(self.config_file.read_text())
        data.pop("command", None)
        return TrainConfig.from_dict(data)

    # status -------------------------------------------------------------------------
    def write_status(self, state: str, **fields) -> dict:
        """Replace status.json; fields not given keep their previous values."""
        if state not in STATES:
            raise ValueError(f"unknown run state {state!r}")
        status = {**self.read_status(raw=True), **fields, "state": state, "updated": time.time()}
        atomic_write_bytes(self.status_file, json.dumps(status).encode())
        return status

    def read_status(self, raw: bool = False) -> dict:
        """The saved status; unless ``raw``, an active run whose process is gone reads
        as ``interrupted``."""
        try:
            status = json.loads(self.status_file.read_text())
        except (OSError, ValueError):
            return {}
        pid = status.get("pid") or self._launched_pid()
        if not raw and status.get("state") in ACTIVE and pid is not None and not pid_alive(pid):
            status["state"] = INTERRUPTED
        return status

    def _launched_pid(self) -> int | None:
        """The pid :func:`launch` recorded; it has its own file because the child may
        already be rewriting status.json when the launcher learns the pid."""
        try:
            return int(self.pid_file.read_text())
        except (OSError, ValueError):
            return None

    # metrics ------------------------------------------------------------------------
    def open_metrics(self):
        """An append handle; the engine writes whole lines and flushes each one."""
        return open(self.metrics_file, "a", encoding="utf-8")

    def read_metrics(self) -> list[dict]:
        """Every complete line; a line cut short by a killed process is skipped."""
        try:
            text = self.metrics_file.read_text(encoding="utf-8")
        except OSError:
            return []
        rows = []
        for line in text.splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue
        return rows

    def truncate_metrics(self, step: int) -> None:
        """Keep only rows up to ``step``: resuming replays what came after the checkpoint."""
        rows = [r for r in self.read_metrics() if r.get("step", 0) <= step]
        atomic_write_bytes(self.metrics_file, "".join(json.dumps(r) + "\n" for r in rows).encode())

    # stopping -----------------------------------------------------------------------
    def request_stop(self) -> None:
        self.stop_file.touch()

    def stop_requested(self) -> bool:
        return self.stop_file.exists()


def open_run(run_id: str, root: str | os.PathLike | None = None) -> RunDir:
    """An existing run by id (validated), or FileNotFoundError."""
    run = RunDir(runs_root(root), validate_run_id(run_id))
    if not run.exists():
        raise FileNotFoundError(f"no run {run_id!r} in {run.root}")
    return run


def list_runs(root: str | os.PathLike | None = None) -> list[RunDir]:
    """Runs under ``root``, newest first."""
    base = runs_root(root)
    if not base.is_dir():
        return []
    runs = [RunDir(base, p.name) for p in base.iterdir() if RUN_ID.fullmatch(p.name) and (p / "config.json").is_file()]
    return sorted(runs, key=lambda r: r.config_file.stat().st_mtime, reverse=True)


def launch(config: TrainConfig, root: str | os.PathLike | None = None, resume: str | None = None) -> RunDir:
    """Start ``python -m classifier train`` as its own process and session.

    The child outlives whoever launched it (closing the page does not stop it) and
    writes its output to the run's log.txt. The run directory exists, with status
    ``queued``, before this returns, so the caller can show it at once.
    """
    base = runs_root(root)
    if resume:
        run = open_run(resume, base)
        args = ["--resume", run.run_id, "--epochs", str(config.epochs)]
    else:
        run = RunDir(base, new_run_id(config.model, config.dataset))
        run.write_config(config)
        args = [*config.to_args(), "--run-id", run.run_id]
    run.pid_file.unlink(missing_ok=True)
    run.write_status("queued", pid=None, error=None)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    with open(run.log_file, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "classifier", "train", *args, "--out", str(base.resolve())],
            cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=env, start_new_session=True,
        )
    atomic_write_bytes(run.pid_file, str(proc.pid).encode())
    return run
