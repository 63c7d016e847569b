"""Bounded file storage for outputs Gradio serves from disk (GIFs, recipes) and its temp cache.

Gradio writes every distinct output file under ``GRADIO_TEMP_DIR`` and, on 6.31, its own cleanup
crashed under continuous traffic, so genlab owns both: its own files go to a small LRU folder, and a
janitor thread trims Gradio's folder by age and count (iterating over a copied listing).
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time
from pathlib import Path


class FileStore:
    """Content-addressed files in ``folder``, at most ``max_files`` (oldest removed first)."""

    def __init__(self, folder: str | Path | None = None, max_files: int = 64):
        self.folder = Path(folder or tempfile.mkdtemp(prefix="genlab-files-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_files = max_files
        self._lock = threading.Lock()

    def put(self, data: bytes, suffix: str, stem: str = "genlab") -> str:
        name = f"{stem}-{hashlib.sha256(data).hexdigest()[:16]}{suffix}"
        path = self.folder / name
        with self._lock:
            if not path.exists():
                tmp = path.with_suffix(suffix + ".tmp")
                tmp.write_bytes(data)
                os.replace(tmp, path)
            os.utime(path)
            self._trim()
        return str(path)

    def _trim(self) -> None:
        files = sorted(self.folder.glob("*"), key=lambda p: p.stat().st_mtime)
        for p in files[: max(0, len(files) - self.max_files)]:
            p.unlink(missing_ok=True)


FOLDER_GRACE_S = 60.0  # an empty folder younger than this may be one Gradio has just made and is writing into


def list_files(root: Path) -> set[str]:
    """Every file under ``root`` now (paths as strings)."""
    out = set()
    for p in list(root.rglob("*")) if root.is_dir() else []:
        try:
            if p.is_file():
                out.add(str(p))
        except OSError:
            continue
    return out


def trim_tree(root: Path, max_age_s: float, max_files: int, pinned: frozenset | set = frozenset()) -> int:
    """Delete files under ``root`` older than ``max_age_s``, then the oldest beyond ``max_files``, then empty
    folders untouched for ``FOLDER_GRACE_S``.

    Gradio writes each output into a folder named by its content hash and reuses that folder for the same
    content, so a folder may be written into again at any moment: a file rewritten since it was listed is
    kept, and a folder that just became empty (or was just made) stays until the next passes. Returns how
    many files were deleted; files and folders vanishing meanwhile are fine.
    """
    entries = []
    for p in list(root.rglob("*")):
        try:
            if str(p) not in pinned and p.is_file():
                entries.append((p.stat().st_mtime, p))
        except OSError:
            continue
    entries.sort()
    now, removed = time.time(), 0
    keep_from = max(0, len(entries) - max_files)
    for i, (mtime, p) in enumerate(entries):
        if i < keep_from or now - mtime > max_age_s:
            try:
                if p.stat().st_mtime != mtime:  # rewritten since listed: in use again
                    continue
                p.unlink()
                removed += 1
            except OSError:
                pass
    for d in sorted((p for p in list(root.rglob("*")) if p.is_dir()), key=lambda p: -len(p.parts)):
        try:
            if time.time() - d.stat().st_mtime > FOLDER_GRACE_S:
                d.rmdir()  # only empty folders go
        except OSError:
            pass
    return removed


class Janitor(threading.Thread):
    """Daemon thread trimming a folder every ``interval_s`` seconds.

    ``pin_existing``: the files present when the thread starts are never removed. Gradio caches a component's
    initial value once, when the app is built, and every page opened later refers to that file: removing it
    by age broke those pages (HTTP 403 on the model card preview minutes after start). Files handed out
    again at run time are rewritten or touched by Gradio, so age works for them."""

    def __init__(self, root: str | Path, max_age_s: float = 900, max_files: int = 2000, interval_s: float = 30,
                 pin_existing: bool = False):
        super().__init__(daemon=True, name="genlab-janitor")
        self.root, self.max_age_s, self.max_files, self.interval_s = Path(root), max_age_s, max_files, interval_s
        self.stopped = threading.Event()
        self.removed = 0
        self.pinned: frozenset = frozenset(list_files(self.root)) if pin_existing else frozenset()

    def run(self) -> None:
        while not self.stopped.wait(self.interval_s):
            if self.root.is_dir():
                self.removed += trim_tree(self.root, self.max_age_s, self.max_files, self.pinned)

    def stop(self) -> None:
        self.stopped.set()
