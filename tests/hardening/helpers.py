"""Helpers shared by the hardening tests: hostile payloads, safetensors surgery, bounded threads, and the
running app's answer log (written to tests/artifacts/hardening_answers.json when the app stops)."""
from __future__ import annotations

import io
import json
import os
import pickle
import struct
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import torch
from gradio_client import Client
from gradio_client.exceptions import AppError

from genlab.checkpoints import (read_manifest, sha256_bytes,
                                write_manifest)


REPO = Path(__file__).resolve().parents[2]


# helpers
class Payload:
    """Unpickling this runs a shell command that creates ``marker``: it must never happen."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _PickleWatch:
    """Records ``pickle.find_class`` audit events (every global an unpickler resolves) while active.

    Audit hooks cannot be removed, so one hook is installed for the whole session and switched on and off.
    """

    def __init__(self):
        self.active = False
        self.events: list[tuple] = []
        sys.addaudithook(self._hook)

    def _hook(self, event, args):
        if self.active and event == "pickle.find_class":
            self.events.append(args)


PICKLE_WATCH = _PickleWatch()


def refit(folder: Path, rel: str, data: bytes) -> None:
    """Write ``data`` as ``folder/rel`` and make the manifest's size and sha256 agree with it, so that only
    the content itself can be refused."""
    (folder / rel).write_bytes(data)
    m = read_manifest(folder)
    for f in m["files"]:
        if f["path"] == rel:
            f.update(sha256=sha256_bytes(data), bytes=len(data))
    write_manifest(folder, m)


def pickled_payloads(marker_dir: Path) -> dict[str, bytes]:
    """Every way a pickle could be dressed up as a weight file, each with its own marker."""
    out = {}
    buf = io.BytesIO()
    torch.save({"main.0.weight": Payload(marker_dir / "pwned-zip")}, buf)
    out["torch.save zip"] = buf.getvalue()
    buf = io.BytesIO()
    torch.save({"main.0.weight": Payload(marker_dir / "pwned-legacy")}, buf, _use_new_zipfile_serialization=False)
    out["torch.save legacy"] = buf.getvalue()
    for proto in (0, 2, 5):
        out[f"pickle protocol {proto}"] = pickle.dumps(Payload(marker_dir / f"pwned-p{proto}"), protocol=proto)
    # a pickle behind a length prefix that a naive reader would take for a small safetensors header
    raw = pickle.dumps(Payload(marker_dir / "pwned-prefixed"))
    out["length-prefixed pickle"] = struct.pack("<Q", len(raw)) + raw
    return out


def blank_png(w: int, h: int) -> bytes:
    """A genuine all-black 1-bit PNG of w x h: a few KB that would decode to w*h pixels (a bomb)."""
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = zlib.compressobj(9)
    row = b"\0" * (1 + (w + 7) // 8)
    idat = b"".join(rows.compress(row * 1000) for _ in range(h // 1000)) + rows.compress(row * (h % 1000)) + rows.flush()
    ihdr = struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def markers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("pwned*"))


def in_thread(fn, timeout: float = 20.0):
    """Run ``fn()`` in a daemon thread; ('ok', value) | ('raised', exc) | ('hung', None) after ``timeout``."""
    box = {}

    def run():
        try:
            box["ok"] = fn()
        except BaseException as exc:  # noqa: BLE001 - reported to the caller
            box["raised"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        return "hung", None
    return ("ok", box["ok"]) if "ok" in box else ("raised", box["raised"])


def safetensors_parts(data: bytes) -> tuple[dict, bytes]:
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + n]), data[8 + n :]


def safetensors_join(header: dict | str, body: bytes) -> bytes:
    h = (header if isinstance(header, str) else json.dumps(header)).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + body


MAX_MESSAGE = 600  # characters: an error message is read by a person


def _deep_list(depth: int) -> list:
    out: list = []
    for _ in range(depth):
        out = [out]
    return out


ARTIFACTS = REPO / "tests" / "artifacts"
ANSWERS: list[dict] = []  # every bad input tried through the app and the answer it got (written at teardown)


def _markers_of(app_root: Path) -> list[str]:
    return markers(app_root.parent / f"{app_root.name}-markers")


def still_serving(c: Client) -> None:
    """The server answers a good request right after a bad one."""
    grid, info = c.predict("tiny-gan", 1, 4, 1.0, 1.0, False, False, False, api_name="/samples")
    assert Path(grid).is_file() and info.startswith("4 samples")


def answered(c: Client, label: str, api: str, *args) -> str:
    """The AppError message a bad request gets (recorded for the report); fails if it succeeds."""
    with pytest.raises(AppError) as info:
        c.predict(*args, api_name=api)
    msg = str(info.value)
    ANSWERS.append({"input": label, "endpoint": api, "answer": msg[:300]})
    return msg


def _fn_index(url: str, api_name: str) -> int:
    with urllib.request.urlopen(url + "config", timeout=30) as r:
        config = json.load(r)
    return next(d["id"] for d in config["dependencies"] if d.get("api_name") == api_name)


def _join(url: str, fn_index: int, data: list, session: str) -> tuple[int, dict]:
    req = urllib.request.Request(url + "gradio_api/queue/join", method="POST",
                                 data=json.dumps({"data": data, "fn_index": fn_index, "session_hash": session,
                                                  "event_data": None, "trigger_id": None}).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _sse_messages(url: str, session: str, timeout: float = 60) -> list[dict]:
    """The browser's view: every message of a session's SSE stream until its process_completed."""
    out = []
    deadline = time.monotonic() + timeout
    with urllib.request.urlopen(f"{url}gradio_api/queue/data?session_hash={session}", timeout=timeout) as r:
        for raw in r:
            line = raw.decode().strip()
            if line.startswith("data:"):
                msg = json.loads(line[5:])
                out.append(msg)
                if msg.get("msg") in ("process_completed", "close_stream") or time.monotonic() > deadline:
                    break
    return out


def _server_errors(log: str) -> int:
    return log.count("Traceback (most recent call last)") + log.count("ERROR:")


Z4 = [0.1, -0.2, 0.3, 0.4]
