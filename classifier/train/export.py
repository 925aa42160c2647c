"""Export a model for use outside PyTorch code: TorchScript (what the original project
shipped its nets as) or ONNX (run with onnxruntime and most inference servers).

Both take one NCHW float batch, normalised like the training data, with a free batch
dimension, and return the logits. The class names, input size and normalisation travel
inside the file (TorchScript ``meta.json`` extra file, ONNX metadata properties).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from classifier.registry import create_model, get_card
from classifier.train.checkpoint import model_from_checkpoint
from classifier.train.runs import RunDir

FORMATS = {"torchscript": ".pt", "onnx": ".onnx"}


def export_model(model: nn.Module, input_size, fmt: str, out: str | os.PathLike, meta: dict | None = None) -> Path:
    """Write ``model`` to ``out`` in ``fmt``; the file appears only once complete."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.tmp{out.suffix}")
    model = model.eval()
    example = torch.randn(2, *input_size)
    meta = {"input_size": list(input_size), **(meta or {})}
    try:
        if fmt == "torchscript":
            with warnings.catch_warnings():
                # torch.jit is deprecated in favour of torch.export, but TorchScript files
                # still load in libtorch (C++) and older PyTorch, which is why users ask for it.
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", FutureWarning)
                with torch.no_grad():
                    traced = torch.jit.trace(model, example)
                torch.jit.save(traced, str(tmp), _extra_files={"meta.json": json.dumps(meta)})
        else:
            _export_onnx(model, example, tmp, meta)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _export_onnx(model: nn.Module, example: torch.Tensor, path: Path, meta: dict) -> None:
    import onnx

    batch = torch.export.Dim("batch")
    program = torch.onnx.export(
        model, (example,), dynamo=True, input_names=["images"], output_names=["logits"],
        dynamic_shapes=({0: batch},), verbose=False,
    )
    proto = program.model_proto
    for key, value in meta.items():
        proto.metadata_props.add(key=key, value=json.dumps(value))
    onnx.save(proto, str(path))


def export_checkpoint(checkpoint: str | os.PathLike, fmt: str, out: str | os.PathLike) -> Path:
    model, ckpt = model_from_checkpoint(checkpoint)
    meta = {k: ckpt[k] for k in ("model", "class_names", "mean", "std")}
    return export_model(model, ckpt["input_size"], fmt, out, meta)


def export_random(name: str, fmt: str, out: str | os.PathLike) -> Path:
    """A registered model with its random initial weights (to test a deployment path)."""
    card = get_card(name)
    return export_model(create_model(name), card.input_size, fmt, out, {"model": name})


def current_export(run: RunDir, fmt: str) -> Path | None:
    """The run's exported file when it is newer than its best checkpoint, else None."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")
    out = run.path / "export" / f"{run.run_id}{FORMATS[fmt]}"
    return out if out.is_file() and out.stat().st_mtime >= run.best_checkpoint.stat().st_mtime else None


def export_run(run: RunDir, fmt: str) -> Path:
    """The run's best checkpoint exported into ``<run>/export/``, reused while current."""
    return current_export(run, fmt) or export_checkpoint(
        run.best_checkpoint, fmt, run.path / "export" / f"{run.run_id}{FORMATS[fmt]}"
    )
