// genlab's page script: loaded once per page (launch(head=...)); plain browser JavaScript, no build step.
// 1. Explore drags: every step drawn on a canvas over the image with no request, decoded in the page
//    (decoder.js) or, without a decoder, from a server-rendered sweep (genlab/ui/drag.py); the release renders
//    the final value on the server. A readout under the image says where frames are drawn and how fast.
// 2. The sketchpads open with the brush selected (Gradio opens the editor with no tool active).
// 3. Map: dragging a rectangle on the atlas selects a region (a hidden textbox carries it to the server).
/* eslint-env browser */
(function genlabDrag() {
  // Explore sliders, three ways to draw a drag, best first:
  // - page: the page holds the base latent and the method's direction vectors (#explore-page-data, sent when the
  //   model, base or method changes), composes the latent exactly as genlab/views/explore.py compose() does,
  //   decodes it with the model's ONNX decoder (decoder.js, onnxruntime-web) and draws every input event: no
  //   request at all during the drag;
  // - sweep: the server renders every value of the pressed slider in one batch (genlab/ui/drag.py) and the page
  //   draws those frames;
  // - server: the ordinary slider events.
  // Page and sweep drags send the final value on release as one ordinary event, and the overlay steps aside when
  // the server's image has loaded: what stays on screen is always the server's own render.
  if (window.__genlabDrag) return;
  const IDS = window.GENLAB_SLIDER_IDS || [];
  const N_DIRS = IDS.filter((i) => i.startsWith('dir-')).length;
  const N_RAW = IDS.filter((i) => i.startsWith('raw-')).length;
  const KEY = 'genlab.drawInBrowser';
  let stored = null;
  try { stored = localStorage.getItem(KEY); } catch (_) { /* storage blocked: default on */ }
  const S = window.__genlabDrag = {sweep: null, want: null, token: 0, dragging: null, el: null, suppressed: false,
    pass: false, frame: -1, frames: 0, frameTimes: [], await: null, timer: null, canvas: null, observed: false,
    loading: null, mode: null, lastInput: 0,
    page: {on: stored !== 'off', data: null, models: {}, busy: false, pending: null, module: null, observed: null},
    stat: {where: null, frames: 0, first: 0, last: 0, ms: []}};
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
  const counted = (ms) => {  // one more frame shown in this drag (for the readout)
    const t = performance.now(), st = S.stat;
    if (!st.frames) st.first = t;
    st.frames++; st.last = t;
    if (ms !== undefined) st.ms.push(ms);
    S.frames++; S.frameTimes.push(t);
    if (S.frameTimes.length > 5000) S.frameTimes.splice(0, 2500);
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
    S.frame = i;
    counted();
  };

  // ---- page decoding ---------------------------------------------------------------------------
  const P = S.page;
  const root = () => String((window.gradio_config && window.gradio_config.root) || '').replace(/\/+$/, '');
  const openModel = (id) => {
    if (P.models[id]) return;
    const entry = P.models[id] = {state: 'loading', model: null, error: null};
    if (typeof WebAssembly !== 'object') { entry.state = 'failed'; entry.error = 'no WebAssembly'; return; }
    P.module = P.module || import(root() + '/genlab/js/decoder.js');
    P.module.then((dec) => dec.openModel(id, {prefix: root()}).then((m) => {
      entry.decoder = dec; entry.model = m; entry.state = 'ready';
    })).catch((err) => {
      entry.state = 'failed'; entry.error = String(err && err.message || err);
      P.module = null;  // a later model may retry the import
    }).finally(readout);
  };
  const pageModel = () => {
    const d = P.data;
    const e = d && P.models[d.model];
    return (P.on && !S.disabled && e && e.state === 'ready') ? e : null;
  };
  const parseData = (el) => {
    const d = JSON.parse(el.dataset.json);
    return {model: d.model, method: d.method, d: d.d, k: d.k, base: Float32Array.from(d.base),
      vectors: Float32Array.from(d.vectors), sigmas: Float32Array.from(d.sigmas), values: d.values || [],
      pickDim: d.pick_dim || 0};
  };
  S.parseData = parseData;
  const receiveData = (box) => {
    const el = box.querySelector('.genlab-page-data');
    if (!el) { P.data = null; readout(); return; }
    try {
      P.data = parseData(el);
      if (P.on) openModel(P.data.model);
    } catch (_) { P.data = null; }
    readout();
  };
  const observeData = () => {
    const box = document.querySelector('#explore-page-data');
    if (!box || P.observed === box) return;
    P.observed = box;
    new MutationObserver(() => receiveData(box)).observe(box, {childList: true, subtree: true, attributes: true});
    receiveData(box);
  };
  // A slider's value from the page, else (Gradio does not render folded accordions) the server's last word.
  const sliderValue = (id, fallback) => {
    const el = document.querySelector('#' + id + ' input[type=range]');
    return el ? parseFloat(el.value) || 0 : fallback || 0;
  };
  // The float32 latent genlab/views/explore.py compose_position() makes: base + (w * sigmas) @ vectors (only when a
  // weight is non-zero) + raw offsets + the picked offset. `vals`: every slider of IDS in order; d: page data.
  const composeLatent = (d, vals, pickDim) => {
    const D = d.d, z = Float32Array.from(d.base);
    const w = vals.slice(0, N_DIRS), raw = vals.slice(N_DIRS, N_DIRS + N_RAW), pv = vals[N_DIRS + N_RAW] || 0;
    if (d.method && w.some((x) => x !== 0)) {
      const ws = new Float32Array(d.k);  // float32 products, as torch's w * sigmas
      for (let j = 0; j < d.k; j++) ws[j] = Math.fround(w[j] || 0) * d.sigmas[j];
      for (let i = 0; i < D; i++) {
        // torch's float32 matrix product sums in an order of its own (BLAS blocks); a double sum rounded once is
        // the exact value to within half an ulp, which matched torch's bits more often than any float32 order
        let acc = 0;
        for (let j = 0; j < d.k; j++) acc += ws[j] * d.vectors[j * D + i];
        z[i] = z[i] + Math.fround(acc);  // a Float32Array store rounds to float32
      }
    }
    for (let i = 0; i < Math.min(N_RAW, D); i++) if (raw[i]) z[i] = z[i] + Math.fround(raw[i]);
    if (pv) {
      const pd = Math.max(0, Math.min(D - 1, Math.round(pickDim)));
      z[pd] = z[pd] + Math.fround(pv);
    }
    return z;
  };
  // The latent for the sliders on the page, slider `k` at `value`.
  const compose = (k, value) => composeLatent(P.data,
    IDS.map((id, i) => (i === k ? value : sliderValue(id, P.data.values[i]))), sliderValue('pick-dim', P.data.pickDim));
  S.composeLatent = composeLatent;  // (tests: page parity)
  const pageDraw = async (k, value) => {
    P.pending = [k, value];
    if (P.busy) return;  // the decode in flight picks up the latest value when it ends
    P.busy = true;
    try {
      while (P.pending) {
        const [kk, v] = P.pending;
        P.pending = null;
        const e = P.models[P.data.model];
        const t0 = performance.now();
        const floats = await e.model.decode(compose(kk, v), 1);
        if (S.mode !== 'page' || (S.dragging === null && S.await === null)) continue;  // drag over, image shown
        const c = overlay();
        if (!c) continue;
        e.decoder.drawTo(c, e.decoder.toUint8(floats, e.model.meta.output_range), e.model.meta, 0);
        c.style.display = 'block';
        counted(performance.now() - t0);
      }
    } catch (err) {
      const e = P.data && P.models[P.data.model];
      if (e) { e.state = 'failed'; e.error = String(err && err.message || err); }
    } finally { P.busy = false; readout(); }
  };

  // ---- sweep preview -----------------------------------------------------------------------------
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

  // ---- the drag ----------------------------------------------------------------------------------
  document.addEventListener('pointerdown', (e) => {
    const k = sliderIndex(e.target);
    if (k < 0) return;
    observeData();
    hide();
    S.dragging = k; S.el = e.target; S.suppressed = false; S.sweep = null;
    S.stat = {where: 'server', frames: 0, first: 0, last: 0, ms: []};
    if (S.disabled) { S.mode = 'server'; return; }  // (the benchmark's reference drags: the plain server path)
    if (pageModel()) { S.mode = S.stat.where = 'page'; return; }
    S.mode = 'sweep';
    request(k);
  }, true);
  document.addEventListener('input', (e) => {
    if (S.pass) return;
    const k = sliderIndex(e.target);
    if (k < 0) return;
    S.lastInput = performance.now();
    if (k !== S.dragging) return;  // keyboard steps etc.: the ordinary server path
    const page = S.mode === 'page' && pageModel();
    if (!page && (S.mode !== 'sweep' || !S.sweep || S.sweep.slider !== k)) return;  // the ordinary server path
    e.stopImmediatePropagation();  // the server hears the final value on release, not every step
    S.suppressed = true;
    const num = e.target.closest('#' + IDS[k]).querySelector('input[type=number]');
    if (num) num.value = e.target.value;
    if (page) { pageDraw(k, parseFloat(e.target.value)); return; }
    S.stat.where = 'sweep';
    draw(parseFloat(e.target.value));
  }, true);
  const release = () => {
    if (S.dragging === null) return;
    const el = S.el;
    S.dragging = null; S.el = null;
    readout();
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
  // while no drag is waiting, e.g. undo, also clears it). A page drag sends no event before its release, so
  // the first image after the release is the final one.
  document.addEventListener('load', (e) => {
    const img = e.target;
    if (!img || img.tagName !== 'IMG' || !img.closest('#explore-image')) return;
    if (S.dragging !== null && S.mode === 'server') counted(performance.now() - S.lastInput);
    if (!S.canvas || S.dragging !== null) return;
    if (S.await === null || !S.sweep || S.mode === 'page') { hide(); return; }
    const sw = S.sweep;
    if (img.naturalWidth !== sw.w || img.naturalHeight !== sw.h) { hide(); return; }
    const a = pixels(img, 0, sw.w, sw.h), b = pixels(sw.img, S.await * sw.h, sw.w, sw.h);
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i] - b[i]));
    if (diff <= 2) hide();  // else an older answer landed first: keep the frame until the final one
  }, true);

  // ---- the readout under the image: where frames are drawn, their rate, and the setting ---------------
  const esc = (t) => String(t).replace(/[&<>"']/g, (ch) => '&#' + ch.charCodeAt(0) + ';');
  function readout() {
    const box = document.querySelector('#genlab-readout-box');
    if (!box) return;
    if (!box.querySelector('.genlab-readout-where')) {
      box.innerHTML = '<span class="genlab-readout-where"></span> <span class="genlab-readout-rate"></span> ' +
        '<label class="genlab-readout-setting"><input type="checkbox" id="draw-in-browser"> Draw in my browser' +
        '</label>';
      box.querySelector('input').addEventListener('change', (ev) => {
        P.on = ev.target.checked;
        try { localStorage.setItem(KEY, P.on ? 'on' : 'off'); } catch (_) { /* not persisted */ }
        if (P.on && P.data) openModel(P.data.model);
        readout();
      });
    }
    const cb = box.querySelector('input');
    if (cb.checked !== P.on) cb.checked = P.on;
    const d = P.data, e = d && P.models[d.model];
    let where = 'Frames are drawn in <b>your browser</b>';
    if (!pageModel()) {
      const why = S.disabled ? 'page drawing disabled' : !P.on ? 'drawing in your browser is off'
        : !d ? 'waiting for the model' : !e || e.state === 'loading' ? 'loading the decoder'
        : 'no decoder here: ' + esc(e.error);
      where = `Frames are drawn by <b>the server</b> <span class="genlab-readout-why">(${why})</span>`;
    }
    const w = box.querySelector('.genlab-readout-where');
    if (w.dataset.html !== where) { w.innerHTML = where; w.dataset.html = where; }
    const st = S.stat;
    let rate = '';
    if (st.frames > 1 && st.last > st.first) {
      const by = st.where === 'page' ? 'your browser' : 'the server';
      const fps = (st.frames - 1) * 1000 / (st.last - st.first);
      rate = `· last drag: ${st.frames} frames drawn by ${by}, ${fps.toFixed(0)} frames/s`;
      if (st.ms.length) rate += `, ${(st.ms.reduce((a, b) => a + b, 0) / st.ms.length).toFixed(1)} ms per frame`;
    }
    box.querySelector('.genlab-readout-rate').textContent = rate;
  }
  setInterval(() => { observeData(); readout(); }, 500);
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
