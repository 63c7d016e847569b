"""The vendored onnxruntime-web folder: consistent with VENDOR.json, small files, reproducible from a tarball."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile

import pytest

from genlab.ui import vendor


def _tarball(version: str, files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in {**files, "package.json": json.dumps({"version": version, "license": "MIT"}).encode()}.items():
            info = tarfile.TarInfo("package/package.json" if name == "package.json" else f"package/dist/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_committed_folder_matches_vendor_json():
    info = json.loads((vendor.VENDOR_DIR / "VENDOR.json").read_text())
    assert info["version"] == vendor.ORT_VERSION and info["license"] == "MIT"
    assert info["tarball"]["sha256"] == vendor.TARBALL_SHA256[vendor.ORT_VERSION]
    listed = {"VENDOR.json", "VENDOR.md", "LICENSE"}
    for name, entry in info["files"].items():
        for enc in ("gzip", "br"):
            data = (vendor.VENDOR_DIR / entry[enc]["file"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == entry[enc]["sha256"] and len(data) == entry[enc]["bytes"]
            listed.add(entry[enc]["file"])
        raw = gzip.decompress((vendor.VENDOR_DIR / entry["gzip"]["file"]).read_bytes())
        assert hashlib.sha256(raw).hexdigest() == entry["sha256"]
    on_disk = {p.name for p in vendor.VENDOR_DIR.iterdir()}
    assert on_disk == listed  # nothing unlisted is committed (e.g. a raw 14 MB wasm)
    assert all(p.stat().st_size < 20 << 20 for p in vendor.VENDOR_DIR.iterdir())
    assert "MIT License" in (vendor.VENDOR_DIR / "LICENSE").read_text()


def test_build_from_a_tarball_is_deterministic_and_checks_the_pin(tmp_path):
    files = {name: (name * 500).encode() for name in vendor.FILES}
    files[vendor.ENTRY] = b"/*!\n * ONNX Runtime Web v9.9.9\n * Licensed under the MIT License.\n */\n" + files[vendor.ENTRY]
    tgz = _tarball("9.9.9", files)
    info = vendor.build(tgz, "9.9.9", tmp_path / "a")
    vendor.build(tgz, "9.9.9", tmp_path / "b")
    for name in sorted(p.name for p in (tmp_path / "a").iterdir()):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert info["notice"].startswith("ONNX Runtime Web v9.9.9")
    for name, data in files.items():
        assert gzip.decompress((tmp_path / "a" / f"{name}.gz").read_bytes()) == data
        assert info["files"][name]["sha256"] == hashlib.sha256(data).hexdigest()
    with pytest.raises(ValueError, match="not 9.9.8"):
        vendor.build(tgz, "9.9.8", tmp_path / "c")
    with pytest.raises(ValueError, match="the pin says"):
        vendor.build(tgz, vendor.ORT_VERSION, tmp_path / "d")
