"""Datasets: the bundled digits, the public sets read from their real file formats
(pre-filled into a temporary cache, never downloaded), the download path against a
local HTTP server, and image folders and zips including every refusal."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import pickle
import threading
import urllib.request
import zipfile
from functools import partial

import numpy as np
import pytest
import torch
from PIL import Image

from classifier.data import DATASETS, UnsafeArchive, download, extract_zip, is_downloaded, load_data, make_datasets
from classifier.data import public
from classifier.data.download import DownloadError, Remote, tqdm_progress
from classifier.data.folder import extract_upload
from classifier.data.sets import stratified_split


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Only the test's own local server may be reached; anything else fails loudly."""
    real = urllib.request.urlopen

    def local_only(url, *args, **kwargs):
        assert str(url).startswith("http://127.0.0.1:"), f"test tried to download {url}"
        return real(url, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", local_only)


# ---------------------------------------------------------------------------- digits
def test_digits_split_is_fixed_stratified_and_32px():
    data = load_data("digits", (1, 32, 32))
    # scikit-learn's load_digits: 1,797 images of 10 classes (sklearn.datasets docs).
    assert len(data.train) + len(data.test) == 1797
    assert len(data.test) == 450  # a quarter of each class, rounded per class
    assert data.train.images.shape[1:] == (1, 32, 32) and data.train.images.dtype == torch.uint8
    for c in range(10):
        n_train, n_test = int((data.train.labels == c).sum()), int((data.test.labels == c).sum())
        assert abs(n_test / (n_train + n_test) - 0.25) < 0.02
    again = load_data("digits", (1, 32, 32))
    assert torch.equal(again.test.images, data.test.images) and torch.equal(again.test.labels, data.test.labels)


def test_stratified_split_is_a_partition():
    labels = torch.arange(103) % 4
    train, test = stratified_split(labels, 0.25, seed=3)
    assert sorted(train.tolist() + test.tolist()) == list(range(103))
    assert all(int((labels[test] == c).sum()) in (6, 7) for c in range(4))
    assert torch.equal(stratified_split(labels, 0.25, seed=3)[1], test)
    assert not torch.equal(stratified_split(labels, 0.25, seed=4)[1], test)


def test_digits_statistics_match_the_catalog():
    data = load_data("digits", (1, 32, 32))
    pixels = data.train.images.float() / 255
    assert pixels.mean().item() == pytest.approx(DATASETS["digits"].mean[0], abs=1e-3)
    assert pixels.std().item() == pytest.approx(DATASETS["digits"].std[0], abs=1e-3)


@pytest.mark.parametrize("channels", [1, 3])
def test_grey_images_match_the_model_channels(channels):
    data = load_data("digits", (channels, 32, 32))
    train, test = make_datasets(data, (channels, 32, 32), "standard")
    x, y = test[0]
    assert x.shape == (channels, 32, 32) and x.dtype == torch.float32 and 0 <= y < 10
    if channels == 3:
        assert torch.equal(x[0], x[1]) and torch.equal(x[1], x[2])
    # Normalised with the training statistics: the test set is roughly centred.
    batch = torch.stack([test[i][0] for i in range(200)])
    assert abs(batch.mean().item()) < 0.2 and 0.7 < batch.std().item() < 1.3


@pytest.mark.parametrize("augment", ["none", "standard", "strong"])
def test_augmentation_presets(augment):
    data = load_data("digits", (3, 32, 32))
    train, _ = make_datasets(data, (3, 32, 32), augment)
    first, second = train[5][0], train[5][0]
    assert first.shape == (3, 32, 32)
    assert torch.equal(first, second) == (augment == "none")


# ---------------------------------------------------------------------------- public sets
def idx_bytes(array: np.ndarray) -> bytes:
    """LeCun's IDX format: magic 0x0000080d (d dims), big-endian sizes, raw bytes."""
    header = (0x0800 + array.ndim).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def fill_idx(folder, n_train=12, n_test=6):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = np.arange(n) % 10
        (folder / f"{prefix}-images-idx3-ubyte").write_bytes(idx_bytes(images))
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
        arrays[prefix] = (images, labels)
    return arrays


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST/raw"), ("fashion_mnist", "FashionMNIST/raw")])
def test_idx_datasets_read_from_the_cache(tmp_path, name, folder):
    arrays = fill_idx(tmp_path / folder)
    assert is_downloaded(name, tmp_path)
    data = load_data(name, (1, 32, 32), root=tmp_path)
    assert len(data.train) == 12 and len(data.test) == 6 and data.num_classes == 10
    assert torch.equal(data.train.images[:, 0], torch.from_numpy(arrays["train"][0]))
    assert data.test.labels.tolist() == arrays["t10k"][1].tolist()
    train, _ = make_datasets(data, (3, 32, 32), "standard")
    assert train[0][0].shape == (3, 32, 32)  # 28×28 grey resized and repeated for an RGB net


def cifar_batch(n, label_key, rng):
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    data[0, :1024] = 255  # first image: red plane saturated, to check the channel layout
    data[0, 1024:] = 0
    return {"batch_label": "test", label_key: list(range(n)), "data": data, "filenames": [f"{i}.png" for i in range(n)]}


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_read_from_the_cache(tmp_path, name):
    source = public.PUBLIC[name]
    base = tmp_path / source.folder
    base.mkdir()
    rng = np.random.default_rng(0)
    n_classes = 10 if name == "cifar10" else 100
    for f in source.train_files + (source.test_file,):
        (base / f).write_bytes(pickle.dumps(cifar_batch(4, source.label_key, rng), protocol=2))
    (base / source.meta_file).write_bytes(pickle.dumps({source.names_key: [f"c{i}" for i in range(n_classes)]}))
    data = load_data(name, (3, 32, 32), root=tmp_path)
    assert len(data.train) == 4 * len(source.train_files) and len(data.test) == 4
    assert data.classes[:2] == ("c0", "c1") and data.num_classes == n_classes
    first = data.test.images[0]
    assert (first[0] == 255).all() and (first[1:] == 0).all()


def test_cifar_pickle_cannot_run_code(tmp_path):
    source = public.PUBLIC["cifar10"]
    base = tmp_path / source.folder
    base.mkdir()

    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    for f in source.files:
        (base / f).write_bytes(pickle.dumps(Evil()))
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        load_data("cifar10", (3, 32, 32), root=tmp_path)


@pytest.fixture
def http_server(tmp_path):
    """Serve tmp_path/www on 127.0.0.1; yields (base URL, list of requested paths)."""
    www = tmp_path / "www"
    www.mkdir()
    hits = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            hits.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(www)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{server.server_port}/", hits
    server.shutdown()


def test_download_streams_verifies_unpacks_and_runs_once(tmp_path, http_server, monkeypatch):
    www, url, hits = http_server
    cache = tmp_path / "cache"
    fill_idx(tmp_path / "src")
    remotes = []
    for name in public.IDX_FILES:
        packed = gzip.compress((tmp_path / "src" / name).read_bytes())
        (www / f"{name}.gz").write_bytes(packed)
        remotes.append(Remote((url + "missing/" + name + ".gz", url + name + ".gz"), hashlib.md5(packed).hexdigest(), "MNIST/raw", "gunzip"))
    monkeypatch.setitem(public.PUBLIC, "mnist", public.IdxDataset("MNIST/raw", tuple(remotes), public.IDX_FILES, classes=tuple("0123456789")))

    seen = []
    assert not is_downloaded("mnist", cache)
    download("mnist", cache, progress=lambda label, done, total: seen.append((label, done, total)))
    assert is_downloaded("mnist", cache)
    assert (cache / "MNIST/raw/train-images-idx3-ubyte").read_bytes() == (tmp_path / "src/train-images-idx3-ubyte").read_bytes()
    assert not list((cache / "MNIST/raw").glob("*.gz")) and not list((cache / "MNIST/raw").glob("*.part"))
    labels = {label for label, _, _ in seen}
    assert labels == {f"{n}.gz" for n in public.IDX_FILES}
    last = [s for s in seen if s[0] == "train-images-idx3-ubyte.gz"][-1]
    assert last[1] == last[2] == (www / "train-images-idx3-ubyte.gz").stat().st_size
    assert any("/missing/" in h for h in hits)  # the first mirror failed, the second served

    count = len(hits)
    data = load_data("mnist", (1, 32, 32), root=cache, progress=tqdm_progress())
    assert len(data.train) == 12 and len(hits) == count  # already cached: nothing fetched


def test_download_rejects_a_wrong_checksum(tmp_path, http_server, monkeypatch):
    www, url, _ = http_server
    (www / "data.tar.gz").write_bytes(b"not what was published")
    remote = Remote((url + "data.tar.gz",), "0" * 32, ".", "untar")
    monkeypatch.setitem(public.PUBLIC, "cifar10", public.CifarDataset("cifar-10-batches-py", (remote,), ("x",)))
    with pytest.raises(DownloadError, match="checksum"):
        download("cifar10", tmp_path / "cache")
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]


# ---------------------------------------------------------------------------- folders and zips
def png_bytes(colour, size=(20, 14)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def make_zip(entries: dict[str, bytes], links: dict[str, str] | None = None) -> io.BytesIO:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)  # a symbolic link, as `zip -y` stores it
            zf.writestr(info, target)
    buf.seek(0)
    return buf


def class_images(prefix="", n=5):
    return {f"{prefix}{cls}/{i}.png": png_bytes(colour) for cls, colour in (("red", (255, 0, 0)), ("blue", (0, 0, 255))) for i in range(n)}


def test_zip_of_a_folder_loads_at_the_model_size(tmp_path):
    target = extract_upload(make_zip(class_images("photos/")), "My photos!.zip", tmp_path)
    assert target == tmp_path / "uploads" / "My_photos"
    data = load_data("folder", (3, 32, 32), path=target)
    assert data.classes == ("blue", "red")
    assert len(data.train) == 8 and len(data.test) == 2  # 80/20 per class, one test image each
    assert data.train.images.shape[1:] == (3, 32, 32)
    red = data.train.images[data.train.labels == 1][0]
    assert red[0].float().mean() > 250 and red[2].float().mean() < 5
    grey = load_data("folder", (1, 24, 24), path=target)
    assert grey.train.images.shape[1:] == (1, 24, 24)


def test_folder_with_train_and_test(tmp_path):
    extract_zip(make_zip({**class_images("train/", 3), **class_images("val/", 2)}), tmp_path / "f")
    data = load_data("folder", (3, 16, 16), path=tmp_path / "f")
    assert len(data.train) == 6 and len(data.test) == 4


@pytest.mark.parametrize("entries, links, limits, message", [
    ({"../escape.png": b"x"}, None, {}, "outside"),
    ({"ok/../../escape.png": b"x"}, None, {}, "outside"),
    ({"/etc/escape.png": b"x"}, None, {}, "absolute"),
    ({"a\\..\\escape.png": b"x"}, None, {}, "Windows"),
    ({"ok.png": b"x"}, {"link": "/etc/passwd"}, {}, "symbolic"),
    ({f"{i}.png": b"x" for i in range(5)}, None, {"max_files": 4}, "5 files"),
    ({"big.bin": b"\0" * 5000}, None, {"max_bytes": 4096}, "5,000 bytes"),
])
def test_zip_refusals_leave_nothing_behind(tmp_path, entries, links, limits, message):
    with pytest.raises(UnsafeArchive, match=message):
        extract_zip(make_zip(entries, links), tmp_path / "out" / "target", **limits)
    assert not (tmp_path / "escape.png").exists()
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_folder_errors_are_clear(tmp_path):
    extract_zip(make_zip({"only/1.png": png_bytes((1, 2, 3)), "only/2.png": png_bytes((1, 2, 3))}), tmp_path / "one")
    with pytest.raises(ValueError, match="at least two"):
        load_data("folder", (3, 16, 16), path=tmp_path / "one")
    extract_zip(make_zip({**class_images(), "red/broken.png": b"not a png"}), tmp_path / "bad")
    with pytest.raises(ValueError, match="broken.png"):
        load_data("folder", (3, 16, 16), path=tmp_path / "bad")
    with pytest.raises(ValueError, match="needs a path"):
        load_data("folder", (3, 16, 16))
