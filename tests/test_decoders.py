"""Routes for decoding in the page: the vendored runtime (compressed, cached) and verified decoders only."""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil

import httpx
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from conftest import make_checkpoint
from genlab import export
from genlab.checkpoints import ID_RE, read_manifest, sha256_bytes, write_manifest
from genlab.registry import Registry
from genlab.ui import decoders
from genlab.ui.decoders import IMMUTABLE, DecoderRoutes, Runtime
from genlab.ui.vendor import VENDOR_DIR

INFO = json.loads((VENDOR_DIR / "VENDOR.json").read_text())
V = INFO["version"]
WASM = "ort-wasm-simd-threaded.wasm"


@pytest.fixture(scope="module")
def runtime():
    return Runtime()


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    reg = tmp_path_factory.mktemp("template")
    export.write_decoder(make_checkpoint(reg, "gan", "dcgan", seed=1), dynamo=False)
    make_checkpoint(reg, "vae-no-decoder", "conv_vae", seed=2)
    make_checkpoint(reg, "clf", "classifier")
    return reg


@pytest.fixture
def root(tmp_path, template):
    """A fresh copy per test (tests change files): gan has a decoder, vae-no-decoder none, clf is no generator."""
    reg = tmp_path / "reg"
    shutil.copytree(template, reg)
    (tmp_path / "secret.txt").write_text("not for the web")
    return reg


@pytest.fixture
def client(root, tmp_path, runtime):
    app = Starlette(routes=DecoderRoutes(Registry([root]), cache_dir=tmp_path / "cache", runtime=runtime).routes())
    with TestClient(app) as c:
        yield c


def raw_get(client, url, **headers):
    """(response, body bytes as sent on the wire, not decoded)."""
    with client.stream("GET", url, headers=headers) as r:
        return r, b"".join(r.iter_raw())


def test_id_pattern_agrees_with_checkpoints():
    assert decoders.ID_RE.pattern == ID_RE.pattern


@pytest.mark.parametrize("name,mime", [(WASM, "application/wasm"), ("ort.wasm.min.mjs", "text/javascript"),
                                       ("ort-wasm-simd-threaded.mjs", "text/javascript")])
@pytest.mark.parametrize("accept,enc", [("gzip, deflate, br, zstd", "br"), ("gzip", "gzip"), ("br;q=0, gzip", "gzip"),
                                        ("identity", None), ("", None)])
def test_runtime_is_served_compressed_with_long_cache_headers(client, name, mime, accept, enc):
    r, body = raw_get(client, f"/genlab/ort/{V}/{name}", **{"Accept-Encoding": accept})
    assert r.status_code == 200 and r.headers["content-type"].startswith(mime)
    assert r.headers["cache-control"] == IMMUTABLE and r.headers["vary"] == "Accept-Encoding"
    assert r.headers.get("content-encoding") == enc
    entry = INFO["files"][name]
    if enc:
        assert hashlib.sha256(body).hexdigest() == entry[enc]["sha256"]
        raw = gzip.decompress(body) if enc == "gzip" else __import__("brotli").decompress(body)
    else:
        raw = body
    assert hashlib.sha256(raw).hexdigest() == entry["sha256"] and len(raw) == entry["bytes"]


@pytest.mark.parametrize("url", [
    f"/genlab/ort/{V}/VENDOR.json", f"/genlab/ort/{V}/LICENSE", f"/genlab/ort/{V}/{WASM}.gz",
    f"/genlab/ort/{V}/..%2fvendor.py", f"/genlab/ort/{V}/%2e%2e", f"/genlab/ort/{V}/..", "/genlab/ort/1.0.0/" + WASM,
    f"/genlab/ort/{V}/%2e%2e%2f%2e%2e%2fdecoders.py", "/genlab/ort/..%2f..%2f/" + WASM, f"/genlab/ort/{V}//etc/passwd",
    f"/genlab/ort/{V}/%2Fetc%2Fpasswd", f"/genlab/ort/{V}/ort.wasm.min.mjs%00", "/genlab/ort/" + WASM,
])
def test_runtime_route_reaches_nothing_else(client, url):
    r = client.get(url)
    assert r.status_code == 404, url


def test_decoder_is_served_after_its_sha256_matches_the_manifest(client, root):
    entry = next(f for f in read_manifest(root / "gan")["files"] if f["role"] == "decoder")
    r = client.get("/genlab/decoder/gan")
    assert r.status_code == 200 and sha256_bytes(r.content) == entry["sha256"] and len(r.content) == entry["bytes"]
    assert r.headers["etag"] == f'"{entry["sha256"]}"' and r.headers["cache-control"] == "no-cache"
    assert client.get("/genlab/decoder/gan", headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    meta = client.get("/genlab/decoder/gan/meta").json()
    assert meta["latent_size"] == 8 and meta["image_size"] == 28 and meta["channels"] == 1
    assert meta["output_range"] == [-1.0, 1.0] and meta["decoder"]["sha256"] == entry["sha256"]
    assert (meta["decoder"]["input"], meta["decoder"]["output"], meta["decoder"]["source"]) == ("z", "image", "checkpoint")
    assert meta["runtime"] == {"version": V, "base": f"/genlab/ort/{V}/", "module": "ort.wasm.min.mjs"}
    r = client.get(meta["decoder"]["url"])  # ?v=<sha256> names one exact file: cached for good
    assert r.status_code == 200 and r.headers["cache-control"] == IMMUTABLE
    assert client.get("/genlab/decoder/gan?v=" + "0" * 64).status_code == 409


def test_tampered_or_missing_decoder_is_refused(client, root):
    path = root / "gan" / "decoder.onnx"
    good = path.read_bytes()
    path.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))  # same size, one bit changed
    for url in ("/genlab/decoder/gan", "/genlab/decoder/gan/meta"):
        r = client.get(url)
        assert r.status_code == 409 and "does not match the sha256" in r.json()["error"]
        assert str(root) not in r.text
    path.unlink()
    r = client.get("/genlab/decoder/gan")
    assert r.status_code == 410 and "gone" in r.json()["error"]


def test_models_without_a_decoder(client, root, tmp_path):
    r = client.get("/genlab/decoder/vae-no-decoder/meta")
    assert r.status_code == 404 and "server decodes it" in r.json()["error"] and r.json()["decoder"] is None
    assert client.get("/genlab/decoder/clf").status_code == 404
    dec, how = export.ensure_decoder(root / "vae-no-decoder", cache_dir=tmp_path / "cache", dynamo=False)
    assert how.startswith("exported")
    meta = client.get("/genlab/decoder/vae-no-decoder/meta").json()
    assert meta["decoder"]["source"] == "cache" and meta["decoder"]["sha256"] == dec.sha256
    assert sha256_bytes(client.get("/genlab/decoder/vae-no-decoder").content) == dec.sha256
    dec.path.write_bytes(b"\0" + dec.path.read_bytes()[1:])  # a changed cache file is not served
    assert client.get("/genlab/decoder/vae-no-decoder").status_code == 404


@pytest.mark.parametrize("url", [
    "/genlab/decoder/..", "/genlab/decoder/%2e%2e", "/genlab/decoder/..%2f..%2fsecret.txt",
    "/genlab/decoder/%2e%2e%2f%2e%2e%2fsecret.txt", "/genlab/decoder//etc/passwd", "/genlab/decoder/%2Fetc%2Fpasswd",
    "/genlab/decoder/gan%2f..%2f..%2fsecret.txt", "/genlab/decoder/gan/../../secret.txt", "/genlab/decoder/nope",
    "/genlab/decoder/GAN", "/genlab/decoder/gan/decoder.onnx", "/genlab/decoder/gan/manifest.json",
    "/genlab/decoder/gan%00", "/genlab/secret.txt",
])
def test_decoder_route_reaches_nothing_else(client, url):
    r = client.get(url)
    assert r.status_code == 404, url
    assert b"not for the web" not in r.content


def test_symlinked_decoder_is_refused(client, root, tmp_path):
    outside = tmp_path / "outside.onnx"
    outside.write_bytes(b"secret bytes")
    folder = root / "gan"
    (folder / "decoder.onnx").unlink()
    os.symlink(outside, folder / "decoder.onnx")
    m = read_manifest(folder)
    next(f for f in m["files"] if f["role"] == "decoder").update(sha256=sha256_bytes(b"secret bytes"), bytes=12)
    write_manifest(folder, m)
    r = client.get("/genlab/decoder/gan")
    assert r.status_code == 404 and b"secret" not in r.content


@pytest.mark.server
def test_routes_on_a_real_gradio_server(root, tmp_path, monkeypatch):
    """Mounted through launch(app_kwargs={"routes": ...}): Gradio's middleware keeps our encoding and headers;
    with a login, decoders need it and the runtime does not."""
    import gradio as gr

    from server import free_port

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    routes = DecoderRoutes(Registry([root]), cache_dir=tmp_path / "cache").routes()
    with gr.Blocks() as demo:
        gr.Markdown("x")
    for auth in (None, ("u", "p")):
        port = free_port()
        demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, auth=auth,
                    app_kwargs={"routes": list(routes)})
        try:
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, timeout=30) as c:
                with c.stream("GET", f"/genlab/ort/{V}/{WASM}", headers={"Accept-Encoding": "gzip, br"}) as r:
                    body = b"".join(r.iter_raw())
                assert r.status_code == 200 and r.headers["content-encoding"] == "br"
                assert r.headers["content-type"] == "application/wasm" and r.headers["cache-control"] == IMMUTABLE
                assert hashlib.sha256(body).hexdigest() == INFO["files"][WASM]["br"]["sha256"]
                r = c.get("/genlab/decoder/gan")
                if auth is None:
                    assert r.status_code == 200 and sha256_bytes(r.content) == c.get(
                        "/genlab/decoder/gan/meta").json()["decoder"]["sha256"]
                else:
                    assert r.status_code == 401
                    assert c.post("/login", data={"username": "u", "password": "p"}).status_code == 200
                    assert c.get("/genlab/decoder/gan").status_code == 200
                assert c.get("/").status_code == 200  # Gradio's own routes still answer
        finally:
            demo.close()


def test_page_module_route_serves_decoder_js_only(client):
    r = client.get("/genlab/js/decoder.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert b"export function toUint8" in r.content and r.headers["cache-control"] == "no-cache"
    assert client.get("/genlab/js/decoder.js", headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    for name in ("vendor%2fonnxruntime-web%2fLICENSE", "..%2fdecoders.py", "%2e%2e", "decoder.js%00", "DECODER.JS"):
        assert client.get(f"/genlab/js/{name}").status_code == 404, name


def test_accept_encoding_parsing():
    assert decoders.accepted("gzip, deflate, br, zstd") == ["br", "gzip"]
    assert decoders.accepted("br;q=0, gzip;q=0.5") == ["gzip"]
    assert decoders.accepted("*") == ["br", "gzip"] and decoders.accepted("*;q=0, gzip") == ["gzip"]
    assert decoders.accepted("identity") == [] and decoders.accepted(None) == [] and decoders.accepted("gzip;q=0.0") == []
