"""The benchmark sections. Each takes the run context and returns a JSON-able dict.

Sizes come from ``Ctx.size(full, smoke)``. Anything broken (an endpoint error, a browser image that never
arrives, a wrong final frame) raises ``BenchError`` or is recorded in ``ctx.broken``; slowness never is.
"""
from __future__ import annotations

import asyncio
import io
import json
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import browser as B
from bench import load as L
from bench.common import (REPO, BenchError, Server, bench_env, dir_usage, free_port, python, ratio, summary_ms,
                          wait_port)
from bench.http import GradioUser, fn_ids


@dataclass
class Ctx:
    smoke: bool
    checkpoints: list[str]
    models: list[str]
    work: Path
    server: Server | None = None
    ids: dict = field(default_factory=dict)
    bases: dict = field(default_factory=dict)  # model -> (base latent JSON, first method)
    broken: list[str] = field(default_factory=list)
    results: dict = field(default_factory=dict)
    _browser: object = None
    _handlers: object = None
    _pages: dict = field(default_factory=dict)
    deadline: float = float("inf")  # perf_counter() by which the whole run should be done

    def remaining(self) -> float:
        return self.deadline - time.perf_counter()

    def size(self, full, smoke):
        return smoke if self.smoke else full

    @property
    def url(self) -> str:
        return self.server.url

    def browser(self):
        if self._browser is None and B.available():
            self._browser = B.Browser()
        return self._browser

    def page(self, model: str):
        """One browser page per model (``?model=M&seed=0``, Explore tab open), shared by the browser sections."""
        if model not in self._pages:
            pg = self.browser().page(f"{self.url}/?model={model}&seed=0")
            B.open_explore(pg)
            self._pages[model] = pg
        return self._pages[model]

    def handlers(self):
        """A local Handlers on the same checkpoints (the reference for pixel checks)."""
        if self._handlers is None:
            import torch

            from genlab.engine import Engine, default_threads, pick_device
            from genlab.explore import Explorer
            from genlab.registry import Registry, default_roots
            from genlab.ui.app import UI

            torch.set_num_threads(default_threads())  # as the server: float sums depend on the thread split
            dev = pick_device(None)
            self._handlers = UI(Explorer(Registry(default_roots(self.checkpoints), default_device=str(dev)),
                                         Engine(dev))).explore
        return self._handlers

    def close(self) -> None:
        self._pages.clear()
        if self._browser is not None:
            self._browser.close()
            self._browser = None


def arun(coro):
    """Run a coroutine to completion in a helper thread (playwright's sync API owns this thread's loop)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _stats(url, ids, clear=False) -> dict:
    u = GradioUser(url, ids)
    try:
        return json.loads((await u.api("bench_stats", [clear]))[0])
    finally:
        await u.close()


async def _api(url, ids, name, data):
    u = GradioUser(url, ids)
    try:
        return (await u.api(name, data))[0]
    finally:
        await u.close()


def explore_data(ctx: Ctx, model: str, slider: int, w: float) -> list:
    base, method = ctx.bases[model]
    return L.explore_data(model, base, method, slider, w)


async def ensure_bases(ctx: Ctx) -> None:
    """Select each model once (seed 0): its base latent and first direction method for later events."""
    u = GradioUser(ctx.url, ctx.ids)
    try:
        for m in ctx.models:
            if m not in ctx.bases:
                out, _ = await u.event("select_model", [m, 0], fetch=False)
                ctx.bases[m] = (out[0], out[1]["value"])
    finally:
        await u.close()


# ---- (e) cold start ---------------------------------------------------------------------------
def cold_start(ctx: Ctx) -> dict:
    """``python app.py --port P`` to the first image served over HTTP (select_model's explore image fetched)."""
    trials = []
    for t in range(ctx.size(2, 1)):
        temp = Path(tempfile.mkdtemp(prefix="cold-", dir=ctx.work))
        port = free_port()
        args = [python(), "app.py", "--port", str(port)] + sum((["--checkpoints", c] for c in ctx.checkpoints), [])
        log = open(ctx.work / f"cold-{t}.log", "w")
        t0 = time.perf_counter()
        env = {**bench_env(temp), "GENLAB_WARM": "1"}  # as production starts: warm-up in the background
        proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            t_port = wait_port(port, proc, 120) - t0

            async def first_image():
                url = f"http://127.0.0.1:{port}"
                ids = await fn_ids(url)
                u = GradioUser(url, ids)
                try:
                    out, tm = await u.event("select_model", [ctx.models[0], 0], fetch=False)
                    image = next(o for o in out if isinstance(o, dict) and o.get("url"))  # the explore image
                    nbytes = len(await u.fetch(image))
                    return nbytes
                finally:
                    await u.close()

            nbytes = arun(first_image())
            t_img = time.perf_counter() - t0
            if nbytes <= 0:
                raise BenchError("cold start: empty first image")
            trials.append({"port_open_s": round(t_port, 2), "first_image_s": round(t_img, 2)})
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
    best = min(x["first_image_s"] for x in trials)
    # the floor on this machine today: a bare interpreter importing torch and gradio (issue 12: report the
    # cold start as a ratio to it, measured in the same run; goal <= 1.5x)
    bare = []
    for _ in range(ctx.size(2, 1)):
        t0 = time.perf_counter()
        subprocess.run([python(), "-c", "import torch, gradio"], cwd=REPO, env=bench_env(ctx.work), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        bare.append(round(time.perf_counter() - t0, 2))
    return {"model": ctx.models[0], "trials": trials, "first_image_s_best": best,
            "first_image_s_median": sorted(x["first_image_s"] for x in trials)[len(trials) // 2],
            "import_torch_gradio_s": bare, "ratio_to_bare_import": round(best / min(bare), 2)}


# ---- (e) model switch + (f) memory per model ----------------------------------------------------
def memory_and_switch(ctx: Ctx) -> dict:
    async def go():
        u = GradioUser(ctx.url, ctx.ids)
        rows = {}
        try:
            rss0 = ctx.server.rss_mb()
            prev = rss0
            for m in ctx.models:
                _, cold = await u.event("select_model", [m, 0])
                rss = ctx.server.rss_mb()
                _, warm = await u.event("select_model", [m, 0])
                out, _ = await u.event("select_model", [m, 0], fetch=False)
                ctx.bases[m] = (out[0], out[1]["value"])
                rows[m] = {"switch_cold_ms": round(cold["total"] * 1000, 1), "switch_warm_ms": round(warm["total"] * 1000, 1),
                           "rss_delta_mb": round(rss - prev, 1), "weights_mb": weights_mb(ctx, m)}
                prev = rss
            # a second cold switch: drop the first model, then select it again
            await u.api("bench_forget", [ctx.models[0]])
            _, again = await u.event("select_model", [ctx.models[0], 0])
            return {"rss_start_mb": round(rss0, 1), "rss_after_models_mb": round(ctx.server.rss_mb(), 1),
                    "models": rows, "switch_cold_again_ms": round(again["total"] * 1000, 1),
                    "note": "switch = /select_model over the queue (load weights, compute the first direction method, "
                            "render) + fetching its image; RSS delta includes those caches, and for the first model "
                            "the process's one-time lazy init (see models.json for RSS per model alone)"}
        finally:
            await u.close()

    return arun(go())


def weights_mb(ctx: Ctx, model: str) -> float:
    from genlab.registry import Registry, default_roots

    entry = Registry(default_roots(ctx.checkpoints)).entry(model)
    return round(sum(p.stat().st_size for p in entry.folder.glob("*.safetensors")) / 2**20, 2)


# ---- (a) + (b) slider over HTTP -----------------------------------------------------------------
def analytics_state(ctx: Ctx) -> dict:
    """How many events Gradio's analytics keeps (its per-event summary grows with it, up to 10,000)."""
    st = analytics(ctx, True)
    return {"events_recorded": st["events_recorded"], "records": st["records"]}


def analytics(ctx: Ctx, on, url: str | None = None, ids: dict | None = None) -> dict:
    """Gradio's analytics summary (pandas over its recent events, for the monitoring page): ``True`` = as the
    app sets it (app.GRADIO_ENV: every 500 events), ``False`` = never, ``"gradio"`` = after every event
    (Gradio's own default, which the app overrides)."""
    import app

    value = {True: int(app.GRADIO_ENV["GRADIO_ANALYTICS_CACHE_FREQUENCY"]), False: 10**9, "gradio": 1}[on]
    keep = 10_000 if on == "gradio" else int(app.GRADIO_ENV["GRADIO_ANALYTICS_MAX_EVENTS"])
    arun(_api(url or ctx.url, ids or ctx.ids, "bench_set", ["analytics_max_events", keep]))
    return json.loads(arun(_api(url or ctx.url, ids or ctx.ids, "bench_set", ["analytics_frequency", value])))


async def _interleaved(ctx: Ctx, variants, n: int, warm: int, offset: int = 0) -> dict:
    """Round-robin over variants (name, api, queued, model|None), one user (session) per variant."""
    m0 = ctx.models[0]
    users = {name: GradioUser(ctx.url, ctx.ids) for name, *_ in variants}
    rec = {name: {"total": [], "result": [], "bytes": 0} for name, *_ in variants}
    try:
        for name, api, _, model in variants:
            if api != "bench_floor_1in":
                await users[name].select(model or m0)
        for k in range(-warm, n):
            for vi, (name, api, queued, model) in enumerate(variants):
                if api == "bench_floor_1in":
                    data = [60_000 + offset + k]
                elif model is None:
                    data = [10_000 + offset + k * 7 + vi] + explore_data(ctx, m0, 0, 0.0)
                else:
                    data = explore_data(ctx, model, 0, 0.0)
                    slider, w = L.value(offset + k + warm + 131 * vi)
                    data[3 + slider] = w
                _, t = await users[name].event(api, data, queued=queued)
                if k >= 0:
                    rec[name]["total"].append(t["total"])
                    rec[name]["result"].append(t["result"])
                    rec[name]["bytes"] = t["bytes"]
    finally:
        for u in users.values():
            await u.close()
    return rec


def slider_http(ctx: Ctx) -> dict:
    """Floor vs /explore per model, queued (join + SSE) and queue=False (one POST), interleaved; the floor with
    one input; 28 px webp/jpeg; then the floor and the first model again with Gradio's own analytics default (a summary after every event)."""
    n = ctx.size(120, 20)
    warm = ctx.size(10, 3)
    m0 = ctx.models[0]
    variants = [("floor", "bench_floor", True, None), ("floor_nq", "bench_floor_nq", False, None),
                ("floor_1in", "bench_floor_1in", True, None)]
    for m in ctx.models:
        variants += [(f"{m}", "explore", True, m), (f"{m}_nq", "bench_explore_nq", False, m)]
    variants += [(f"{m0}_webp", "bench_explore_webp", True, m0), (f"{m0}_jpeg", "bench_explore_jpeg", True, m0),
                 (f"{m0}_inline", "bench_explore_inline", True, m0), (f"{m0}_inline_nq", "bench_explore_inline_nq", False, m0)]
    arun(ensure_bases(ctx))
    rec = arun(_interleaved(ctx, variants, n, warm))
    off = [("floor_gradio_analytics", "bench_floor", True, None), (f"{m0}_gradio_analytics", "explore", True, m0)]
    n_off = ctx.size(100, 15)
    analytics(ctx, "gradio")
    try:
        rec.update(arun(_interleaved(ctx, off, n_off, warm, offset=5000)))
    finally:
        analytics(ctx, True)
    out = {"events_per_variant": n, "events_gradio_analytics": n_off, "variants": {}}
    for name, api, queued, model in variants + off:
        s = summary_ms(rec[name]["total"])
        s["result_only"] = summary_ms(rec[name]["result"])
        s["bytes"] = rec[name]["bytes"]
        s["api"], s["queued"] = api, queued
        ref = "floor_gradio_analytics" if name.endswith("_gradio_analytics") else ("floor" if queued else "floor_nq")
        floor = out["variants"].get(ref)
        if floor and model is not None:
            s["ratio_p50_to_floor"] = ratio(s.get("p50"), floor.get("p50"))
        out["variants"][name] = s
    return out


# ---- (a) + (b) slider in the browser ------------------------------------------------------------
# explore variants: key -> (slider, image container); all stand for direction 1 of the current model
BROWSER_VARIANTS = {"queued": ("#dir-0", "#explore-image"), "nq": ("#bench-explore-nq", "#bench-nq-image"),
                    "inline": ("#bench-inline", "#bench-inline-image"),
                    "inline_nq": ("#bench-inline-nq", "#bench-inline-nq-image")}
FLOORS = {"floor": ("#bench-floor", "#bench-floor-image"), "floor_nq": ("#bench-floor-nq", "#bench-floor-nq-image")}


def slider_browser(ctx: Ctx) -> dict:
    """In the page: floor and /explore (queued, as the app) for every model; on the first model's page also
    queue=False, the inline-PNG variants and the app with Gradio's own analytics default. Interleaved chunks."""
    br = ctx.browser()
    if br is None:
        return {"skipped": f"{B.CHROMIUM} not installed"}
    n = ctx.size(100, 12)
    n_floor = ctx.size(30, 12)
    chunk = 20 if not ctx.smoke else 6
    models = ctx.models if not ctx.smoke else ctx.models[:1]
    timeout = ctx.size(5000, 10000)
    gap = 15
    res = {"events_per_model": n, "floor_events_per_page": n_floor, "models": {}, "floor": {},
           "note": "variants other than 'queued' (the app's wiring) on the first model's page only"}
    floor_all = {"floor": [], "floor_nq": []}
    counter = [20_000]

    def floor_values(k):
        counter[0] += k
        return range(counter[0] - k, counter[0])

    for mi, m in enumerate(models):
        pg = ctx.page(m)
        first = mi == 0
        # 'inline' (queued) is measured over HTTP only: in the page it tracks 'queued' (time budget)
        kinds = ["queued", "nq", "inline_nq"] if first and not ctx.smoke else ["queued", "nq"] if first else ["queued"]
        floors = ["floor", "floor_nq"] if "nq" in kinds else ["floor"]
        vals = [round(-3.0 + 0.05 * i, 2) for i in range(121)][:n]
        for f in floors:
            B.measure(pg, *FLOORS[f], floor_values(3), timeout_ms=timeout)  # warm
        for key in kinds:
            B.measure(pg, *BROWSER_VARIANTS[key], [0.5, 0.55], timeout_ms=timeout)  # warm (values revisited later)
        rec = {k: [] for k in kinds + floors}
        steps = max(1, n // chunk)
        fchunk = max(1, n_floor // steps)
        for c in range(steps):
            part = vals[c * chunk:(c + 1) * chunk] if c < steps - 1 else vals[c * chunk:]
            for key in kinds:
                if key in ("queued", "nq"):
                    f = "floor" if key == "queued" else "floor_nq"
                    rec[f] += B.measure(pg, *FLOORS[f], floor_values(fchunk), gap_ms=gap, timeout_ms=timeout)
                # the app's wiring gets every value; the side-by-side variants every other one (time budget)
                sub = part if key == "queued" or ctx.smoke else part[c % 2::2]
                rec[key] += B.measure(pg, *BROWSER_VARIANTS[key], sub, gap_ms=gap, timeout_ms=timeout)
        unchanged = {}
        for key, vs in rec.items():
            missing = [i for i, v in enumerate(vs) if v is None]
            if missing and key in BROWSER_VARIANTS:  # a slider step may legitimately give the same pixels
                sent = vals if key == "queued" or ctx.smoke else [
                    v for c in range(steps) for v in (vals[c * chunk:(c + 1) * chunk] if c < steps - 1
                                                      else vals[c * chunk:])[c % 2::2]]
                same = arun(_same_images(ctx, m, [(sent[i] if i < len(sent) else None) for i in missing]))
                unchanged[key] = sum(same)
                missing = [i for i, ok in zip(missing, same) if not ok]
            if missing:
                ctx.broken.append(f"browser {m} {key}: {len(missing)} of {len(vs)} events showed no new image")
        for f in floors:
            floor_all[f] += rec[f]
        if first and not ctx.smoke:
            k = 20
            analytics(ctx, "gradio")
            try:
                off_floor, off_q = [], []
                for c in range(0, k, 10):  # interleaved blocks, like the main measurement
                    off_floor += B.measure(pg, *FLOORS["floor"], floor_values(10), gap_ms=gap, timeout_ms=timeout)
                    off_q += B.measure(pg, *BROWSER_VARIANTS["queued"],
                                       [round(3.0 - 0.05 * i, 2) for i in range(1 + c, 11 + c)], gap_ms=gap,
                                       timeout_ms=timeout)
            finally:
                analytics(ctx, True)
            res["gradio_analytics"] = {"model": m, "floor": summary_ms(off_floor), "queued": summary_ms(off_q)}
        row = {key: summary_ms(rec[key]) for key in kinds}
        row.update({f"{f}_this_page": summary_ms(rec[f]) for f in floors})
        row.update(page_errors=pg.errors[:5], failed_resources=pg.not_found[:5], unchanged_pixels=unchanged)
        res["models"][m] = row
        if pg.errors:
            ctx.broken.append(f"browser {m}: page errors {pg.errors[:3]}")
    res["floor"] = {"queued": summary_ms(floor_all["floor"]), "nq": summary_ms(floor_all["floor_nq"])}
    ref = {k: res["floor"]["nq" if k.endswith("nq") else "queued"].get("p50") for k in BROWSER_VARIANTS}
    for m, row in res["models"].items():  # each variant against the floor with the same queue setting
        row["ratio_p50_to_floor"] = {k: ratio(row[k].get("p50"), ref[k]) for k in BROWSER_VARIANTS if k in row}
    return res


async def _same_images(ctx: Ctx, m: str, values: list) -> list[bool]:
    """For each sweep value v: does /explore give the very same file (content hash) for v and v - 0.05?"""
    u = GradioUser(ctx.url, ctx.ids)
    out = []
    try:
        await u.select(m)
        for v in values:
            if v is None:
                out.append(False)
                continue
            urls = []
            for w in (v, round(v - 0.05, 2) if v > -3.0 else 0.0):
                res, _ = await u.event("explore", explore_data(ctx, m, 0, w), fetch=False)
                urls.append(res[0]["url"].rsplit("/", 2)[-2])
            out.append(urls[0] == urls[1])
    finally:
        await u.close()
    return out


# ---- (c) drag --------------------------------------------------------------------------------
def drag(ctx: Ctx) -> dict:
    import numpy as np

    br = ctx.browser()
    if br is None:
        return {"skipped": f"{B.CHROMIUM} not installed"}
    seconds = ctx.size(3.0, 1.5)
    models = ctx.models if not ctx.smoke else ctx.models[:1]
    h = ctx.handlers()
    arun(ensure_bases(ctx))
    out = {"seconds": seconds, "models": {}}
    for m in models:
        pg = ctx.page(m)
        base, method = ctx.bases[m]  # the page opened ?model=m&seed=0, as select_model(m, 0) did
        row = {}
        # the app (with its drag preview); on the first model also the server path alone: the app's slider
        # without the preview, and the queue=False / inline-PNG variants (bench sliders have no preview)
        kinds = [("app", *BROWSER_VARIANTS["queued"])]
        if m == models[0]:
            kinds.append(("queued_no_preview", *BROWSER_VARIANTS["queued"]))
            kinds += [(k, *BROWSER_VARIANTS[k]) for k in ("nq", "inline_nq")]
        for key, slider, img in kinds[:1] if ctx.smoke else kinds:
            r = B.drag(pg, slider, img, slider, seconds=seconds, preview=key == "app")
            shown = B.image_array(pg, img)
            expected = h.explore(m, base, method, r["final_value"], *[0] * 7, *[0] * 4, 0, 0)
            diff = (int(np.abs(shown.astype(int) - expected.astype(int)).max()) if shown.shape == expected.shape
                    else 255)
            r["final_max_abs_diff"] = diff
            # exact on the CPU; on a GPU the bench process and the server may pick different conv algorithms
            r["final_image_right"] = diff <= (0 if str(h.ex.engine.device) == "cpu" else 1)
            if not r["final_image_right"]:
                ctx.broken.append(f"drag {m} {key}: the final image does not match the final slider value "
                                  f"{r['final_value']}")
            row[key] = r
        out["models"][m] = row
    return out


# ---- (d) grids + formats ----------------------------------------------------------------------
def grid(ctx: Ctx) -> dict:
    import numpy as np
    from PIL import Image

    sizes = (16, 64, 256) if not ctx.smoke else (16, 64)
    reps = ctx.size(4, 1)
    models = ctx.models if not ctx.smoke else ctx.models[:1]
    apis = {"png": "samples", "webp": "bench_samples_webp", "jpeg": "bench_samples_jpeg"}

    async def go():
        u = GradioUser(ctx.url, ctx.ids)
        res = {}
        try:
            for m in models:
                res[m] = {}
                for n in sizes:
                    bare = json.loads((await u.api("bench_bare", [m, n, reps + 2]))[0])
                    row = {"bare_decode_ms": round(1000 * sorted(bare["decode"])[len(bare["decode"]) // 2], 3),
                           "bare_engine_uint8_ms": round(1000 * sorted(bare["engine_uint8"])[len(bare["engine_uint8"]) // 2], 3)}
                    row["bare_img_per_s"] = round(n / (row["bare_decode_ms"] / 1000), 1)
                    pixels = {}
                    for fmt, api in apis.items():
                        times = []
                        for r in range(reps + 1):  # r = 0 warms this size and format
                            out, t = await u.event(api, [m, 1000 + r, n, 1.0, 1.0, False, False, False])
                            if r > 0:
                                times.append(t["total"])
                            if r == 1:
                                body = await u.fetch(out[0])
                                pixels[fmt] = np.asarray(Image.open(io.BytesIO(body)).convert("L"), dtype=np.int16)
                                row[f"{fmt}_bytes"] = len(body)
                        s = summary_ms(times)
                        row[f"{fmt}_ms_p50"] = s.get("p50")
                        row[f"{fmt}_img_per_s"] = round(n / (s["p50"] / 1000), 1) if s.get("p50") else None
                        row[f"{fmt}_ratio_to_bare"] = ratio(row[f"{fmt}_img_per_s"], row["bare_img_per_s"])
                    for fmt in ("webp", "jpeg"):
                        if fmt in pixels and "png" in pixels and pixels[fmt].shape == pixels["png"].shape:
                            row[f"{fmt}_mean_abs_err"] = round(float(np.abs(pixels[fmt] - pixels["png"]).mean()), 3)
                    res[m][str(n)] = row
        finally:
            await u.close()
        return res

    return {"reps": reps, "note": "endpoint time = queue join -> result -> image fetched; bare = model.decode in "
                                  "chunks of 64 (the app's Engine.max_batch) inside the server process",
            "models": arun(go())}


# ---- (f) RSS and temp files after 1,000 events -------------------------------------------------
def growth(ctx: Ctx) -> dict:
    n = ctx.size(1000, 100)
    m = ctx.models[0]

    async def go():
        await ensure_bases(ctx)
        u = GradioUser(ctx.url, ctx.ids)
        await u.select(m)
        try:
            for k in range(30):  # warm
                await u.event("explore", explore_data(ctx, m, 11, round(-1.5 + 0.05 * k, 2)))
            before = {"rss_mb": round(ctx.server.rss_mb(), 1), "temp": dir_usage(ctx.server.temp)}
            lat = []
            for k in range(n):
                slider, w = L.value(2000 + k)
                data = explore_data(ctx, m, 0, 0.0)
                data[3 + slider] = w
                data[3 + (slider + 1) % 12] = 0.05 * (k // 1452)
                _, t = await u.event("explore", data)
                lat.append(t["total"])
            after = {"rss_mb": round(ctx.server.rss_mb(), 1), "temp": dir_usage(ctx.server.temp)}
            return before, after, lat
        finally:
            await u.close()

    before, after, lat = arun(go())
    return {"events": n, "model": m, "before": before, "after": after,
            "rss_growth_mb": round(after["rss_mb"] - before["rss_mb"], 1),
            "temp_files_added": after["temp"]["files"] - before["temp"]["files"],
            "temp_bytes_added": after["temp"]["bytes"] - before["temp"]["bytes"], "latency_ms": summary_ms(lat),
            "latency_first_100_ms": summary_ms(lat[:100]), "latency_last_100_ms": summary_ms(lat[-100:]),
            "note": "Janitor trims GRADIO_TEMP_DIR every 30 s to 2,000 files / 15 min; each event writes one "
                    "new folder + PNG"}


# ---- profile of the slider path ----------------------------------------------------------------
def profile(ctx: Ctx) -> dict:
    n = ctx.size(150, 20)
    m = ctx.models[0]

    async def run_events(u, api, queued, offset):
        for k in range(n):
            if api.startswith("bench_floor"):
                data = [40_000 + offset + k] + explore_data(ctx, m, 0, 0.0)
            else:
                slider, w = L.value(offset + k)
                data = explore_data(ctx, m, 0, 0.0)
                data[3 + slider] = w
            await u.event(api, data, queued=queued)

    async def go():
        await ensure_bases(ctx)
        u = GradioUser(ctx.url, ctx.ids)
        await u.select(m)
        out = {}
        try:
            await _stats(ctx.url, ctx.ids, clear=True)
            await run_events(u, "bench_floor", True, 0)
            out["gradio_phases_floor"] = (await _stats(ctx.url, ctx.ids, clear=True)).get("gradio_profile")
            await run_events(u, "explore", True, 3000)
            out["gradio_phases_explore"] = (await _stats(ctx.url, ctx.ids, clear=True)).get("gradio_profile")
            await u.api("bench_profile", ["start", 1.0])
            t0 = time.perf_counter()
            await run_events(u, "explore", True, 4000)
            out["sampler_explore_queued"] = json.loads((await u.api("bench_profile", ["stop", 1.0]))[0])
            out["sampler_explore_queued"]["wall_s"] = round(time.perf_counter() - t0, 2)
            await u.api("bench_profile", ["start", 1.0])
            await run_events(u, "bench_explore_nq", False, 5000)
            out["sampler_explore_nq"] = json.loads((await u.api("bench_profile", ["stop", 1.0]))[0])
            await _stats(ctx.url, ctx.ids, clear=True)
        finally:
            await u.close()
        return out

    res = arun(go())
    res["events"] = n
    res["in_process_handler"] = handler_cost(ctx, m)
    return res


def handler_cost(ctx: Ctx, m: str) -> dict:
    """Handlers.explore alone (local, same checkpoints, 1 thread): the part genlab owns, vs the model forward."""
    import torch

    h = ctx.handlers()
    base, method = ctx.bases[m]
    ckpt = h.ex.generative(m)
    z = torch.zeros(1, ckpt.manifest.latent_size)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        h.explore(m, base, method, 0.5, *[0] * 7, *[0] * 4, 0, 0)
        t = []
        for k in range(200):
            t0 = time.perf_counter()
            h.explore(m, base, method, round(-3 + 0.03 * k, 2), *[0] * 7, *[0] * 4, 0, 0)
            t.append(time.perf_counter() - t0)
        f = []
        with torch.inference_mode():
            for _ in range(200):
                t0 = time.perf_counter()
                ckpt.model.decode(z)
                f.append(time.perf_counter() - t0)
        e = []
        for _ in range(200):
            t0 = time.perf_counter()
            h.ex.engine.decode_uint8(ckpt, z)
            e.append(time.perf_counter() - t0)
    finally:
        torch.set_num_threads(threads)
    return {"handlers_explore": summary_ms(t), "model_decode_b1": summary_ms(f), "engine_decode_uint8_b1": summary_ms(e)}


# ---- (g) concurrent users ----------------------------------------------------------------------
def users(ctx: Ctx) -> dict:
    seconds = ctx.size(60.0, 5.0)
    ns = (1, 10, 30) if not ctx.smoke else (1, 10)
    m = ctx.models[0]
    arun(ensure_bases(ctx))
    base, method = ctx.bases[m]
    res = {"model": m, "runs": {}}
    tabs = L.sessions(ctx.url, ctx.ids, m, max(ns))
    for n in ns:
        r = L.run(ctx.url, ctx.ids, n, seconds, m, base, method, sessions=tabs)
        r.pop("_raw", None)
        r["rss_mb_after"] = round(ctx.server.rss_mb(), 1)
        r["gradio_analytics_records_after"] = analytics_state(ctx)
        res["runs"][str(n)] = r
        if r["errors"]:
            ctx.broken.append(f"load N={n}: {r['errors']} errors, e.g. {r['error_samples'][:2]}")
    return res


def users_variants(ctx: Ctx) -> dict:
    """Side by side under the same load: queued (app), micro-batched decode (2 ms / 0 ms), queue=False."""
    seconds = ctx.size(8.0, 2.0)
    n = ctx.size(30, 10)
    m = ctx.models[0]
    arun(ensure_bases(ctx))
    base, method = ctx.bases[m]
    res = {"users": n, "seconds": seconds, "model": m, "runs": {}}
    variants = [("queued", "explore", True), ("batched_2ms", "bench_explore_batched", True),
                ("batched_0ms", "bench_explore_batched0", True), ("queue_false", "bench_explore_nq", False),
                ("queued_gradio_analytics", "explore", True), ("inline_queue_false", "bench_explore_inline_nq", False)]
    if ctx.smoke:
        variants = [variants[0], variants[1], variants[4]]
    rounds = ctx.size(3, 1)
    budget = ctx.remaining() - ctx.size(50, 10)  # keep time for the threads section
    if budget < seconds * len(variants) * 1.3:
        seconds = max(ctx.size(4.0, 1.0), budget / (len(variants) * 1.3))
        res["seconds_shortened_to_fit"] = round(seconds, 1)
        res["seconds"] = round(seconds, 1)
    parts = {name: [] for name, *_ in variants}
    tabs = L.sessions(ctx.url, ctx.ids, m, n)
    for r in range(rounds):  # rotate the order each round: no variant always runs first or last
        order = variants[r % len(variants):] + variants[:r % len(variants)]
        for name, api, queued in order:
            off = name.endswith("gradio_analytics")
            if off:
                analytics(ctx, "gradio")
            try:
                parts[name].append(L.run(ctx.url, ctx.ids, n, seconds / rounds, m, base, method, api_name=api,
                                         queued=queued, sessions=tabs))
            finally:
                if off:
                    analytics(ctx, True)
    for name, *_ in variants:
        r = L.merge(parts[name])
        res["runs"][name] = r
        if r["errors"]:
            ctx.broken.append(f"load variant {name}: {r['errors']} errors, e.g. {r['error_samples'][:2]}")
    res["analytics_records_after"] = analytics_state(ctx)
    res["batchers"] = arun(_stats(ctx.url, ctx.ids)).get("batchers")
    return res


# ---- threads 1 vs 2 (a second server) -----------------------------------------------------------
def threads(ctx: Ctx) -> dict:
    """Two fresh servers with 1 (the app's default here: cores - 1) and 2 intra-op threads, measured in
    alternating rounds: single-user slider events, 64-tile grids, then 10 users. Gradio's analytics summary is
    off on both, so only the thread setting differs."""
    m = ctx.models[0]
    rounds = ctx.size(2, 1) if ctx.remaining() > 40 else 1
    n = ctx.size(15, 10)
    seconds = ctx.size(4.0, 2.0)
    # two fresh servers: the main one has served thousands of events and sessions by now
    fresh = {t: Server(ctx.work, ctx.checkpoints, threads=t, max_life_s=300, name=f"threads{t}") for t in (1, 2)}
    servers = {t: (srv, arun(fn_ids(srv.url))) for t, srv in fresh.items()}
    acc = {t: {"single": [], "grid": [], "load": []} for t in servers}
    try:
        for t, (srv, ids) in servers.items():
            analytics(ctx, False, srv.url, ids)

        async def single(srv, ids, t, r):
            u = GradioUser(srv.url, ids)
            try:
                base, method = await u.select(m)
                lat, grid_t = [], []
                for k in range(-3, n):
                    slider, w = L.value(6000 + 400 * t + 40 * r + k)
                    _, tm = await u.event("explore", L.explore_data(m, base, method, slider, w))
                    if k >= 0:
                        lat.append(tm["total"])
                for q in range(3):
                    _, tm = await u.event("samples", [m, 500 + 10 * r + q, 64, 1.0, 1.0, False, False, False])
                    if q:
                        grid_t.append(tm["total"])
                return base, method, lat, grid_t
            finally:
                await u.close()

        for r in range(rounds):
            for t in ((1, 2) if r % 2 == 0 else (2, 1)):
                srv, ids = servers[t]
                base, method, lat, grid_t = arun(single(srv, ids, t, r))
                acc[t]["single"] += lat
                acc[t]["grid"] += grid_t
                acc[t]["load"].append(L.run(srv.url, ids, 10, seconds, m, base, method))
        out = {}
        for t, (srv, ids) in servers.items():
            load = L.merge(acc[t]["load"])
            if load["errors"]:
                ctx.broken.append(f"threads={t} load: {load['errors']} errors")
            out[f"threads_{t}"] = {"single_user_explore": summary_ms(acc[t]["single"]), "grid64_ms": summary_ms(acc[t]["grid"]),
                                   "load_10_users": {k: load[k] for k in ("latency_ms", "errors", "throughput_per_s")},
                                   "torch_threads_in_handler": arun(_stats(srv.url, ids))["torch_threads_here"]}
        out["rounds"] = rounds
        return out
    finally:
        for srv in fresh.values():
            srv.stop()


# ---- model micro benchmarks + GPU (subprocess) ------------------------------------------------
def models(ctx: Ctx) -> dict:
    out_file = ctx.work / "models.json"
    args = [python(), "-m", "bench.models", "--out", str(out_file), "--models", ",".join(ctx.models)]
    args += sum((["--checkpoints", c] for c in ctx.checkpoints), [])
    if ctx.smoke:
        args.append("--smoke")
    elif ctx.remaining() < 420:
        args.append("--no-compile")  # torch.compile costs 5-60 s per shape: only when the budget allows
    env = bench_env(ctx.work / "gradio-models")
    env["TORCHINDUCTOR_CACHE_DIR"] = str(ctx.work / "inductor-cache")  # cold compile, as a fresh deployment pays
    r = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=ctx.size(420, 90))
    if r.returncode != 0:
        raise BenchError(f"bench.models failed: {r.stderr[-1500:]}")
    return json.loads(out_file.read_text())
