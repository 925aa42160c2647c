"""The source libraries as oracles for the weights registry, with no network.

For an entry, :func:`source_model` builds the source library's own network with random
weights; :func:`randomise_statistics` gives its BatchNorm layers running statistics drawn
around their real input statistics (so a wrong mapping, a swapped BN or a missing one
cannot pass unnoticed) and random affine parameters; :func:`prefill` writes its state dict
in the exact file format and cache location the loader reads (torch hub's
``checkpoints/`` for URL files, the Hugging Face cache layout for hub files). The test
then loads the entry through the project's own loader and compares logits.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import torch
from torch import nn

from classifier.weights.entries import WeightEntry
from classifier.weights.files import hf_cache_dir, url_path

SNAPSHOT = "0" * 40  # a commit hash for the prefilled Hugging Face snapshot


def source_model(entry: WeightEntry) -> nn.Module:
    """The source library's own model for ``entry``, randomly initialised, eval mode."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if entry.source == "timm":
            import timm

            model = timm.create_model(entry.source_model, pretrained=False, num_classes=entry.num_classes + entry.label_offset)
        elif entry.source == "pytorchcv":
            from pytorchcv.model_provider import get_model

            model = get_model(entry.source_model, pretrained=False)
        elif entry.source == "torchvision":
            import torchvision

            model = torchvision.models.get_model(entry.source_model, weights=None, **entry.build)
        else:
            raise ValueError(f"no oracle for source {entry.source!r}")
    return model.eval()


@torch.no_grad()
def randomise_statistics(model: nn.Module, x: torch.Tensor, seed: int = 0) -> None:
    """Give every BatchNorm running statistics near the statistics of its real input
    (one forward pass in training mode with a cumulative average), then perturb them and
    the affine parameters, so each layer's statistics are distinct and matter."""
    g = torch.Generator().manual_seed(seed)
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    model(x)
    model.eval()
    for m in norms:
        m.momentum = 0.1
        n = m.running_mean.numel()
        spread = m.running_var.clamp_min(1e-6).sqrt()
        m.running_mean += 0.2 * spread * torch.randn(n, generator=g)
        m.running_var *= 0.75 + 0.5 * torch.rand(n, generator=g)
        if m.affine:
            m.weight.copy_(0.75 + 0.5 * torch.rand(n, generator=g))
            m.bias.copy_(0.1 * torch.randn(n, generator=g))
    for m in model.modules():
        if isinstance(m, nn.LayerNorm) and m.elementwise_affine:
            m.weight.copy_(0.75 + 0.5 * torch.rand(m.weight.shape, generator=g))
            m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))


def prefill(entry: WeightEntry, state: dict[str, torch.Tensor]) -> Path:
    """Write ``state`` where the loader looks for ``entry``'s file, in its format."""
    state = {k: v.contiguous() for k, v in state.items()}
    if entry.url:
        path = url_path(entry)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(state, path)
        return path
    folder = hf_cache_dir() / ("models--" + entry.hf_repo.replace("/", "--"))
    blob_data = _safetensors_bytes(state) if entry.hf_file.endswith(".safetensors") else _torch_bytes(state)
    blob = folder / "blobs" / hashlib.sha256(blob_data).hexdigest()
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(blob_data)
    snapshot = folder / "snapshots" / SNAPSHOT / entry.hf_file
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    snapshot.unlink(missing_ok=True)
    snapshot.symlink_to(Path("../../blobs") / blob.name)
    (folder / "refs").mkdir(exist_ok=True)
    (folder / "refs" / "main").write_text(SNAPSHOT)
    return snapshot


def _safetensors_bytes(state: dict[str, torch.Tensor]) -> bytes:
    from safetensors.torch import save

    return save(_unshared(state))


def _unshared(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """safetensors refuses tensors that share memory (tied weights); give each its own."""
    return {k: v.clone() for k, v in state.items()}


def _torch_bytes(state: dict[str, torch.Tensor]) -> bytes:
    import io

    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def input_for(entry: WeightEntry, seed: int = 0, batch: int = 1, scale: float = 1.0) -> torch.Tensor:
    """A batch at the entry's own input size (or ``scale`` of it, rounded to 32 px),
    roughly normalised like real images."""
    c, h, w = entry.preprocess.channels, *entry.preprocess.crop_size
    if scale != 1.0:
        h, w = (max(32, round(side * scale / 32) * 32) for side in (h, w))
    return torch.randn(batch, c, h, w, generator=torch.Generator().manual_seed(seed))


def caches_under(root: Path) -> dict[str, str]:
    """Environment variables that point both caches into ``root`` and forbid the hub."""
    return {"TORCH_HOME": str(root / "torch"), "HF_HUB_CACHE": str(root / "hf"), "HF_HUB_OFFLINE": "1"}


def measure(entry: WeightEntry):
    """Our logits and the source model's on one batch, after loading the prefilled file
    through the project's loader (caches and offline settings must already point at an
    empty temporary folder): returns (ours, theirs, the loaded model)."""
    from classifier.outputs import main_logits
    from classifier.weights import load_weights

    torch.manual_seed(0)
    reference = source_model(entry)
    # Half the side where the net accepts it: a state dict maps the same at any size, and
    # float64 at full ImageNet size made this the suite's slowest file. Nets fixed to
    # their size (ViT's position embeddings, fixed pooling windows) run at full size.
    x = input_for(entry, batch=2, scale=0.5)
    try:
        with torch.no_grad():
            reference.eval()(x)
    except (RuntimeError, ValueError, AssertionError):
        x = input_for(entry, batch=2)
    randomise_statistics(reference, x)  # two images: training-mode BatchNorm needs more than one value
    x = x[:1]  # one image is compared: a thousand logits either agree or do not
    prefill(entry, reference.state_dict())
    loaded = load_weights(entry.model, entry.id)
    # Both run in float64 from the same float32 weights: a randomly initialised deep net
    # amplifies float32 rounding (a 1e-6 change of the input moves SE-ResNet-50's logits
    # by hundreds), which would hide a right mapping; a wrong one still differs by O(1).
    ours, theirs, x = loaded.model.double(), reference.double(), x.double()
    with torch.no_grad():
        result = main_logits(ours(x)), main_logits(theirs(x))[:, entry.label_offset :]
    loaded.model.float()
    return (*result, loaded)


def main(ids: list[str]) -> None:
    """Print the max abs logit difference of every timm/pytorchcv entry (or ``ids``)."""
    import os
    import tempfile

    from classifier.weights import all_entries, get_entry

    entries = [get_entry(i) for i in ids] or [e for e in all_entries() if e.source in ("timm", "pytorchcv")]
    for entry in entries:
        with tempfile.TemporaryDirectory() as root:
            os.environ.update(caches_under(Path(root)))
            ours, theirs, _ = measure(entry)
        print(f"{entry.id:<48} {(ours - theirs).abs().max().item():.2e}", flush=True)


if __name__ == "__main__":
    import sys

    torch.set_num_threads(1)
    main(sys.argv[1:])
