"""Browser measurements with Debian chromium driven by playwright (never a downloaded browser).

Latency is measured inside the page: a JS loop sets the range input's value and dispatches an ``input``
event (what a drag step does), a MutationObserver sees the output ``<img>`` get a new ``src`` and the
image's ``load`` event ends the sample. The drag test moves the real mouse (``mouse.down/move/up``).
"""
from __future__ import annotations

import io
import os
import time

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# args: [sliderSel, imgSel, values, gapMs, timeoutMs] -> per value: ms from input event to new image load (null: none)
MEASURE_JS = """
async ([sliderSel, imgSel, values, gapMs, timeoutMs]) => {
  const range = document.querySelector(sliderSel + ' input[type=range]');
  if (!range) throw new Error('no range input under ' + sliderSel);
  const box = document.querySelector(imgSel);
  if (!box) throw new Error('no element ' + imgSel);
  const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;
  const out = [];
  for (const v of values) {
    const old = box.querySelector('img') ? box.querySelector('img').src : '';
    let t0 = 0;
    const done = new Promise(resolve => {
      let finished = false, to = null;
      const finish = (ok) => {
        if (finished) return;
        finished = true; obs.disconnect(); clearTimeout(to);
        resolve(ok ? performance.now() - t0 : null);
      };
      const check = () => {
        const img = box.querySelector('img');
        if (img && img.src && img.src !== old && !img.dataset.benchWatch) {
          img.dataset.benchWatch = '1';
          img.addEventListener('load', () => { delete img.dataset.benchWatch; finish(true); }, {once: true});
          img.addEventListener('error', () => { delete img.dataset.benchWatch; finish(false); }, {once: true});
        }
      };
      const obs = new MutationObserver(check);
      obs.observe(box, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
      to = setTimeout(() => finish(false), timeoutMs);
    });
    t0 = performance.now();
    setter.call(range, String(v));
    range.dispatchEvent(new Event('input', {bubbles: true}));
    out.push(await done);
    await new Promise(r => setTimeout(r, gapMs));
  }
  return out;
}
"""

# Records every new image load of imgSel (timestamps in ms, performance.now()) in window.__benchLoads.
WATCH_JS = """
([imgSel]) => {
  const box = document.querySelector(imgSel);
  window.__benchLoads = [];
  window.__benchSrcs = [];
  let last = box.querySelector('img') ? box.querySelector('img').src : '';
  const check = () => {
    const img = box.querySelector('img');
    if (img && img.src && img.src !== last) {
      last = img.src;
      window.__benchSrcs.push([performance.now(), img.src]);
      img.addEventListener('load', () => window.__benchLoads.push(performance.now()), {once: true});
    }
  };
  window.__benchObs && window.__benchObs.disconnect();
  window.__benchObs = new MutationObserver(check);
  window.__benchObs.observe(box, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
}
"""


def available() -> bool:
    return os.path.exists(CHROMIUM)


class Browser:
    """One chromium for the whole run; ``page(url)`` opens a fresh context."""

    def __init__(self):
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        self.browser = self._pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        self.contexts = []

    def page(self, url: str, wait_selector: str = "#bench-floor input[type=range]", timeout_ms: int = 60000):
        ctx = self.browser.new_context(viewport={"width": 1280, "height": 1100})
        self.contexts.append(ctx)
        pg = ctx.new_page()
        pg.errors = []  # JS exceptions and console errors
        pg.not_found = []  # resources answered 4xx/5xx (console shows them as errors too)
        pg.on("pageerror", lambda e: pg.errors.append(str(e)))
        pg.on("console", lambda m: pg.errors.append(m.text)
              if m.type == "error" and "Failed to load resource" not in m.text else None)
        pg.on("response", lambda r: pg.not_found.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        pg.goto(url)
        if wait_selector:
            pg.wait_for_selector(wait_selector, state="attached", timeout=timeout_ms)
        return pg

    def close(self) -> None:
        for c in self.contexts:
            try:
                c.close()
            except Exception:  # noqa: BLE001 - closing best effort
                pass
        self.browser.close()
        self._pw.stop()


def open_explore(page) -> None:
    page.get_by_role("tab", name="Explore").click()
    page.wait_for_selector("#dir-0 input[type=range]", state="visible", timeout=30000)
    page.wait_for_function(
        "() => { const i = document.querySelector('#explore-image img'); return i && i.complete && i.naturalWidth > 0; }",
        timeout=30000)


def measure(page, slider_sel: str, img_sel: str, values, gap_ms: int = 30, timeout_ms: int = 5000) -> list:
    """Seconds from each input event to the new image's load event (None: no new image in time)."""
    page.locator(img_sel).scroll_into_view_if_needed()
    ms = page.evaluate(MEASURE_JS, [slider_sel, img_sel, list(values), gap_ms, timeout_ms])
    return [None if v is None else v / 1000.0 for v in ms]


def image_array(page, img_sel: str):
    import numpy as np
    from PIL import Image

    src = page.locator(f"{img_sel} img").first.get_attribute("src")
    if src.startswith("data:"):
        import base64

        return np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))))
    return np.asarray(Image.open(io.BytesIO(page.request.get(src).body())))


def settle(page, quiet_ms: int = 800, timeout_s: float = 15.0) -> None:
    """Wait until no new image src appeared for ``quiet_ms`` (the last queued render landed)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        n = page.evaluate("() => window.__benchSrcs.length")
        page.wait_for_timeout(quiet_ms)
        if page.evaluate("() => window.__benchSrcs.length") == n:
            loaded = page.evaluate("() => window.__benchLoads.length")
            if loaded >= n:
                return
    raise TimeoutError("the image never settled after the drag")


def drag(page, slider_sel: str, img_sel: str, number_sel: str, seconds: float = 3.0, move_hz: float = 60.0,
         preview: bool = True) -> dict:
    """A real mouse drag of the thumb over ``seconds``: from the middle out to 95% of the track, back to 5%,
    and on to 35% (a scrub across ~200 distinct values, more than the mouse's ``move_hz`` steps).

    Counts, during the drag, the server's images that loaded and the drag preview's frames (genlab.ui.drag;
    ``preview=False`` turns it off for a reference drag); returns updates/s, the final slider value and when
    the last image landed after release.
    """
    page.evaluate(WATCH_JS, [img_sel])
    page.evaluate("""(sel) => { window.__benchInputs = 0; const r = document.querySelector(sel + ' input[type=range]');
        if (!r.__benchCount) { r.__benchCount = true; r.addEventListener('input', () => window.__benchInputs++); } }""",
                  slider_sel)
    page.evaluate("(on) => { if (window.__genlabDrag) window.__genlabDrag.disabled = !on; }", preview)
    rng = page.locator(f"{slider_sel} input[type=range]")
    rng.scroll_into_view_if_needed()
    box = rng.bounding_box()
    y = box["y"] + box["height"] / 2
    x0 = box["x"] + box["width"] * 0.5
    path = [(0.0, 0.5), (0.3, 0.95), (0.85, 0.05), (1.0, 0.35)]  # (time fraction, track fraction)

    def at(f):
        for (f0, a), (f1, b) in zip(path, path[1:]):
            if f <= f1:
                return a + (b - a) * (f - f0) / (f1 - f0)
        return path[-1][1]

    page.mouse.move(x0, y)
    page.mouse.down()
    t_start = page.evaluate("() => performance.now()")
    w0 = time.perf_counter()
    moves, calls, period = 0, 0, 1.0 / move_hz
    while True:
        el = time.perf_counter() - w0
        if el >= seconds:
            break
        # a slow driver round trip must not lower the input rate: catch up with interpolated steps
        steps = max(1, min(10, int(el / period) - moves))
        page.mouse.move(box["x"] + box["width"] * at(el / seconds), y, steps=steps)
        moves += steps
        calls += 1
        left = w0 + moves * period - time.perf_counter()
        if left > 0:
            time.sleep(left)
    t_end = page.evaluate("() => performance.now()")
    page.mouse.up()
    settle(page)
    if preview:
        try:
            page.wait_for_function("() => { const c = document.querySelector('#explore-drag-preview');"
                                   " return !c || c.style.display === 'none'; }", timeout=10000)
        except Exception:
            pass
    loads = page.evaluate("() => window.__benchLoads")
    srcs = page.evaluate("() => window.__benchSrcs")
    frames = page.evaluate("() => window.__genlabDrag ? window.__genlabDrag.frameTimes : []")
    overlay = page.evaluate("() => { const c = document.querySelector('#explore-drag-preview');"
                            " return c ? c.style.display : 'absent'; }")
    page.evaluate("() => { if (window.__genlabDrag) window.__genlabDrag.disabled = false; }")
    during = [t for t in loads if t_start <= t <= t_end]
    drawn = [t for t in frames if t_start <= t <= t_end] if preview else []
    value = float(page.locator(f"{number_sel} input[type=number]").input_value())
    last = max(loads) if loads else None
    secs = max(1e-9, (t_end - t_start) / 1000)
    return {"seconds": round(secs, 3), "mouse_moves": moves, "move_calls": calls, "preview": preview,
            "input_events": page.evaluate("() => window.__benchInputs"),
            "server_images": len(during), "preview_frames": len(drawn),
            "updates": len(during) + len(drawn), "updates_per_s": round((len(during) + len(drawn)) / secs, 2),
            "server_images_per_s": round(len(during) / secs, 2),
            "first_preview_frame_ms": round(min(drawn) - t_start, 1) if drawn else None,
            "overlay_after_release": overlay, "images_total": len(srcs), "final_value": value,
            "last_image_after_release_ms": round(last - t_end, 1) if last is not None else None}
