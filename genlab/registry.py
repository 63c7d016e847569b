"""Model discovery and loading.

Scanning reads manifests only; ``get(id)`` loads weights once per (id, device) and keeps an LRU cache
bounded by bytes of weights. Concurrent ``get`` calls for the same model wait on one load.
"""
from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from genlab.checkpoints import MANIFEST, Checkpoint, CheckpointError, Manifest, load_checkpoint, parse_manifest

DEFAULT_ROOT = Path(__file__).resolve().parents[1] / "checkpoints"
DEFAULT_CACHE_BYTES = 2 << 30
RECHECK_S = 1.0  # how often a cached model's files are stat()ed for changes (keeps the hot path cheap)


@dataclass(frozen=True)
class Entry:
    """One folder found by a scan. ``manifest`` is None when the entry is unavailable."""

    id: str
    folder: Path
    manifest: Manifest | None
    error: str | None = None

    @property
    def available(self) -> bool:
        return self.manifest is not None and self.error is None


def default_roots(extra: list[str | Path] | None = None) -> list[Path]:
    """``checkpoints/`` of this repo, then ``GENLAB_CHECKPOINTS`` (os.pathsep-separated), then ``extra``."""
    roots = [DEFAULT_ROOT]
    env = os.environ.get("GENLAB_CHECKPOINTS", "")
    roots += [Path(p) for p in env.split(os.pathsep) if p]
    roots += [Path(p) for p in extra or []]
    seen, out = set(), []
    for r in roots:
        key = r.resolve()
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def scan_root(root: Path) -> list[Entry]:
    """Every subfolder with a manifest.json; an unreadable manifest gives an unavailable entry."""
    if not root.is_dir():
        return []
    entries = []
    for folder in sorted(p for p in root.iterdir() if (p / MANIFEST).is_file()):
        try:
            m = parse_manifest(folder)
            entries.append(Entry(m.id, folder, m))
        except CheckpointError as exc:
            entries.append(Entry(folder.name, folder, None, str(exc)))
    return entries


def file_stats(folder: Path, manifest: Manifest) -> tuple:
    """(size, mtime) of the manifest and every loaded weight file; missing files give None."""
    out = []
    for rel in [MANIFEST] + [f.path for f in manifest.files if f.role != "snapshot"]:
        try:
            st = (folder / rel).stat()
            out.append((st.st_size, st.st_mtime_ns))
        except OSError:
            out.append(None)
    return tuple(out)


class Registry:
    """Checkpoint folders found under ``roots``; ``get`` loads and caches them per device."""

    def __init__(self, roots: list[str | Path] | None = None, cache_bytes: int = DEFAULT_CACHE_BYTES,
                 default_device: str = "cpu"):
        self.roots = [Path(r) for r in (roots if roots is not None else default_roots())]
        self.cache_bytes = cache_bytes
        self.default_device = default_device
        self._lock = threading.Lock()
        self._loading: dict[tuple[str, str], threading.Lock] = {}
        self._cache: OrderedDict[tuple[str, str], Checkpoint] = OrderedDict()
        self.load_count = 0  # number of weight loads done, for tests and benchmarks
        self._stamps: dict[tuple[str, str], tuple[float, tuple]] = {}  # key -> (last check, file stats)
        self.rescan()

    def rescan(self) -> None:
        entries: dict[str, Entry] = {}
        for root in self.roots:
            for e in scan_root(root):
                if e.id in entries and entries[e.id].available:
                    e = Entry(e.id + f"@{e.folder}", e.folder, None,
                              f"{e.folder / MANIFEST}: duplicate id {e.id!r} (first found in {entries[e.id].folder})")
                entries[e.id] = e
        with self._lock:
            self._entries = entries

    def entries(self, kind: str | None = "model") -> list[Entry]:
        """All entries (unavailable ones included); ``kind`` filters available ones by manifest kind."""
        out = list(self._entries.values())
        return [e for e in out if kind is None or not e.available or e.manifest.kind == kind]

    def ids(self, kind: str = "model") -> list[str]:
        return [e.id for e in self.entries(kind) if e.available]

    def entry(self, model_id: str) -> Entry:
        try:
            return self._entries[model_id]
        except KeyError:
            known = ", ".join(self.ids()) or "none"
            raise KeyError(f"no model {model_id!r} in the registry (available: {known})") from None

    def manifest(self, model_id: str) -> Manifest:
        e = self.entry(model_id)
        if not e.available:
            raise CheckpointError(f"model {model_id!r} is unavailable: {e.error}")
        return e.manifest

    def get(self, model_id: str, device: str | None = None) -> Checkpoint:
        """The loaded checkpoint, from cache or loaded once (thread-safe)."""
        device = str(device or self.default_device)
        key = (model_id, device)
        with self._lock:
            if key in self._cache and self._unchanged(key):
                self._cache.move_to_end(key)
                return self._cache[key]
            self._cache.pop(key, None)
            load_lock = self._loading.setdefault(key, threading.Lock())
        with load_lock:
            with self._lock:
                if key in self._cache:
                    return self._cache[key]
            entry = self.entry(model_id)
            if not entry.available:
                raise CheckpointError(f"model {model_id!r} is unavailable: {entry.error}")
            manifest = parse_manifest(entry.folder)  # re-read: the folder may have changed since the scan
            if manifest.id != model_id:
                raise CheckpointError(f"{entry.folder / MANIFEST}: id changed to {manifest.id!r}")
            ckpt = load_checkpoint(entry.folder, device, manifest)
            with self._lock:
                self._entries[model_id] = Entry(model_id, entry.folder, manifest)
                self.load_count += 1
                self._cache[key] = ckpt
                self._stamps[key] = (time.monotonic(), file_stats(ckpt.folder, ckpt.manifest))
                self._evict()
            return ckpt

    def _unchanged(self, key: tuple[str, str]) -> bool:
        """False when the model's files changed on disk since it was loaded (checked at most every RECHECK_S)."""
        checked, stats = self._stamps.get(key, (0.0, ()))
        now = time.monotonic()
        if now - checked < RECHECK_S:
            return True
        ckpt = self._cache[key]
        if file_stats(ckpt.folder, ckpt.manifest) != stats:
            return False
        self._stamps[key] = (now, stats)
        return True

    def _evict(self) -> None:
        total = sum(c.nbytes for c in self._cache.values())
        while total > self.cache_bytes and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            total -= old.nbytes

    def forget(self, model_id: str) -> None:
        """Drop cached copies of a model (e.g. after its files changed on disk)."""
        with self._lock:
            for key in [k for k in self._cache if k[0] == model_id]:
                del self._cache[key]

    def cached(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._cache)
