"""Fetching public datasets once into a local cache, with progress reported to the caller.

Downloads stream into a temporary file next to their destination, are checked against the
published MD5 and only then moved into place, so an interrupted download never looks like
a finished one. Progress goes through one callback signature, ``progress(label, done,
total)``: the terminal passes a tqdm adapter (:func:`tqdm_progress`), the app a Streamlit
progress bar, tests a list.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

Progress = Callable[[str, int, "int | None"], None]

CHUNK = 1 << 16
DEFAULT_CACHE = Path(__file__).resolve().parents[2] / "data-cache"


def data_dir(path: str | os.PathLike | None = None) -> Path:
    """The cache folder: an explicit path, else $CLASSIFIER_DATA_DIR, else ./data-cache
    at the repository root (ignored by git)."""
    return Path(path or os.environ.get("CLASSIFIER_DATA_DIR") or DEFAULT_CACHE)


@dataclass(frozen=True)
class Remote:
    """One published file: mirrors tried in order, its MD5, and how to unpack it.

    ``unpack`` is ``"gunzip"`` (one file), ``"untar"`` (an archive) or ``""`` (keep as is);
    ``dest`` is the folder (relative to the cache) the unpacked content belongs in.
    """

    urls: tuple[str, ...]
    md5: str
    dest: str
    unpack: str

    @property
    def filename(self) -> str:
        return self.urls[0].rsplit("/", 1)[-1]


class DownloadError(RuntimeError):
    """Every mirror failed or the file did not match its checksum. ``filename`` and
    ``folder`` say what a user can put where to go on offline."""

    def __init__(self, message: str, filename: str = "", folder: Path | None = None):
        super().__init__(message)
        self.filename, self.folder = filename, folder


def md5sum(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def fetch(remote: Remote, root: Path, progress: Progress | None = None) -> None:
    """Download ``remote`` into ``root / remote.dest`` and unpack it there."""
    dest = root / remote.dest
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest / remote.filename
    partial = archive.with_name(archive.name + ".part")
    errors = []
    for url in remote.urls:
        try:
            _stream(url, partial, remote.filename, progress)
        except OSError as exc:
            errors.append(f"{url}: {exc}")
            continue
        if md5sum(partial) != remote.md5:
            errors.append(f"{url}: checksum mismatch")
            continue
        os.replace(partial, archive)
        break
    else:
        partial.unlink(missing_ok=True)
        raise DownloadError(f"could not download {remote.filename}: " + "; ".join(errors), remote.filename, dest)
    _unpack(archive, remote.unpack, dest)


def _stream(url: str, target: Path, label: str, progress: Progress | None) -> None:
    with urllib.request.urlopen(url, timeout=60) as response, open(target, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        done = 0
        if progress:
            progress(label, 0, total)
        for block in iter(lambda: response.read(CHUNK), b""):
            out.write(block)
            done += len(block)
            if progress:
                progress(label, done, total)


def _unpack(archive: Path, how: str, dest: Path) -> None:
    if how == "gunzip":
        target = dest / archive.name.removesuffix(".gz")
        tmp = target.with_name(target.name + ".part")
        with gzip.open(archive, "rb") as src, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out, CHUNK)
        os.replace(tmp, target)
        archive.unlink()
    elif how == "untar":
        with tarfile.open(archive) as tar:
            # The "data" filter refuses absolute paths, links out of the folder and devices.
            tar.extractall(dest, filter="data")
        archive.unlink()


def tqdm_progress() -> Progress:
    """A progress callback drawing one tqdm bar per file in the terminal."""
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def update(label: str, done: int, total: int | None) -> None:
        bar = bars.get(label)
        if bar is None:
            bar = bars[label] = tqdm(total=total, unit="B", unit_scale=True, desc=label, leave=False)
        bar.update(done - bar.n)
        if total is not None and done >= total:
            bar.close()

    return update
