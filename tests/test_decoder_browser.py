"""Page-side decoding in real Chromium: genlab/ui/static/decoder.js on the vendored onnxruntime-web.

A minimal page served by a tiny Starlette app (the real DecoderRoutes + uvicorn) decodes 20 seeded latents per
shipped model, draws each on a canvas and reads the canvas's own pixels (getImageData, not a screenshot); they
must equal the server's uint8 render (Engine.decode_uint8, what the PNG holds) within 1 grey level.
"""
from __future__ import annotations

import json
import os
import threading
import time

import numpy as np
import pytest
import torch
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from conftest import ARTIFACTS, REPO
from genlab.engine import Engine
from genlab.registry import Registry
from genlab.ui.decoders import DecoderRoutes
from server import free_port

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHIPPED = ["mnist-dcgan", "mnist-vae", "mnist-vae-2d"]
N = 20

pytestmark = [pytest.mark.browser, pytest.mark.server,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium not installed")]

PAGE = """<!doctype html><html><body><canvas id="c"></canvas><script type="module">
import * as decoder from "/genlab/js/decoder.js";
window.decoder = decoder;
window.ready = true;
</script></body></html>"""

OPEN = "async (id) => { window.model = await window.decoder.openModel(id); return window.model.meta; }"
# Decode every latent one by one (as a drag would), draw it, read the canvas back; also times each frame.
DECODE_ALL = """async ({latents, d}) => {
  const canvas = document.getElementById("c");
  const ctx = canvas.getContext("2d", {willReadFrequently: true});
  const out = [], ms = [];
  for (let i = 0; i < latents.length / d; i++) {
    ms.push(await window.decoder.render(window.model, new Float32Array(latents.slice(i * d, (i + 1) * d)), canvas));
    out.push(Array.from(ctx.getImageData(0, 0, canvas.width, canvas.height).data));
  }
  return {out, ms};
}"""


@pytest.fixture(scope="module")
def base_url(tmp_path_factory):
    import uvicorn

    routes = DecoderRoutes(Registry([REPO / "checkpoints"]), cache_dir=tmp_path_factory.mktemp("cache")).routes()
    app = Starlette(routes=[Route("/", lambda r: HTMLResponse(PAGE)), *routes])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def page(base_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        pg = browser.new_page()
        pg.errors = []
        pg.on("pageerror", lambda e: pg.errors.append(str(e)))
        pg.requests = []
        pg.on("request", lambda r: pg.requests.append(r.url))
        pg.goto(base_url + "/")
        pg.wait_for_function("window.ready === true")
        yield pg
        browser.close()


@pytest.mark.parametrize("model_id", SHIPPED)
def test_page_pixels_equal_the_server_render(page, model_id):
    registry = Registry([REPO / "checkpoints"])
    ckpt = registry.get(model_id)
    d = ckpt.manifest.latent_size
    z = torch.randn(N, d, generator=torch.Generator().manual_seed(2024))
    want = Engine().decode_uint8(ckpt, z)  # [N, H, W, C]: the server's render (its PNG holds these bytes)
    n_before = len(page.requests)
    t0 = time.perf_counter()
    meta = page.evaluate(OPEN, model_id)
    open_s = time.perf_counter() - t0
    fetched = page.requests[n_before:]
    res = page.evaluate(DECODE_ALL, {"latents": z.flatten().tolist(), "d": d})
    assert page.errors == [] and meta["latent_size"] == d
    assert page.requests[n_before + len(fetched):] == []  # frames cost no request at all
    got = np.array(res["out"], np.int32).reshape(N, want.shape[1], want.shape[2], 4)
    assert (got[..., 3] == 255).all()
    diff = np.abs(got[..., : want.shape[3]] - want.astype(np.int32))
    equal = float((diff == 0).mean())
    ARTIFACTS.mkdir(exist_ok=True)
    stats = {"model": model_id, "latents": N, "max_level_diff": int(diff.max()), "exact_equal_share": equal,
             "pixels_off": int((diff > 0).sum()), "pixels": int(diff.size), "ms_per_frame_median": float(
                 np.median(res["ms"])), "ms_first_frame": res["ms"][0], "open_s": open_s,
             "requests_to_open": [u.split("/", 3)[-1] for u in fetched]}
    (ARTIFACTS / f"decoder_parity_{model_id}.json").write_text(json.dumps(stats, indent=2))
    print(stats)
    assert diff.max() <= 1 and equal > 0.999
    assert all("/genlab/" in u for u in fetched) and len(fetched) <= 5  # meta, decoder (+ runtime, once)


def test_page_uint8_conversion_equals_render_to_uint8_on_ties_and_edges(page):
    """toUint8 alone, on float32 values at and next to every rounding tie, out of range and infinite."""
    from genlab import render

    for lo, hi in ((-1.0, 1.0), (0.0, 1.0), (-0.5, 2.0)):
        scale = np.float32(255.0 / (hi - lo))
        ties = ((np.arange(-2, 258) + 0.5) / scale + np.float32(lo)).astype(np.float32)
        near = [np.nextafter(ties, np.float32(s * np.inf)) for s in (1, -1)]
        rand = np.random.default_rng(0).uniform(lo - 0.1, hi + 0.1, 2000).astype(np.float32)
        x = np.concatenate([ties, *near, rand, np.float32([np.inf, -np.inf, lo, hi, 0.0, -0.0])])
        want = render.to_uint8(torch.from_numpy(x).view(1, 1, 1, -1), (lo, hi)).ravel()
        text = [repr(float(v)).replace("inf", "Infinity") for v in x]  # exact: JSON has no inf, floats print exactly
        got = page.evaluate("([v, r]) => Array.from(window.decoder.toUint8(new Float32Array(v.map(Number)), r))",
                            [text, [lo, hi]])
        assert np.array_equal(np.array(got, np.uint8), want), (lo, hi)
