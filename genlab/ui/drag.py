"""Drag preview: while a slider is dragged, the browser draws frames the server rendered in one batch.

A round trip through Gradio costs ~100 ms in the browser on a small CPU server whatever the model does, so a
drag that waits for the server shows 4-6 images a second. Instead, when a slider is pressed the page asks
for that slider's *sweep* (every value it can take, the other inputs held, decoded in one batch and sent as
one PNG strip), then draws the frame for each value on a canvas over the image as the thumb moves: a new
image for every input event, with no server traffic during the drag. On release the value goes to the server
as one ordinary ``explore`` event, and the overlay steps aside once the server's image (pixel-equal to the
frame up to one grey level) has loaded, so what stays on screen is always the server's own render.
Until the sweep has arrived (or if it never does) the slider works exactly as without this module.
"""
from __future__ import annotations

import base64
import json

import numpy as np

from genlab import render

SWEEP_LO, SWEEP_STEP, SWEEP_N = -3.0, 0.05, 121  # the grid of every explore slider (-3..3, step 0.05)
SLIDER_GRID = dict(minimum=SWEEP_LO, maximum=SWEEP_LO + SWEEP_STEP * (SWEEP_N - 1), step=SWEEP_STEP)  # gr.Slider kwargs
SWEEP_VALUES = [round(SWEEP_LO + SWEEP_STEP * i, 4) for i in range(SWEEP_N)]


def parse_request(text) -> tuple[int, str]:
    """``"<slider index>:<token>"`` from the page -> (index, token); ValueError otherwise."""
    if not isinstance(text, str) or len(text) > 64 or ":" not in text:
        raise ValueError("sweep request must look like '3:17'")
    k, token = text.split(":", 1)
    if not k.isdigit() or not token.isalnum():
        raise ValueError("sweep request must look like '3:17'")
    return int(k), token


def sweep_html(frames: np.ndarray, slider: int, token: str) -> str:
    """uint8 ``[N, H, W, C]`` frames -> a hidden ``<div>`` holding them as one vertical PNG strip."""
    n, h, w, c = frames.shape
    strip = frames.reshape(n * h, w, c)
    b64 = base64.b64encode(render.png_bytes(strip if c != 1 else strip[..., 0])).decode()
    meta = {"slider": slider, "token": token, "lo": SWEEP_LO, "step": SWEEP_STEP, "n": n, "w": w, "h": h}
    attrs = " ".join(f'data-{k}="{v}"' for k, v in meta.items())
    return f'<div class="genlab-sweep" {attrs}><img alt="" src="data:image/png;base64,{b64}"></div>'


# Element ids of the sweepable sliders, in the order of the explore inputs (directions, raw dims, picker).
def slider_ids(n_dirs: int, n_raw: int) -> list[str]:
    return [f"dir-{i}" for i in range(n_dirs)] + [f"raw-{i}" for i in range(n_raw)] + ["pick-value"]


def drag_js(ids: list[str]) -> str:
    """The page script (Gradio's ``launch(js=...)``): runs once when the page loads."""
    return DRAG_JS.replace("__IDS__", json.dumps(ids))


DRAG_JS = r"""
() => {
  if (window.__genlabDrag) return;
  const IDS = __IDS__;
  const S = window.__genlabDrag = {sweep: null, want: null, token: 0, dragging: null, el: null, suppressed: false,
    pass: false, frame: -1, frames: 0, frameTimes: [], await: null, timer: null, canvas: null, observed: false,
    loading: null};
  const sliderIndex = (t) => {
    if (!t || t.tagName !== 'INPUT' || t.type !== 'range') return -1;
    for (let i = 0; i < IDS.length; i++) if (t.closest('#' + IDS[i])) return i;
    return -1;
  };
  const pixels = (src, sy, w, h) => {
    const c = document.createElement('canvas'); c.width = w; c.height = h;
    const g = c.getContext('2d', {willReadFrequently: true}); g.drawImage(src, 0, sy, w, h, 0, 0, w, h);
    return g.getImageData(0, 0, w, h).data;
  };
  const target = () => document.querySelector('#explore-image img');
  const overlay = () => {
    const img = target();
    if (!img) return null;
    let c = S.canvas;
    if (!c || !c.isConnected) {
      c = S.canvas = document.createElement('canvas');
      c.id = 'explore-drag-preview';
      c.style.cssText = 'position:absolute;pointer-events:none;object-fit:contain;image-rendering:pixelated;' +
        'display:none;z-index:5';
    }
    if (c.parentElement !== img.parentElement) {
      img.parentElement.appendChild(c);
      if (getComputedStyle(img.parentElement).position === 'static') img.parentElement.style.position = 'relative';
    }
    c.style.left = img.offsetLeft + 'px'; c.style.top = img.offsetTop + 'px';
    c.style.width = img.offsetWidth + 'px'; c.style.height = img.offsetHeight + 'px';
    return c;
  };
  const hide = () => {
    if (S.canvas) S.canvas.style.display = 'none';
    S.await = null; S.frame = -1;
    if (S.timer) { clearTimeout(S.timer); S.timer = null; }
  };
  const draw = (value) => {
    const sw = S.sweep;
    const i = Math.max(0, Math.min(sw.n - 1, Math.round((value - sw.lo) / sw.step)));
    if (i === S.frame) return;
    const c = overlay();
    if (!c) return;
    if (c.width !== sw.w || c.height !== sw.h) { c.width = sw.w; c.height = sw.h; }
    const g = c.getContext('2d');
    g.imageSmoothingEnabled = false;
    g.clearRect(0, 0, sw.w, sw.h);
    g.drawImage(sw.img, 0, i * sw.h, sw.w, sw.h, 0, 0, sw.w, sw.h);
    c.style.display = 'block';
    S.frame = i; S.frames++; S.frameTimes.push(performance.now());
    if (S.frameTimes.length > 5000) S.frameTimes.splice(0, 2500);
  };
  const receive = (root) => {
    const d = root.querySelector('.genlab-sweep');
    if (!d) return;
    const slider = +d.dataset.slider, token = d.dataset.token;
    if (slider !== S.want || token !== String(S.token)) return;  // an answer to an older press
    if (S.loading === token) return;  // the observer reports one answer more than once
    S.loading = token;
    const img = new Image();
    img.onload = () => {
      if (slider !== S.want || token !== String(S.token)) return;
      S.sweep = {slider, token, lo: +d.dataset.lo, step: +d.dataset.step, n: +d.dataset.n, w: +d.dataset.w,
                 h: +d.dataset.h, img};
    };
    img.src = d.querySelector('img').src;
  };
  const observe = () => {
    const box = document.querySelector('#explore-sweep');
    if (!box || S.observed === box) return;
    S.observed = box;
    new MutationObserver(() => receive(box)).observe(box, {childList: true, subtree: true, characterData: true});
  };
  const request = (k) => {
    observe();
    const box = document.querySelector('#sweep-request textarea, #sweep-request input');
    if (!box) return;
    S.token++; S.want = k; S.sweep = null;
    box.value = k + ':' + S.token;
    box.dispatchEvent(new Event('input', {bubbles: true}));
  };
  document.addEventListener('pointerdown', (e) => {
    const k = sliderIndex(e.target);
    if (k < 0 || S.disabled) return;  // (S.disabled: the benchmark's reference drags without the preview)
    hide();
    S.dragging = k; S.el = e.target; S.suppressed = false;
    request(k);
  }, true);
  document.addEventListener('input', (e) => {
    if (S.pass) return;
    const k = sliderIndex(e.target);
    if (k < 0) return;
    if (k !== S.dragging || !S.sweep || S.sweep.slider !== k) return;  // the ordinary server path
    e.stopImmediatePropagation();  // the server hears the final value on release, not every step
    S.suppressed = true;
    const num = e.target.closest('#' + IDS[k]).querySelector('input[type=number]');
    if (num) num.value = e.target.value;
    draw(parseFloat(e.target.value));
  }, true);
  const release = () => {
    if (S.dragging === null) return;
    const el = S.el;
    S.dragging = null; S.el = null;
    if (!S.suppressed) { hide(); return; }
    S.suppressed = false;
    S.await = S.frame;
    S.timer = setTimeout(hide, 5000);  // never leave the overlay up if the final image does not come
    S.pass = true;
    try { el.dispatchEvent(new Event('input', {bubbles: true})); } finally { S.pass = false; }
  };
  document.addEventListener('pointerup', release, true);
  document.addEventListener('pointercancel', release, true);
  // The overlay steps aside when the server's image for the final value has loaded (any other image load
  // while no drag is waiting, e.g. undo, also clears it).
  document.addEventListener('load', (e) => {
    const img = e.target;
    if (!img || img.tagName !== 'IMG' || !img.closest('#explore-image') || !S.canvas) return;
    if (S.dragging !== null) return;
    if (S.await === null || !S.sweep) { hide(); return; }
    const sw = S.sweep;
    if (img.naturalWidth !== sw.w || img.naturalHeight !== sw.h) { hide(); return; }
    const a = pixels(img, 0, sw.w, sw.h), b = pixels(sw.img, S.await * sw.h, sw.w, sw.h);
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i] - b[i]));
    if (diff <= 2) hide();  // else an older answer landed first: keep the frame until the final one
  }, true);
}
"""
