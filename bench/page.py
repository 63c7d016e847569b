"""Explore drawn in the page (static/genlab.js + decoder.js), measured in real Chromium: per model a 3-s mouse
drag of the first direction slider (frames drawn in the page per second, ms per frame, requests between
mouse-down and mouse-up, the final image equal to the server's render), page weight on a first and a second
(cached) visit, and the time from opening the page to the first page-drawn frame.

    python -m bench.page [--models mnist-dcgan,mnist-vae] [--seconds 3]   ->  bench/results/page.json

The app runs in this process (genlab.testing.running_app: the production launch settings and decoder routes),
so the server's reference image comes from the same handlers the page talks to.
"""
from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time

import numpy as np

from bench.common import MODELS, machine_info, write_result
from bench.browser import CHROMIUM, FLAGS

READY = "() => ((document.querySelector('#genlab-readout-box') || {}).innerText || '').includes('your browser')"
FRAMES = "() => window.__genlabDrag ? window.__genlabDrag.frameTimes.length : 0"


def visit(browser_ctx, url: str, model: str) -> tuple:
    """Open ``url`` on Explore and wait for the page's decoder; one drag step then gives the first page frame.
    Returns (page, bytes transferred, seconds to the first page-drawn frame)."""
    pg = browser_ctx.new_page()
    done = []
    pg.on("requestfinished", lambda r: done.append(r))
    t0 = time.perf_counter()
    pg.goto(f"{url}?model={model}&seed=1", wait_until="load")
    pg.get_by_role("tab", name="Explore").click()
    pg.wait_for_function(READY, timeout=120000)
    box = pg.locator("#dir-0 input[type=range]").bounding_box()
    y = box["y"] + box["height"] / 2
    n = pg.evaluate(FRAMES)
    pg.mouse.move(box["x"] + box["width"] / 2, y)
    pg.mouse.down()
    pg.mouse.move(box["x"] + box["width"] * 0.6, y)
    pg.wait_for_function(f"(n) => ({FRAMES})() > n", arg=n, timeout=30000)
    first_frame_s = time.perf_counter() - t0
    pg.mouse.move(box["x"] + box["width"] / 2, y)  # back to 0: the position stays at the seed's latent
    pg.mouse.up()
    pg.wait_for_timeout(1500)
    size = 0
    for r in done:
        try:
            s = r.sizes()
            size += s["responseBodySize"] + s["responseHeadersSize"]
        except Exception:  # noqa: BLE001 - a request torn down with its page
            pass
    return pg, size, first_frame_s


def quiet(pg, requests, ms=1500, limit=60):
    for _ in range(int(limit * 1000 / ms)):
        n = len(requests)
        pg.wait_for_timeout(ms)
        if len(requests) == n:
            return


def drag(pg, seconds: float, move_hz: float = 60.0) -> dict:
    """A real mouse drag of #dir-0 over ``seconds``: middle -> 95% -> 5% -> 35% of the track."""
    requests = []
    pg.on("request", lambda r: requests.append(r.url))
    quiet(pg, requests)
    box = pg.locator("#dir-0 input[type=range]").bounding_box()
    y = box["y"] + box["height"] / 2
    path = [(0.0, 0.5), (0.3, 0.95), (0.85, 0.05), (1.0, 0.35)]

    def at(f):
        for (f0, a), (f1, b) in zip(path, path[1:]):
            if f <= f1:
                return a + (b - a) * (f - f0) / (f1 - f0)
        return path[-1][1]

    pg.mouse.move(box["x"] + box["width"] * 0.5, y)
    pg.mouse.down()
    requests.clear()
    t_start = pg.evaluate("() => performance.now()")
    w0, moves = time.perf_counter(), 0
    while (el := time.perf_counter() - w0) < seconds:
        steps = max(1, min(10, int(el * move_hz) - moves))
        pg.mouse.move(box["x"] + box["width"] * at(el / seconds), y, steps=steps)
        moves += steps
        left = w0 + moves / move_hz - time.perf_counter()
        if left > 0:
            time.sleep(left)
    t_end = pg.evaluate("() => performance.now()")
    during = list(requests)
    pg.mouse.up()
    frames = [t for t in pg.evaluate("() => window.__genlabDrag.frameTimes") if t_start <= t <= t_end]
    ms = pg.evaluate("() => window.__genlabDrag.stat.ms")
    secs = (t_end - t_start) / 1000
    value = float(pg.locator("#dir-0 input[type=range]").input_value())
    return {"seconds": round(secs, 3), "mouse_moves": moves, "frames_drawn": len(frames),
            "frames_per_s": round(len(frames) / secs, 1), "ms_per_frame_mean": round(float(np.mean(ms)), 2) if ms
            else None, "ms_per_frame_p95": round(float(np.percentile(ms, 95)), 2) if ms else None,
            "requests_during_drag": len(during), "where": pg.evaluate("() => window.__genlabDrag.stat.where"),
            "final_value": value}


def final_image_equal(pg, ui, model: str, value: float) -> bool:
    from PIL import Image

    pg.wait_for_function("() => { const c = document.querySelector('#explore-drag-preview');"
                         " return !c || c.style.display === 'none'; }", timeout=30000)
    pg.wait_for_timeout(1000)
    src = pg.locator("#explore-image img").first.get_attribute("src")
    shown = np.asarray(Image.open(io.BytesIO(pg.request.get(src).body())))
    base, method = ui.explore.select_model(model, 1)[0], ui.explore.methods(model)[0][1]
    expected = ui.explore.explore(model, base, method, value, *[0] * 7, *[0] * 4, 0, 0)
    return bool(np.array_equal(shown, expected))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from genlab.testing import running_app

    machine = machine_info()
    out = {"models": {}, "page_weight": {}, "note": "Chromium headless, one WASM thread; the app in this process"}
    with tempfile.TemporaryDirectory() as tmp, running_app(tmp) as (url, ui), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        models = [m for m in args.models.split(",") if m in ui.ex.model_ids()]
        ctx = browser.new_context(viewport={"width": 1280, "height": 1100})
        pg, first_bytes, first_s = visit(ctx, url, models[0])
        pg.close()
        pg, second_bytes, second_s = visit(ctx, url, models[0])
        pg.close()
        out["page_weight"] = {"model": models[0], "first_visit_bytes": first_bytes, "second_visit_bytes": second_bytes,
                              "first_page_frame_s_first_visit": round(first_s, 2),
                              "first_page_frame_s_second_visit": round(second_s, 2)}
        print("page weight", out["page_weight"], flush=True)
        pg = ctx.new_page()
        pg.goto(f"{url}?model={models[0]}&seed=1", wait_until="load")
        pg.get_by_role("tab", name="Explore").click()
        pg.wait_for_function(READY, timeout=120000)
        out["sliders_in_dom"] = pg.evaluate("(ids) => ids.map((i) => !!document.querySelector('#' + i + "
                                            "' input[type=range]'))", ["dir-7", "raw-0", "pick-dim", "pick-value"])
        print("sliders in the DOM (folded accordions)", out["sliders_in_dom"], flush=True)
        pg.close()
        for model in models:
            pg, _, _ = visit(ctx, url, model)
            res = drag(pg, args.seconds)
            res["final_image_equals_server"] = final_image_equal(pg, ui, model, res["final_value"])
            out["models"][model] = res
            print(model, res, flush=True)
            pg.close()
        browser.close()
    print("wrote", write_result("page", out, machine))
    return 0


if __name__ == "__main__":
    sys.exit(main())
