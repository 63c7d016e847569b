"""Vendor onnxruntime-web's WASM CPU path into ``genlab/ui/static/vendor/onnxruntime-web/``.

``python -m genlab vendor-ort [--tarball onnxruntime-web-X.tgz]`` reproduces the folder from ``npm pack``:
it checks the tarball's sha256 against the pin, takes only the three files the WASM path loads
(``ort.wasm.min.mjs`` -> ``ort-wasm-simd-threaded.mjs`` -> ``ort-wasm-simd-threaded.wasm``) and writes a
gzip and a brotli copy of each, plus ``VENDOR.json`` (version, sha256s, sizes, licence) and ``LICENSE``.

Only the compressed copies are committed: the raw wasm is 14.2 MB, its gzip 3.7 MB and its brotli 2.7 MB,
so committing all three would add 20.6 MB to every clone for bytes no browser needs (every browser sends
``Accept-Encoding: gzip``). ``genlab.ui.decoders`` decompresses the gzip copy for the rare client that
accepts neither, and checks every sha256 in VENDOR.json before serving. Nothing here imports torch or gradio.
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ORT_VERSION = "1.30.0"
# `npm pack onnxruntime-web@1.30.0` on 2026-12-01; npm's integrity is the sha512 of the same bytes.
TARBALL_SHA256 = {"1.30.0": "d2228df7e4616bc3348bf504ee888f3bec43789a273f0a63f3e68d203ce3bf71"}
FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
ENTRY = "ort.wasm.min.mjs"  # the ES module the page imports
VENDOR_DIR = Path(__file__).resolve().parent / "static" / "vendor" / "onnxruntime-web"
ENCODINGS = {"br": ".br", "gzip": ".gz"}

# The npm tarball carries no licence file: package.json says "license": "MIT" and every file's header says
# "Copyright (c) Microsoft Corporation. All rights reserved. Licensed under the MIT License." This is the MIT
# text of the microsoft/onnxruntime repository (its LICENSE file, also shipped in the onnxruntime wheel).
MIT_TEXT = """MIT License

Copyright (c) Microsoft Corporation

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def gzip_bytes(data: bytes) -> bytes:
    """Deterministic gzip (level 9, mtime 0, no file name): the same input always gives the same bytes."""
    return gzip.compress(data, compresslevel=9, mtime=0)


def brotli_bytes(data: bytes) -> bytes | None:
    """Brotli at quality 11 (the ``brotli`` package comes with gradio), or None where it is missing."""
    try:
        import brotli
    except ImportError:
        return None
    return brotli.compress(data, quality=11)


def npm_pack(version: str, dest: Path) -> Path:
    """``npm pack onnxruntime-web@version`` into ``dest``; returns the tarball path."""
    out = subprocess.run(["npm", "pack", f"onnxruntime-web@{version}", "--pack-destination", str(dest)],
                         check=True, capture_output=True, text=True).stdout.strip().splitlines()
    return dest / out[-1]


def _member(name: str) -> str:
    return "package/package.json" if name == "package.json" else f"package/dist/{name}"


def read_members(tarball: bytes) -> dict[str, bytes]:
    out = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        for name in FILES + ("package.json",):
            f = tar.extractfile(_member(name))
            if f is None:
                raise ValueError(f"{_member(name)} is not a regular file in the tarball")
            out[name] = f.read()
    return out


def header_notice(js: bytes) -> str:
    """The ``/*! ... */`` licence banner at the top of a minified file."""
    m = re.match(rb"\s*/\*!(.*?)\*/", js, re.S)
    return "\n".join(line.strip(" *") for line in m.group(1).decode().strip().splitlines()) if m else ""


def build(tarball: bytes, version: str, out_dir: Path = VENDOR_DIR) -> dict:
    """Write the compressed files, VENDOR.json, VENDOR.md and LICENSE into ``out_dir``; returns VENDOR.json."""
    pinned = TARBALL_SHA256.get(version)
    if pinned and sha256(tarball) != pinned:
        raise ValueError(f"onnxruntime-web-{version}.tgz has sha256 {sha256(tarball)}, the pin says {pinned}")
    members = read_members(tarball)
    pkg = json.loads(members.pop("package.json"))
    if pkg.get("version") != version:
        raise ValueError(f"the tarball holds onnxruntime-web {pkg.get('version')}, not {version}")
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, raw in members.items():
        entry = {"sha256": sha256(raw), "bytes": len(raw)}
        for enc, ext in ENCODINGS.items():
            data = gzip_bytes(raw) if enc == "gzip" else brotli_bytes(raw)
            if data is None:
                continue
            (out_dir / (name + ext)).write_bytes(data)
            entry[enc] = {"file": name + ext, "sha256": sha256(data), "bytes": len(data)}
        files[name] = entry
    info = {
        "package": "onnxruntime-web", "version": version, "entry": ENTRY,
        "tarball": {"file": f"onnxruntime-web-{version}.tgz", "sha256": sha256(tarball), "bytes": len(tarball),
                    "integrity": "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode()},
        "license": pkg.get("license"), "license_file": "LICENSE", "notice": header_notice(members[ENTRY]),
        "reproduce": f"python -m genlab vendor-ort --version {version}", "files": files,
    }
    (out_dir / "VENDOR.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    (out_dir / "LICENSE").write_text(MIT_TEXT, encoding="utf-8")
    (out_dir / "VENDOR.md").write_text(vendor_md(info), encoding="utf-8")
    return info


def vendor_md(info: dict) -> str:
    rows = ["| file | raw bytes | raw sha256 | gzip bytes | brotli bytes |", "|---|---|---|---|---|"]
    for name, f in info["files"].items():
        rows.append(f"| `{name}` | {f['bytes']:,} | `{f['sha256']}` | {f.get('gzip', {}).get('bytes', 0):,} | "
                    f"{f.get('br', {}).get('bytes', 0):,} |")
    t = info["tarball"]
    return "\n".join([
        f"# onnxruntime-web {info['version']} (WASM CPU path only)", "",
        f"From `npm pack onnxruntime-web@{info['version']}`: `{t['file']}`, {t['bytes']:,} bytes, sha256 "
        f"`{t['sha256']}` (npm integrity `{t['integrity']}`).", "",
        f"Licence: {info['license']} (see LICENSE; the tarball has no licence file, the files' banner says: "
        f"\"{' '.join(info['notice'].splitlines())}\").", "",
        "Only the `.br` and `.gz` copies are committed; `genlab/ui/decoders.py` serves them at "
        f"`/genlab/ort/{info['version']}/<file>` with the matching `Content-Encoding`, checks every sha256 "
        "below first, and decompresses the gzip copy for a client that accepts neither.", "",
        *rows, "",
        f"Reproduce: `{info['reproduce']}` (or `--tarball PATH` for a tarball already downloaded).", "",
    ])


def add_parser(sub) -> None:
    p = sub.add_parser("vendor-ort", help="vendor onnxruntime-web's WASM files from npm pack (maintainers)")
    p.add_argument("--version", default=ORT_VERSION)
    p.add_argument("--tarball", default=None, help="a local onnxruntime-web-X.tgz instead of running npm pack")
    p.add_argument("--out", default=str(VENDOR_DIR))
    p.set_defaults(func=main)


def main(args) -> int:
    if args.tarball:
        data = Path(args.tarball).read_bytes()
    else:
        with tempfile.TemporaryDirectory() as tmp:
            data = npm_pack(args.version, Path(tmp)).read_bytes()
    info = build(data, args.version, Path(args.out))
    for name, f in info["files"].items():
        sizes = ", ".join(f"{enc} {f[enc]['bytes']:,}" for enc in ENCODINGS if enc in f)
        print(f"{name}: raw {f['bytes']:,} ({sizes})", file=sys.stderr)
    return 0
