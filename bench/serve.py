"""The bench server: the real app (``app.build``) plus bench-only components, on 127.0.0.1.

``python -m bench.serve --port P [--checkpoints DIR] [--threads N] [--max-life S]``

Added inside ``with demo:`` (the app's own wiring is untouched):
  * ``bench_floor``: a slider + image whose event returns a precomputed image (real 28x28 digits, one pixel
    set from the slider value so every value gives a new file, as a new latent does) with the explore
    sliders' exact settings (``**FAST``) and the same inputs as /explore plus the floor slider;
  * ``bench_floor_nq`` / ``bench_explore_nq``: the same floor and genlab's explore, with ``queue=False``;
  * ``bench_explore_webp`` / ``bench_explore_jpeg``: /explore into a webp / jpeg ``gr.Image``;
  * ``bench_samples_webp`` / ``bench_samples_jpeg``: /samples into a webp / jpeg ``gr.Image``;
  * ``bench_explore_batched`` (wait 2 ms) / ``bench_explore_batched0`` (wait 0): /explore with the decode
    going through ``genlab.batcher.MicroBatcher`` (one per model);
  * APIs ``bench_bare`` (bare forward timings in this process), ``bench_stats`` (RSS, threads, Gradio's
    profiler summary), ``bench_profile`` (a wall-clock sampling profiler over all threads).
The process exits by itself after ``--max-life`` seconds.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BENCH_CSS = """
#bench-floor-image img, #bench-floor-nq-image img, #bench-nq-image img {
  width: 280px !important; height: 280px !important; object-fit: contain; }
"""
POOL = 512


def digit_pool(shape: tuple[int, ...]) -> list:
    """POOL real digits (or noise when the dataset is absent) shaped like the explore image."""
    import numpy as np

    path = REPO / "checkpoints" / "mnist-digits" / "digits.npz"
    if path.is_file() and tuple(shape[:2]) == (28, 28):
        imgs = np.load(path, allow_pickle=False)["images"][:POOL]
    else:
        imgs = np.random.default_rng(0).integers(0, 256, (POOL, *shape[:2]), dtype=np.uint8)
    if len(shape) == 3 and shape[2] != 1:
        imgs = np.repeat(imgs[..., None], shape[2], -1)
    return [np.ascontiguousarray(i) for i in imgs]


def floor_fn(pool):
    def bench_floor(value, *_ignored):
        """The floor: no model, no maths; a precomputed image that differs for every slider value."""
        v = int(value or 0)
        img = pool[v % POOL].copy()
        img.flat[0] = (v // POOL) % 256  # keep files distinct, like new latents
        return img

    return bench_floor


def batched_explore(h, wait_ms: float):
    """/explore with the decode shared through one MicroBatcher per loaded model."""
    from genlab.batcher import MicroBatcher
    from genlab.explore import ExploreRequest
    from genlab.ui.common import N_DIRS, N_RAW, show, user_errors

    batchers: dict = {}
    lock = threading.Lock()

    def batcher(model_id):
        ckpt = h.ex.generative(model_id)
        with lock:
            cur = batchers.get(model_id)
            if cur is None or cur[0] is not ckpt:
                if cur is not None:
                    cur[1].close(wait=False)
                mb = MicroBatcher(lambda zb, c=ckpt: h.ex.engine.decode_uint8(c, zb), max_batch=64, max_wait_ms=wait_ms)
                cur = batchers[model_id] = (ckpt, mb)
        return cur[1]

    @user_errors
    def explore_batched(model_id, base, method, *values):
        w, raw, pick = values[:N_DIRS], values[N_DIRS:N_DIRS + N_RAW], values[N_DIRS + N_RAW:]
        z = h.ex.compose(ExploreRequest(model_id, base, method, tuple(w), tuple(raw), *pick))
        return show(batcher(model_id)(z, timeout=60))

    explore_batched.batchers = batchers
    return explore_batched


def inline_explore(h):
    """/explore returning an inline PNG (``<img src="data:...">`` in a gr.HTML): no cache file, no second request."""
    import base64

    from genlab.render import png_bytes

    def explore_inline(*args):
        img = h.explore(*args)
        b64 = base64.b64encode(png_bytes(img if img.ndim == 3 else img[..., None])).decode()
        return (f'<img src="data:image/png;base64,{b64}" alt="current image" '
                'style="width:280px;height:280px;image-rendering:pixelated">')

    return explore_inline


class Sampler(threading.Thread):
    """Wall-clock sampling profiler: every ``interval_s``, the Python stack of every other thread."""

    IDLE = {"wait", "select", "poll", "_worker", "get", "sleep", "accept", "_wait_for_tstate_lock", "run_forever",
            "_run_once", "readinto", "recv_into", "recv", "wait_for", "join", "serve_forever", "_bootstrap_inner",
            "epoll", "acquire", "run_until_complete", "worker", "block_thread"}

    def __init__(self, interval_s: float = 0.001):
        super().__init__(daemon=True, name="bench-sampler")
        self.interval_s = interval_s
        self.stopped = threading.Event()
        self.samples = 0
        self.busy = 0
        self.self_counts: dict[str, int] = {}
        self.incl_counts: dict[str, int] = {}
        self.thread_busy: dict[str, int] = {}
        self.leaf_paths: dict[str, int] = {}  # leaf <- caller <- caller (first 3 frames)

    @staticmethod
    def _fname(code) -> str:
        f = code.co_filename
        for mark in ("site-packages/", "lib/python3.11/", str(REPO) + "/"):
            if mark in f:
                f = f.split(mark, 1)[1]
                break
        return f"{f}:{code.co_name}"

    def _idle(self, frame) -> bool:
        code = frame.f_code
        name = code.co_name
        fname = code.co_filename
        stdlib = "site-packages" not in fname and str(REPO) not in fname
        if name in self.IDLE and (stdlib or "anyio" in fname or "asyncio" in fname):
            return True
        if name == "block_thread" and fname.endswith("gradio/blocks.py"):  # launch() sleeping in the main thread
            return True
        # the event loop waiting in select() shows up as base_events._run_once -> selectors.select
        return name == "select" and "selectors" in fname

    def run(self) -> None:
        me = threading.get_ident()
        names = {}
        while not self.stopped.wait(self.interval_s):
            frames = sys._current_frames()
            if len(names) != len(frames):
                names = {t.ident: t.name for t in threading.enumerate()}
            for tid, frame in frames.items():
                if tid == me:
                    continue
                self.samples += 1
                if self._idle(frame):
                    continue
                self.busy += 1
                tname = names.get(tid, "?")
                tname = "worker" if tname.startswith(("AnyIO", "Thread-", "asyncio_")) else tname
                self.thread_busy[tname] = self.thread_busy.get(tname, 0) + 1
                leaf = self._fname(frame.f_code)
                self.self_counts[leaf] = self.self_counts.get(leaf, 0) + 1
                chain, f = [], frame
                while f is not None and len(chain) < 4:
                    n = self._fname(f.f_code)
                    if not (chain and n.startswith("<frozen") and chain[-1].startswith("<frozen")):
                        chain.append(n)  # runs of import machinery frames count as one
                    f = f.f_back
                key = " <- ".join(chain)
                self.leaf_paths[key] = self.leaf_paths.get(key, 0) + 1
                seen = set()
                f = frame
                while f is not None:
                    n = self._fname(f.f_code)
                    if n not in seen:
                        seen.add(n)
                        self.incl_counts[n] = self.incl_counts.get(n, 0) + 1
                    f = f.f_back

    def report(self, top: int = 40) -> dict:
        def topn(d):
            return [[k, v, round(100.0 * v / max(1, self.busy), 1)] for k, v in sorted(d.items(), key=lambda kv: -kv[1])[:top]]

        return {"interval_ms": self.interval_s * 1000, "samples": self.samples, "busy_samples": self.busy,
                "busy_by_thread": self.thread_busy, "self_top": topn(self.self_counts),
                "inclusive_top": topn(self.incl_counts), "leaf_paths_top": topn(self.leaf_paths)}


def add_bench(demo, ui) -> dict:
    """Bench components and APIs inside the app; returns the objects the bench APIs report on."""
    import gradio as gr
    import psutil
    import torch

    from genlab import latent
    from genlab.ui.common import FAST, HEAVY

    fns = {fn.api_name: fn for fn in demo.fns.values() if fn.api_name}
    ex, samp = fns["explore"], fns["samples"]
    slider_inputs, explore_img = list(ex.inputs), ex.outputs[0]
    sample_inputs = list(samp.inputs)
    h = ui.explore  # the explore view: .explore (the slider handler) and .ex (the explorer)
    model_id = ui.default_model()
    m = h.ex.registry.manifest(model_id) if model_id else None
    shape = (m.image_size, m.image_size) + ((m.channels,) if m.channels != 1 else ()) if m else (28, 28)
    pool = digit_pool(shape)
    nq = dict(trigger_mode="always_last", show_progress="hidden", queue=False)
    state = {"sampler": None}

    def img(elem_id=None, fmt="png", visible=True):
        return gr.Image(label=elem_id or "bench", format=fmt, interactive=False, elem_id=elem_id,
                        elem_classes=["pixelated"], buttons=["download"], visible=visible)

    with demo:
        with gr.Row(elem_id="bench-row"):
            floor_s = gr.Slider(0, 100000, 0, step=1, label="bench floor", elem_id="bench-floor")
            floor_img = img("bench-floor-image")
            floor_nq_s = gr.Slider(0, 100000, 0, step=1, label="bench floor (queue=False)", elem_id="bench-floor-nq")
            floor_nq_img = img("bench-floor-nq-image")
            nq_s = gr.Slider(-3, 3, 0, step=0.05, label="direction 1 (queue=False)", elem_id="bench-explore-nq")
            nq_img = img("bench-nq-image")
        with gr.Row(elem_id="bench-row-inline"):
            inl_s = gr.Slider(-3, 3, 0, step=0.05, label="direction 1 (inline PNG)", elem_id="bench-inline")
            inl_html = gr.HTML(elem_id="bench-inline-image")
            inl_nq_s = gr.Slider(-3, 3, 0, step=0.05, label="direction 1 (inline PNG, queue=False)",
                                 elem_id="bench-inline-nq")
            inl_nq_html = gr.HTML(elem_id="bench-inline-nq-image")
        trig = gr.Slider(0, 1, 0, visible=False)
        md = gr.Markdown(visible=False)
        floor = floor_fn(pool)
        floor_s.input(floor, [floor_s, *slider_inputs], floor_img, api_name="bench_floor", **FAST)
        floor_nq_s.input(floor, [floor_nq_s, *slider_inputs], floor_nq_img, api_name="bench_floor_nq", **nq)
        nq_inputs = slider_inputs[:3] + [nq_s] + slider_inputs[4:]
        nq_s.input(h.explore, nq_inputs, nq_img, api_name="bench_explore_nq", **nq)
        inline = inline_explore(h)
        inl_s.input(inline, slider_inputs[:3] + [inl_s] + slider_inputs[4:], inl_html, api_name="bench_explore_inline",
                    **FAST)
        inl_nq_s.input(inline, slider_inputs[:3] + [inl_nq_s] + slider_inputs[4:], inl_nq_html,
                       api_name="bench_explore_inline_nq", **nq)
        trig.input(h.explore, slider_inputs, explore_img, api_name="bench_explore_again", **FAST)
        one = gr.Slider(0, 100000, 0, step=1, visible=False)
        one.input(floor, [one], img(visible=False), api_name="bench_floor_1in", **FAST)  # the floor with one input
        for fmt in ("webp", "jpeg"):
            trig.input(h.explore, slider_inputs, img(fmt=fmt, visible=False), api_name=f"bench_explore_{fmt}", **FAST)
            trig.input(ui.views["samples"].samples, sample_inputs, [img(fmt=fmt, visible=False), md], api_name=f"bench_samples_{fmt}",
                       **HEAVY)
        batched = {"2": batched_explore(h, 2.0), "0": batched_explore(h, 0.0)}
        trig.input(batched["2"], slider_inputs, explore_img, api_name="bench_explore_batched", **FAST)
        trig.input(batched["0"], slider_inputs, explore_img, api_name="bench_explore_batched0", **FAST)

        def bench_bare(model: str, n: int, reps: int) -> str:
            """Bare forward timings (seconds) of ``n`` latents in this process: decode alone, and the engine path."""
            ckpt = h.ex.generative(model)
            z = latent.sample(int(n), ckpt.manifest.latent_size, 0)
            out = {"decode": [], "engine_uint8": [], "threads": torch.get_num_threads()}
            with torch.inference_mode():
                ckpt.model.decode(z[: min(len(z), 64)])  # warm
                for _ in range(int(reps)):
                    t0 = time.perf_counter()
                    for i in range(0, len(z), 64):  # the app's chunking (Engine.max_batch)
                        ckpt.model.decode(z[i:i + 64])
                    out["decode"].append(time.perf_counter() - t0)
            for _ in range(int(reps)):
                t0 = time.perf_counter()
                h.ex.engine.decode_uint8(ckpt, z)
                out["engine_uint8"].append(time.perf_counter() - t0)
            return json.dumps(out)

        def bench_stats(clear: bool) -> str:
            """RSS, threads, loaded models, batcher counters and Gradio's profiler summary (GRADIO_PROFILING=1)."""
            from gradio.profiling import PROFILING_ENABLED, collector

            proc = psutil.Process()
            out = {"rss_mb": proc.memory_info().rss / 2**20, "torch_threads_here": torch.get_num_threads(),
                   "os_threads": proc.num_threads(), "cached_models": h.ex.registry.cached(),
                   "load_count": h.ex.registry.load_count,
                   "batchers": {k: {m: {"calls": b.calls, "items": b.items, "largest": b.largest}
                                    for m, (_, b) in f.batchers.items()} for k, f in batched.items()},
                   "profiling": PROFILING_ENABLED}
            if PROFILING_ENABLED:
                out["gradio_profile"] = collector.get_summary()
                if clear:
                    collector.clear()
            return json.dumps(out, default=str)

        def bench_profile(action: str, interval_ms: float) -> str:
            """'start' the sampling profiler, or 'stop' it and return its report."""
            if action == "start":
                if state["sampler"] is None:
                    state["sampler"] = Sampler(float(interval_ms) / 1000)
                    state["sampler"].start()
                return "{}"
            s, state["sampler"] = state["sampler"], None
            if s is None:
                return "{}"
            s.stopped.set()
            s.join(5)
            return json.dumps(s.report())

        def bench_forget(model: str) -> str:
            """Drop a loaded model (and its cached directions) so the next use loads it again."""
            h.ex.registry.forget(model)
            for key in [k for k in h.ex._cache if len(k) > 1 and k[1] == model]:
                h.ex._cache.pop(key, None)
            return "ok"

        def bench_set(name: str, value: int) -> str:
            """Runtime switches of Gradio's queue: 'analytics_frequency' (GRADIO_ANALYTICS_CACHE_FREQUENCY: the
            per-event pandas summary of recent events runs every N events) and 'analytics_max_events'."""
            q = demo._queue
            attr = {"analytics_frequency": "ANAYLTICS_CACHE_FREQUENCY", "analytics_max_events": "ANALYTICS_MAX_EVENTS"}[name]
            old = getattr(q, attr)
            setattr(q, attr, int(value))
            return json.dumps({"old": old, "new": int(value), "events_recorded": q.events_recorded,
                               "records": len(q.event_analytics)})

        for fn in (bench_bare, bench_stats, bench_profile, bench_forget, bench_set):
            gr.api(fn, api_name=fn.__name__, queue=False)
    return {"pool": len(pool), "shape": list(shape)}


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--checkpoints", action="append", default=[])
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--max-life", type=float, default=900)
    a = p.parse_args(argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    timer = threading.Timer(a.max_life, lambda: os._exit(3))  # never outlive the bench
    timer.daemon = True
    timer.start()

    import app
    from genlab.ui.app import serve

    app_args = app.parse_args(sum((["--checkpoints", c] for c in a.checkpoints), []) +
                              (["--threads", str(a.threads)] if a.threads else []) + ["--port", str(a.port)])
    demo, ui = app.build(app_args)
    info = add_bench(demo, ui)
    print("bench-serve", json.dumps(info), flush=True)
    serve(demo, "127.0.0.1", a.port, css=BENCH_CSS, quiet=True, registry=ui.ex.registry)  # the app's own queue and launch settings


if __name__ == "__main__":
    main()
