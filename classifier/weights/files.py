"""Weights files in the standard caches: find, download, verify, read.

- URL files (torchvision, timm's older releases, pytorchcv's zips) live in torch hub's
  ``checkpoints/`` folder (``$TORCH_HOME/hub/checkpoints``), under the URL's file name; a
  pytorchcv ``.pth.zip`` is unpacked there and the zip removed, so ``torch.hub`` users
  and pytorchcv's own file names meet one cache.
- Hugging Face files go through ``huggingface_hub`` into ``$HF_HUB_CACHE``;
  ``HF_HUB_OFFLINE=1`` reads a warm cache and never calls out. Both variables are read
  at call time, so a process can change them.

A download streams into a partial file, is checked against the checksum its source
publishes (torch hub's SHA-256 prefix in the name, pytorchcv's SHA-1) and only then moved
into place: a broken download never sits where the cache would trust it. A cached file
that cannot be read is removed with a message, so the next attempt downloads it anew.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import zipfile
from pathlib import Path
from urllib.parse import urlparse

from classifier.data.download import Progress
from classifier.data.download import _stream as stream_to_file
from classifier.weights.entries import StateDict, WeightEntry


class WeightsError(ValueError):
    """Weights that cannot be used; ``str(error)`` is a message for the page."""


def checkpoints_dir() -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def hf_cache_dir() -> Path:
    """``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "huggingface"
    return Path(home) / "hub"


def hf_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def url_path(entry: WeightEntry) -> Path:
    """Where a URL entry's file is kept: the URL's file name, without a ``.zip``."""
    name = os.path.basename(urlparse(entry.url).path)
    return checkpoints_dir() / (name[: -len(".zip")] if name.endswith(".zip") else name)


def where(entry: WeightEntry) -> str:
    """The file and folder a user can put a weights file into by hand."""
    if entry.url:
        path = url_path(entry)
        return f"{path.name} in {path.parent}"
    folder = hf_cache_dir() / ("models--" + entry.hf_repo.replace("/", "--"))
    return f"{entry.hf_file} of {entry.hf_repo} in {folder} (the Hugging Face hub cache)"


def cached_file(entry: WeightEntry) -> Path | None:
    """The cached file of ``entry``, or None when it would have to be downloaded."""
    if entry.url:
        path = url_path(entry)
        return path if path.is_file() else None
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(entry.hf_repo, entry.hf_file, cache_dir=hf_cache_dir())
    return Path(found) if isinstance(found, str) and Path(found).is_file() else None


def is_cached(entry: WeightEntry) -> bool:
    return cached_file(entry) is not None


def download(entry: WeightEntry, progress: Progress | None = None) -> Path:
    """The entry's file, from the cache or downloaded into it; ``progress(label, done,
    total)`` hears about a download. Raises :class:`WeightsError` with one sentence that
    names the file and folder when it cannot be had."""
    found = cached_file(entry)
    if found is not None:
        return found
    try:
        return _download_url(entry, progress) if entry.url else _download_hf(entry, progress)
    except (OSError, urllib.error.URLError, ValueError) as exc:
        reason = str(getattr(exc, "reason", exc)).strip().splitlines()
        reason = reason[0] if reason else type(exc).__name__
        raise WeightsError(
            f"The weights {entry.id} are not cached and could not be downloaded ({reason}); "
            f"put the file {where(entry)} to use them offline."
        ) from None


def _digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(entry: WeightEntry, path: Path) -> None:
    """Check a downloaded file against the entry's published checksum (a hex prefix)."""
    if not entry.checksum:
        return
    algorithm, expected = entry.checksum.split(":", 1)
    if not _digest(path, algorithm).startswith(expected):
        raise ValueError(f"the file's {algorithm.upper()} does not match the published {expected}")


def _download_url(entry: WeightEntry, progress: Progress | None) -> Path:
    dest = url_path(entry)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fetched = dest.with_name(os.path.basename(urlparse(entry.url).path) + ".part")
    unpacked = dest.with_name(dest.name + ".unpacked.part")
    try:
        stream_to_file(entry.url, fetched, dest.name, progress)
        if entry.url.endswith(".zip"):
            _unzip_one(fetched, dest.name, unpacked)
            os.replace(unpacked, fetched)
        verify(entry, fetched)
        os.replace(fetched, dest)
    except zipfile.BadZipFile:
        raise ValueError("the downloaded archive is not a readable zip file") from None
    finally:
        fetched.unlink(missing_ok=True)
        unpacked.unlink(missing_ok=True)
    return dest


def _unzip_one(archive: Path, member: str, target: Path) -> None:
    """Extract the archive's one file called ``member`` to ``target``."""
    with zipfile.ZipFile(archive) as zf:
        names = [n for n in zf.namelist() if os.path.basename(n) == member]
        if not names:
            raise ValueError(f"the archive holds no {member}")
        with zf.open(names[0]) as src, open(target, "wb") as out:
            for block in iter(lambda: src.read(1 << 20), b""):
                out.write(block)


def _download_hf(entry: WeightEntry, progress: Progress | None) -> Path:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        path = hf_hub_download(
            entry.hf_repo,
            entry.hf_file,
            cache_dir=hf_cache_dir(),
            local_files_only=hf_offline(),
            tqdm_class=_tqdm_reporting(entry.hf_file, progress) if progress else None,
        )
    except LocalEntryNotFoundError:
        raise OSError("offline (HF_HUB_OFFLINE is set) or the hub is unreachable") from None
    except HfHubHTTPError as exc:
        raise OSError(str(exc).splitlines()[0]) from None
    return Path(path)


def _tqdm_reporting(label: str, progress: Progress):
    """A tqdm class for huggingface_hub that reports bytes to ``progress``."""
    from tqdm.auto import tqdm

    class Reporting(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True  # no terminal bar of its own; the caller draws one
            super().__init__(*args, **kwargs)
            self._done = 0

        def update(self, n=1):
            self._done += n or 0
            progress(label, self._done, self.total or None)
            return super().update(n)

    return Reporting


def read_file(entry: WeightEntry, path: Path) -> StateDict:
    """The tensors of a cached weights file. A file that cannot be read (truncated,
    corrupt) is removed from the cache, with a message saying so."""
    from classifier.weights.checkpoint import read_state

    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = read_state(path, what=f"The cached file {path.name}")
        for key in ("state_dict", "model", "model_state"):  # wrappers some releases use
            if isinstance(state, dict) and isinstance(state.get(key), dict):
                state = state[key]
        if not isinstance(state, dict):
            raise WeightsError(f"The cached file {path.name} holds a {type(state).__name__}, not a state dict.")
        return state
    except Exception as exc:  # noqa: BLE001 - any unreadable file is treated the same way
        _discard(path)
        message = str(exc) if isinstance(exc, WeightsError) else f"The cached file {path.name} is unreadable ({exc})."
        raise WeightsError(f"{message.rstrip('.')}; it was removed from {path.parent}, so the next try downloads it again.") from None


def _discard(path: Path) -> None:
    """Remove a bad cache file; in the Hugging Face cache, the blob it links to as well."""
    target = path.resolve()
    path.unlink(missing_ok=True)
    if target != path:
        target.unlink(missing_ok=True)
