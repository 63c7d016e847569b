"""Explore drawn in the page (static/genlab.js + decoder.js) in real Chromium: a drag with zero requests between
mouse-down and mouse-up that draws every step, parity of the page's composed + decoded pixels with the server's
render for every shipped generative model and direction method, the fallback with the runtime blocked, and the
readout and its setting."""
import html
import json
import os
import re

import numpy as np
import pytest

from genlab.explore import ExploreRequest
from genlab.ui.common import N_DIRS, N_RAW
from test_browser import CHROMIUM, FLAGS, app, browser, image_pixels, open_tab, wait_image  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.server,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium not installed")]
N_POSITIONS = 20
READOUT = "() => (document.querySelector('#genlab-readout-box') || {}).innerText || ''"
CANVAS = """() => { const c = document.querySelector('#explore-drag-preview');
    return c ? Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data) : null; }"""


def new_page(browser, block_runtime=False, **ctx_args):  # noqa: F811
    ctx = browser.new_context(viewport={"width": 1280, "height": 1100}, **ctx_args)
    if block_runtime:
        ctx.route("**/genlab/ort/**", lambda route: route.abort())
    pg = ctx.new_page()
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    return ctx, pg


def open_explore(pg, url, model, seed):
    pg.goto(f"{url}?model={model}&seed={seed}", wait_until="load")
    open_tab(pg, "Explore")
    return wait_image(pg, "#explore-image")


def quiet(pg, requests, ms=1500, limit=90):
    """Wait until the page has sent no request for ``ms`` (at most ``limit`` seconds), then forget them."""
    for _ in range(int(limit * 1000 / ms)):
        n = len(requests)
        pg.wait_for_timeout(ms)
        if len(requests) == n:
            break
    requests.clear()


def slider_box(pg, elem_id):
    box = pg.locator(f"#{elem_id} input[type=range]").bounding_box()
    return box, box["y"] + box["height"] / 2


def test_page_drag_sends_nothing_and_draws_every_step(app, browser):  # noqa: F811
    url, ui = app
    ctx, pg = new_page(browser)
    first = open_explore(pg, url, "mnist-dcgan", 3)
    pg.wait_for_function(f"() => ({READOUT})().includes('your browser')", timeout=60000)
    requests = []
    pg.on("request", lambda r: requests.append(r.url))
    box, y = slider_box(pg, "dir-0")
    quiet(pg, requests)  # the views' refreshes after the page opened are not part of the drag
    pg.mouse.move(box["x"] + box["width"] / 2, y)
    pg.mouse.down()
    last, changed = None, 0
    for k in range(1, 21):
        frames = pg.evaluate("() => window.__genlabDrag.frames")
        pg.mouse.move(box["x"] + box["width"] * (0.5 + 0.4 * k / 20), y)
        pg.wait_for_function("(n) => window.__genlabDrag.frames > n", arg=frames, timeout=10000)
        pixels = pg.evaluate(CANVAS)
        changed += pixels != last
        last = pixels
    value = float(pg.locator("#dir-0 input[type=range]").input_value())
    during = list(requests)
    pg.mouse.up()
    assert not during, f"requests during the drag: {during}"
    assert changed == 20, f"the canvas changed on {changed} of 20 steps"
    pg.wait_for_function("() => document.querySelector('#explore-drag-preview').style.display === 'none'",
                         timeout=30000)
    wait_image(pg, "#explore-image", not_src=first)
    base = ui.explore.select_model("mnist-dcgan", 3)[0]
    expected = ui.explore.explore("mnist-dcgan", base, "ganspace", value, *[0] * 7, *[0] * 4, 0, 0)
    assert np.array_equal(image_pixels(pg, "#explore-image"), expected), "the final image is not the server's"
    drawn = np.array(last, dtype=np.uint8).reshape(expected.shape[0], expected.shape[1], 4)[..., 0]
    assert np.abs(drawn.astype(int) - expected[..., 0].astype(int) if expected.ndim == 3
                  else drawn.astype(int) - expected.astype(int)).max() <= 1
    readout = pg.evaluate(READOUT)
    assert "your browser" in readout and "frames/s" in readout and "ms per frame" in readout, readout
    print("readout:", readout)
    assert not pg.errors, pg.errors
    ctx.close()


def positions(rng, d: int, k: int):
    """Random slider positions: weights on the slider grid for the method's k sliders, raw offsets, a pick."""
    for _ in range(N_POSITIONS):
        w = [round(float(rng.integers(-60, 61)) * 0.05, 2) if i < k else 0.0 for i in range(N_DIRS)]
        raw = [round(float(rng.integers(-60, 61)) * 0.05, 2) if i < d and rng.random() < 0.5 else 0.0
               for i in range(N_RAW)]
        pick = (int(rng.integers(0, d)), round(float(rng.integers(-60, 61)) * 0.05, 2) if rng.random() < 0.5 else 0.0)
        yield w, raw, pick


PARITY = """async ({html, rows}) => {
  const S = window.__genlabDrag;
  const holder = document.createElement('div'); holder.innerHTML = html;
  const data = S.parseData(holder.firstElementChild);
  const dec = await import('/genlab/js/decoder.js');
  const model = await dec.openModel(data.model);
  const c = document.createElement('canvas');
  const g = c.getContext('2d', {willReadFrequently: true});
  const out = [];
  for (const [vals, pickDim] of rows) {
    const floats = await model.decode(S.composeLatent(data, vals, pickDim), 1);
    dec.drawTo(c, dec.toUint8(floats, model.meta.output_range), model.meta, 0);
    out.push(Array.from(g.getImageData(0, 0, c.width, c.height).data));
  }
  return {out, channels: model.meta.channels};
}"""


def test_page_pixels_equal_the_servers_for_every_model_and_method(app, browser):  # noqa: F811
    url, ui = app
    ctx, pg = new_page(browser)
    pg.goto(url, wait_until="load")
    pg.wait_for_function("() => window.__genlabDrag && window.__genlabDrag.composeLatent")
    rng = np.random.default_rng(0)
    models = [m for m in ui.ex.model_ids() if ui.explore.methods(m)]
    assert {"mnist-dcgan", "mnist-vae", "mnist-vae-2d"} <= set(models)
    report = {}
    for model in models:
        d = ui.ex.generative(model).manifest.latent_size
        base = ui.explore.seed_latent(model, 1)
        for _, method in ui.explore.methods(model):
            page_html = ui.explore.page_data(model, base, method)
            k = json.loads(html.unescape(re.search(r'data-json="([^"]*)"', page_html).group(1)))["k"]
            rows, expected = [], []
            for w, raw, pick in positions(rng, d, k):
                rows.append([[*w, *raw, pick[1]], pick[0]])
                req = ExploreRequest(model, base, method, tuple(w), tuple(raw), *pick)
                expected.append(np.asarray(ui.ex.explore(req).image))
            got = pg.evaluate(PARITY, {"html": page_html, "rows": rows})
            equal = total = 0
            for exp, flat in zip(expected, got["out"]):
                rgba = np.array(flat, dtype=np.uint8).reshape(exp.shape[0], exp.shape[1], 4)
                page_px = rgba[..., :3] if exp.ndim == 3 and exp.shape[2] == 3 else rgba[..., 0]
                exp_px = exp[..., 0] if exp.ndim == 3 and exp.shape[2] == 1 else exp
                diff = np.abs(page_px.astype(int) - exp_px.astype(int))
                assert diff.max() <= 1, f"{model}/{method}: a pixel {diff.max()} grey levels off"
                equal += int((diff == 0).sum())
                total += diff.size
            report[f"{model}/{method}"] = equal / total
    for key, share in report.items():
        print(f"parity {key}: {N_POSITIONS} positions, {100 * share:.4f}% of pixels exactly equal, max diff <= 1")
    assert not pg.errors, pg.errors
    ctx.close()


def test_runtime_blocked_falls_back_to_the_server(app, browser):  # noqa: F811
    url, ui = app
    ctx, pg = new_page(browser, block_runtime=True)
    first = open_explore(pg, url, "mnist-vae", 5)
    pg.wait_for_function(f"() => ({READOUT})().includes('no decoder here')", timeout=60000)
    assert "the server" in pg.evaluate(READOUT)
    box, y = slider_box(pg, "dir-1")
    pg.mouse.move(box["x"] + box["width"] / 2, y)
    pg.mouse.down()
    for k in range(1, 16):
        pg.mouse.move(box["x"] + box["width"] * (0.5 + 0.4 * k / 15), y)
        pg.wait_for_timeout(30)
    pg.mouse.up()
    value = float(pg.locator("#dir-1 input[type=range]").input_value())
    wait_image(pg, "#explore-image", not_src=first)
    base, method = ui.explore.select_model("mnist-vae", 5)[0], ui.explore.methods("mnist-vae")[0][1]
    expected = ui.explore.explore("mnist-vae", base, method, 0, value, *[0] * 6, *[0] * 4, 0, 0)
    pg.wait_for_function("() => !document.querySelector('#explore-drag-preview') || "
                         "document.querySelector('#explore-drag-preview').style.display === 'none'", timeout=30000)
    pg.wait_for_timeout(500)
    assert np.array_equal(image_pixels(pg, "#explore-image"), expected)
    assert "the server" in pg.evaluate(READOUT)
    ctx.close()


def test_setting_turns_page_drawing_off_and_persists(app, browser):  # noqa: F811
    url, _ = app
    ctx, pg = new_page(browser)
    open_explore(pg, url, "mnist-vae-2d", 2)
    pg.wait_for_function(f"() => ({READOUT})().includes('your browser')", timeout=60000)
    pg.locator("#draw-in-browser").uncheck()
    assert "the server" in pg.evaluate(READOUT) and "off" in pg.evaluate(READOUT)
    open_explore(pg, url, "mnist-vae-2d", 2)  # a second visit keeps the setting
    pg.wait_for_function(f"() => ({READOUT})().includes('is off')", timeout=30000)
    assert not pg.locator("#draw-in-browser").is_checked()
    pg.locator("#draw-in-browser").check()
    pg.wait_for_function(f"() => ({READOUT})().includes('your browser')", timeout=60000)
    ctx.close()


def drag_to(pg, elem_id, frac, steps=8):
    box, y = slider_box(pg, elem_id)
    pg.mouse.move(box["x"] + box["width"] / 2, y)
    pg.mouse.down()
    for k in range(1, steps + 1):
        pg.mouse.move(box["x"] + box["width"] * (0.5 + (frac - 0.5) * k / steps), y)
        pg.wait_for_timeout(40)
    pg.mouse.up()
    return float(pg.locator(f"#{elem_id} input[type=range]").input_value())


def test_folded_sliders_values_come_from_the_server(app, browser):  # noqa: F811
    """Gradio does not render a folded accordion's sliders until it is opened: a raw offset set there (the server
    sends the sliders' values with the page data after each release), then folded away, still counts."""
    url, ui = app
    ctx, pg = new_page(browser)
    open_explore(pg, url, "mnist-vae", 4)
    pg.wait_for_function(f"() => ({READOUT})().includes('your browser')", timeout=60000)
    pg.get_by_text("Single latent numbers").click()
    raw0 = drag_to(pg, "raw-0", 0.85)
    requests = []
    pg.on("request", lambda r: requests.append(r.url))
    quiet(pg, requests)  # the release's render, commit and page data
    pg.get_by_text("Single latent numbers").click()  # folded again (once opened, Gradio may keep its sliders)
    box, y = slider_box(pg, "dir-0")
    pg.mouse.move(box["x"] + box["width"] / 2, y)
    pg.mouse.down()
    frames = pg.evaluate("() => window.__genlabDrag.frames")
    pg.mouse.move(box["x"] + box["width"] * 0.2, y)
    pg.wait_for_function("(n) => window.__genlabDrag.frames > n", arg=frames, timeout=10000)
    pixels = pg.evaluate(CANVAS)
    w0 = float(pg.locator("#dir-0 input[type=range]").input_value())
    pg.mouse.up()
    base, method = ui.explore.select_model("mnist-vae", 4)[0], ui.explore.methods("mnist-vae")[0][1]
    expected = ui.explore.explore("mnist-vae", base, method, w0, *[0] * 7, raw0, *[0] * 3, 0, 0)
    drawn = np.array(pixels, dtype=np.uint8).reshape(expected.shape[0], expected.shape[1], 4)[..., 0]
    exp = expected[..., 0] if expected.ndim == 3 else expected
    assert raw0 > 1 and np.abs(drawn.astype(int) - exp.astype(int)).max() <= 1
    ctx.close()
