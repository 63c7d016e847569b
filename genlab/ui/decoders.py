"""HTTP routes for decoding in the page: the vendored onnxruntime-web and each model's verified ONNX decoder.

- ``GET /genlab/ort/<version>/<file>``: one of the three vendored runtime files (genlab/ui/vendor.py), from
  memory, pre-compressed (``br`` or ``gzip`` as the client accepts, else decompressed), with its MIME type and
  ``Cache-Control: public, max-age=31536000, immutable`` (the version is in the URL).
- ``GET /genlab/decoder/<model id>``: that model's ``decoder.onnx`` (or the one exported into the user cache by
  ``genlab.export.ensure_decoder``), served only after its bytes match the sha256 its manifest (or cache
  sidecar) lists: a changed file gives 409, a listed file gone missing 410, an unknown id or no decoder 404.
- ``GET /genlab/decoder/<model id>/meta``: JSON the page needs (sizes, output range, decoder sha256, names).
- ``GET /genlab/js/decoder.js``: the page-side module (genlab/ui/static/decoder.js), revalidated by ETag.

Nothing else on disk is reachable: runtime names are looked up in a fixed table, model ids must match the
registry's id pattern and name a registry entry, and decoder paths come from validated manifests only.
Decoder routes follow the app's login (Gradio ``auth``) when it has one; the runtime is public code.
Routes are plain Starlette routes: pass ``DecoderRoutes(registry).routes()`` to Gradio as
``launch(app_kwargs={"routes": ...})``, or to any Starlette/FastAPI app. No torch import at module level.
"""
from __future__ import annotations

import gzip
import hashlib
import inspect
import json
import re
import threading
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from genlab.ui.vendor import ENCODINGS, ENTRY, VENDOR_DIR

ORT_PREFIX = "/genlab/ort"
JS_PREFIX = "/genlab/js"
STATIC_DIR = Path(__file__).resolve().parent / "static"
PAGE_MODULES = ("decoder.js",)  # the page-side modules served at /genlab/js/<name>: a fixed list
DECODER_PREFIX = "/genlab/decoder"
ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")  # genlab.checkpoints.ID_RE (tests check they agree)
MIME = {".mjs": "text/javascript; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".wasm": "application/wasm"}
IMMUTABLE = "public, max-age=31536000, immutable"
ONNX_MIME = "application/octet-stream"


class Refused(Exception):
    """A request that gets an error status; ``message`` is safe to show (no server paths)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def accepted(header: str | None) -> list[str]:
    """Content codings the client accepts with q > 0, in our order of preference (br, gzip)."""
    q: dict[str, float] = {}
    for part in (header or "").split(","):
        name, _, params = part.strip().partition(";")
        m = re.search(r"q\s*=\s*([0-9.]+)", params)
        try:
            q[name.strip().lower()] = float(m.group(1)) if m else 1.0
        except ValueError:
            q[name.strip().lower()] = 0.0
    star = q.get("*", 0.0)
    return [enc for enc in ENCODINGS if q.get(enc, star) > 0]


class Runtime:
    """The vendored runtime files in memory, each variant checked against VENDOR.json once, on first use."""

    def __init__(self, folder: Path = VENDOR_DIR):
        self.folder = folder
        self._lock = threading.Lock()
        self._files: dict[str, dict[str, bytes]] | None = None
        self.info = json.loads((folder / "VENDOR.json").read_text(encoding="utf-8"))
        self.version = self.info["version"]

    @property
    def base_url(self) -> str:
        return f"{ORT_PREFIX}/{self.version}/"

    def _load(self) -> dict[str, dict[str, bytes]]:
        with self._lock:
            if self._files is None:
                files = {}
                for name, entry in self.info["files"].items():
                    files[name] = {}
                    for enc in ENCODINGS:
                        if enc not in entry:
                            continue
                        data = (self.folder / entry[enc]["file"]).read_bytes()
                        if sha256(data) != entry[enc]["sha256"]:
                            raise Refused(500, f"vendored {entry[enc]['file']} does not match VENDOR.json")
                        files[name][enc] = data
                self._files = files
            return self._files

    def variant(self, name: str, encodings: list[str]) -> tuple[bytes, str | None]:
        """(body, Content-Encoding or None) for a runtime file; decompresses gzip when nothing else fits."""
        files = self._load()
        if name not in files:
            raise Refused(404, "no such runtime file")
        for enc in encodings:
            if enc in files[name]:
                return files[name][enc], enc
        with self._lock:
            raw = files[name].get("identity")
            if raw is None:
                raw = gzip.decompress(files[name]["gzip"])
                if sha256(raw) != self.info["files"][name]["sha256"]:
                    raise Refused(500, f"vendored {name} does not match VENDOR.json")
                files[name]["identity"] = raw  # kept: the next such client needs it too
        return raw, None


async def _authorized(request: Request) -> bool:
    """True when the app has no login, or the request carries a Gradio session (same check as its routes)."""
    app = request.app
    auth, dependency = getattr(app, "auth", None), getattr(app, "auth_dependency", None)
    if auth is None and dependency is None:
        return True
    if dependency is not None:
        user = dependency(request)
        return (await user if inspect.isawaitable(user) else user) is not None
    cookie_id = getattr(app, "cookie_id", "")
    token = request.cookies.get(f"access-token-{cookie_id}") or request.cookies.get(f"access-token-unsecure-{cookie_id}")
    return getattr(app, "tokens", {}).get(token) is not None


class DecoderRoutes:
    """The route set; ``registry`` is a ``genlab.registry.Registry``, ``cache_dir`` the ensure_decoder cache."""

    def __init__(self, registry, cache_dir: Path | None = None, runtime: Runtime | None = None):
        self.registry = registry
        self.cache_dir = cache_dir
        self.runtime = runtime or Runtime()

    def routes(self) -> list[Route]:
        return [
            Route(ORT_PREFIX + "/{version}/{name}", self.ort, methods=["GET"]),
            Route(JS_PREFIX + "/{name}", self.page_module, methods=["GET"]),
            Route(DECODER_PREFIX + "/{model_id}/meta", self.meta, methods=["GET"]),
            Route(DECODER_PREFIX + "/{model_id}", self.decoder, methods=["GET"]),
        ]

    async def ort(self, request: Request) -> Response:
        version, name = request.path_params["version"], request.path_params["name"]
        try:
            if version != self.runtime.version:
                raise Refused(404, f"this app serves onnxruntime-web {self.runtime.version} only")
            body, enc = self.runtime.variant(name, accepted(request.headers.get("accept-encoding")))
        except Refused as exc:
            return JSONResponse({"error": exc.message}, exc.status)
        headers = {"Cache-Control": IMMUTABLE, "Vary": "Accept-Encoding", "X-Content-Type-Options": "nosniff",
                   "ETag": f'"{sha256(body)[:32]}"'}
        if enc:
            headers["Content-Encoding"] = enc
        return Response(body, headers=headers, media_type=MIME[Path(name).suffix])

    async def page_module(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in PAGE_MODULES:
            return JSONResponse({"error": "no such module"}, 404)
        body = (STATIC_DIR / name).read_bytes()
        etag = f'"{sha256(body)[:32]}"'
        headers = {"ETag": etag, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(body, headers=headers, media_type=MIME[".js"])

    def resolve(self, model_id: str):
        """(Decoder, verified bytes, manifest) for a registry model, or Refused(status, why)."""
        from genlab import export  # torch-side; loaded here so that this module imports without torch
        from genlab.checkpoints import CheckpointError, parse_manifest

        if not ID_RE.fullmatch(model_id):
            raise Refused(404, "no such model")
        try:
            entry = self.registry.entry(model_id)
            manifest = parse_manifest(entry.folder)
        except (KeyError, CheckpointError):
            raise Refused(404, f"no model {model_id!r} in the registry") from None
        if manifest.id != model_id or not manifest.latent_size:
            raise Refused(404, f"{model_id} has no decoder: it is not a generative model")
        listed = manifest.file("decoder")
        if listed is not None and (entry.folder / listed.path).is_file():
            try:
                found, why = export.shipped_decoder(entry.folder, manifest)
            except CheckpointError:
                raise Refused(409, f"{model_id}: decoder.onnx does not match the sha256 in its manifest "
                              "(changed or corrupted since it was listed): refused") from None
            if found is not None:
                return found, found.path.read_bytes(), manifest
        elif listed is not None:
            raise Refused(410, f"{model_id}: its manifest lists {listed.path}, which is gone")
        cached = export.cached_decoder(manifest, Path(self.cache_dir) if self.cache_dir else export.default_cache_dir())
        if cached is None:
            raise Refused(404, f"{model_id} has no browser decoder yet: the server decodes it")
        return cached, cached.path.read_bytes(), manifest

    def _verified(self, model_id: str):
        found, data, manifest = self.resolve(model_id)
        if sha256(data) != found.sha256:  # the bytes we send are the bytes we checked
            raise Refused(409, f"{model_id}: decoder changed while being read: refused")
        return found, data, manifest

    async def decoder(self, request: Request) -> Response:
        model_id = request.path_params["model_id"]
        try:
            if not await _authorized(request):
                raise Refused(401, "log in first")
            found, data, _ = self._verified(model_id)
        except Refused as exc:
            return JSONResponse({"error": exc.message}, exc.status)
        etag = f'"{found.sha256}"'
        v = request.query_params.get("v")
        if v is not None and v != found.sha256:
            return JSONResponse({"error": f"{model_id}: the decoder changed; reload its meta"}, 409)
        cache = IMMUTABLE if v else "no-cache"  # ?v=<sha256> names one exact file
        headers = {"ETag": etag, "Cache-Control": cache, "X-Content-Type-Options": "nosniff"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(data, headers=headers, media_type=ONNX_MIME)

    async def meta(self, request: Request) -> Response:
        model_id = request.path_params["model_id"]
        try:
            if not await _authorized(request):
                raise Refused(401, "log in first")
            found, _, m = self._verified(model_id)
        except Refused as exc:
            return JSONResponse({"error": exc.message, "decoder": None}, exc.status)
        lo, hi = m.output_range
        return JSONResponse({
            "id": m.id, "latent_size": m.latent_size, "image_size": m.image_size, "channels": m.channels,
            "output_range": [lo, hi],
            "decoder": {"url": f"{DECODER_PREFIX}/{m.id}?v={found.sha256}", "sha256": found.sha256,
                        "bytes": found.bytes, "input": found.meta.get("input"), "output": found.meta.get("output"),
                        "opset": found.meta.get("opset"), "source": found.source},
            "runtime": {"version": self.runtime.version, "base": self.runtime.base_url, "module": ENTRY},
        }, headers={"Cache-Control": "no-cache"})
