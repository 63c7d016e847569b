// genlab page-side decoding: onnxruntime-web (WASM, one thread) from the app's own /genlab/ort/, one
// InferenceSession per model, and a float -> uint8 conversion that reproduces genlab/render.py exactly.
// Plain ES module, no build step: `import * as decoder from "/genlab/js/decoder.js"`.
//
//   const model = await decoder.openModel("mnist-dcgan");        // meta + session (fetches are cached)
//   const floats = await model.decode(latents, batch);           // Float32Array [B, C, H, W]
//   const pixels = decoder.toUint8(floats, model.meta.output_range);
//   decoder.drawTo(canvas, pixels, model.meta, 0);               // image 0 of the batch at native size
//
// The server's render stays the reference: the Python and HTTP APIs never use this file.

let ortPromise = null;
const models = new Map(); // model id -> Promise<Model>

/** The onnxruntime-web module from `base` (e.g. "/genlab/ort/1.30.0/"), loaded once per page. */
export function loadRuntime(base) {
  if (!ortPromise) {
    ortPromise = import(base + "ort.wasm.min.mjs").then((ort) => {
      ort.env.wasm.wasmPaths = base; // the app's own copy: nothing is fetched from a CDN
      // The page is not cross-origin isolated, so WASM threads are unavailable anyway; saying so avoids a
      // failed attempt and keeps frame times steady.
      ort.env.wasm.numThreads = 1;
      ort.env.wasm.proxy = false;
      return ort;
    });
    ortPromise.catch(() => { ortPromise = null; }); // a later call may retry (e.g. after a network hiccup)
  }
  return ortPromise;
}

async function fetchOk(url, what) {
  const r = await fetch(url, { credentials: "same-origin" });
  if (!r.ok) {
    let why = r.statusText;
    try { why = (await r.json()).error || why; } catch (_) { /* not JSON */ }
    throw new Error(`${what}: HTTP ${r.status}: ${why}`);
  }
  return r;
}

async function sha256Hex(buffer) {
  if (!globalThis.crypto || !crypto.subtle) return null; // only secure contexts (https, localhost) have it
  const digest = await crypto.subtle.digest("SHA-256", buffer);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Open (once) the decoder of `modelId`; rejects with a readable Error when it cannot (the caller falls back). */
export function openModel(modelId, { prefix = "" } = {}) {
  const key = prefix + "|" + modelId;
  if (!models.has(key)) {
    const p = createModel(modelId, prefix);
    p.catch(() => models.delete(key));
    models.set(key, p);
  }
  return models.get(key);
}

async function createModel(modelId, prefix) {
  const meta = await (await fetchOk(`${prefix}/genlab/decoder/${encodeURIComponent(modelId)}/meta`,
    `decoder of ${modelId}`)).json();
  const ort = await loadRuntime(prefix + meta.runtime.base);
  const bytes = await (await fetchOk(prefix + meta.decoder.url, `decoder of ${modelId}`)).arrayBuffer();
  const digest = await sha256Hex(bytes);
  if (digest !== null && digest !== meta.decoder.sha256) {
    throw new Error(`decoder of ${modelId}: sha256 ${digest} differs from ${meta.decoder.sha256}`);
  }
  const session = await ort.InferenceSession.create(new Uint8Array(bytes), {
    executionProviders: ["wasm"], graphOptimizationLevel: "all",
  });
  const model = new Model(ort, session, meta);
  // One throw-away decode: the first run allocates and plans (~100-200 ms measured for the DCGAN in Chromium
  // on a busy 2-core machine), which would otherwise land on the user's first drag step.
  await model.decode(new Float32Array(meta.latent_size), 1);
  return model;
}

class Model {
  constructor(ort, session, meta) {
    this.ort = ort;
    this.session = session;
    this.meta = meta;
    this.input = meta.decoder.input;
    this.output = meta.decoder.output;
    this.running = Promise.resolve(); // ORT sessions run one call at a time: calls queue here
  }

  /** Float32Array [batch * D] -> Float32Array [batch, C, H, W] in meta.output_range. */
  decode(latents, batch = 1) {
    const d = this.meta.latent_size;
    if (latents.length !== batch * d) {
      return Promise.reject(new Error(`expected ${batch} x ${d} latent values, got ${latents.length}`));
    }
    const z = latents instanceof Float32Array ? latents : Float32Array.from(latents);
    const run = this.running.then(async () => {
      const out = await this.session.run({ [this.input]: new this.ort.Tensor("float32", z, [batch, d]) });
      return out[this.output].data;
    });
    this.running = run.catch(() => {});
    return run;
  }
}

/** Round half to even, as torch.round (std::nearbyint) does. */
function roundHalfEven(y) {
  const f = Math.floor(y);
  const d = y - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * Float32 values in `range` = [lo, hi] -> Uint8Array of the same length, exactly as genlab/render.py's
 * to_uint8_tensor: y = (x - lo) * (255 / (hi - lo)) in float32, round half to even, clamp to [0, 255].
 * Math.fround after each operation gives float32 results (a double then a float rounding equals one float
 * rounding for + - * of float32 values), and the scale is a double rounded to float32, as torch does.
 */
export function toUint8(values, range) {
  const lo = Math.fround(range[0]);
  const scale = Math.fround(255 / (range[1] - range[0]));
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const y = Math.fround(Math.fround(values[i] - lo) * scale);
    const r = roundHalfEven(y);
    out[i] = r < 0 ? 0 : r > 255 ? 255 : r; // NaN -> 0
  }
  return out;
}

/** uint8 [B, C, H, W] (C = 1 or 3) -> ImageData of image `index` (grey repeats into R, G, B; alpha 255). */
export function toImageData(pixels, meta, index = 0) {
  const c = meta.channels;
  const s = meta.image_size;
  const plane = s * s;
  const base = index * c * plane;
  const rgba = new Uint8ClampedArray(plane * 4);
  for (let p = 0; p < plane; p++) {
    const r = pixels[base + p];
    rgba[4 * p] = r;
    rgba[4 * p + 1] = c === 3 ? pixels[base + plane + p] : r;
    rgba[4 * p + 2] = c === 3 ? pixels[base + 2 * plane + p] : r;
    rgba[4 * p + 3] = 255;
  }
  return new ImageData(rgba, s, s);
}

/** Draw image `index` of a uint8 batch on `canvas` at native size (scale it with CSS: image-rendering: pixelated). */
export function drawTo(canvas, pixels, meta, index = 0) {
  const s = meta.image_size;
  if (canvas.width !== s || canvas.height !== s) {
    canvas.width = s;
    canvas.height = s;
  }
  canvas.getContext("2d").putImageData(toImageData(pixels, meta, index), 0, 0);
}

/** Decode one latent and draw it; resolves to the milliseconds spent (decode + convert + draw). */
export async function render(model, latent, canvas) {
  const t0 = performance.now();
  const floats = await model.decode(latent, 1);
  drawTo(canvas, toUint8(floats, model.meta.output_range), model.meta, 0);
  return performance.now() - t0;
}
