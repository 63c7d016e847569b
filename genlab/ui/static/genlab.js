// genlab's page script: loaded once per page (launch(head=...)); plain browser JavaScript, no build step.
// 1. Drag preview (genlab/ui/drag.py): while an explore slider is dragged, frames of a server-rendered sweep
//    are drawn on a canvas over the image, with no request per step; the release renders the final value.
// 2. The sketchpads open with the brush selected (Gradio opens the editor with no tool active).
// 3. Map: dragging a rectangle on the atlas selects a region (a hidden textbox carries it to the server).
/* eslint-env browser */
(function genlabDrag() {

  if (window.__genlabDrag) return;
  const IDS = window.GENLAB_SLIDER_IDS || [];
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
})();

(function genlabMapDrag() {
  // Drag on the map's atlas: a rectangle in the image's own pixels goes to the server through #map-drag.
  if (window.__genlabMapDrag) return;
  const M = window.__genlabMapDrag = {start: null, box: null, moved: false, swallow: false};
  const atlasImg = (t) => (t && t.tagName === 'IMG' && t.closest('#map-atlas')) ? t : null;
  const natural = (img, e) => {
    const r = img.getBoundingClientRect();
    return [(e.clientX - r.left) * img.naturalWidth / r.width, (e.clientY - r.top) * img.naturalHeight / r.height];
  };
  const rectDiv = (img) => {
    if (!M.box || !M.box.isConnected) {
      M.box = document.createElement('div');
      M.box.id = 'map-drag-box';
      M.box.style.cssText = 'position:fixed;border:2px solid #e00;background:rgba(255,0,0,0.12);' +
        'pointer-events:none;z-index:50;display:none';
      document.body.appendChild(M.box);
    }
    return M.box;
  };
  document.addEventListener('pointerdown', (e) => {
    const img = atlasImg(e.target);
    if (!img || e.button !== 0) return;
    M.start = {img, x: e.clientX, y: e.clientY, nat: natural(img, e)};
    M.moved = false;
    e.preventDefault();  // no native image drag
  }, true);
  document.addEventListener('pointermove', (e) => {
    if (!M.start) return;
    const dx = e.clientX - M.start.x, dy = e.clientY - M.start.y;
    if (!M.moved && Math.hypot(dx, dy) < 6) return;
    M.moved = true;
    const r = M.start.img.getBoundingClientRect();
    const x = Math.min(Math.max(e.clientX, r.left), r.right), y = Math.min(Math.max(e.clientY, r.top), r.bottom);
    const b = rectDiv(M.start.img);
    b.style.left = Math.min(M.start.x, x) + 'px'; b.style.top = Math.min(M.start.y, y) + 'px';
    b.style.width = Math.abs(x - M.start.x) + 'px'; b.style.height = Math.abs(y - M.start.y) + 'px';
    b.style.display = 'block';
  }, true);
  document.addEventListener('pointerup', (e) => {
    if (!M.start) return;
    const s = M.start;
    M.start = null;
    if (M.box) M.box.style.display = 'none';
    if (!M.moved) return;  // a click: Gradio's own select event decodes the point
    M.swallow = true;  // the click that follows this pointerup is part of the drag
    setTimeout(() => { M.swallow = false; }, 300);
    const end = natural(s.img, e);
    const box = document.querySelector('#map-drag textarea, #map-drag input');
    if (!box) return;
    box.value = [s.nat[0], s.nat[1], end[0], end[1]].map((v) => v.toFixed(1)).join(',');
    box.dispatchEvent(new Event('input', {bubbles: true}));
  }, true);
  document.addEventListener('click', (e) => {
    if (M.swallow && atlasImg(e.target)) { e.stopImmediatePropagation(); e.preventDefault(); M.swallow = false; }
  }, true);
})();

(function genlabSketchpads() {
  // Gradio opens a Sketchpad with no tool selected ("select the draw tool to start"): a student's first
  // stroke drew nothing. Select the brush of every visible genlab sketchpad once.
  const pick = () => {
    document.querySelectorAll('.genlab-sketch').forEach((pad) => {
      if (pad.dataset.genlabBrush === '1' || !pad.offsetParent) return;
      const brush = pad.querySelector('button[aria-label="Brush"]');
      if (!brush) return;
      pad.dataset.genlabBrush = '1';
      brush.click();
    });
  };
  setInterval(pick, 400);
})();
