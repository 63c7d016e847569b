"""genlab benchmark suite: ``python -m bench.run [--smoke] [--only a,b,...] [--checkpoints DIR] [--tiny]``.

Sections (in run order): startup, models, memory, slider_http, slider_browser, drag, grid, growth, profile,
users, users_variants, threads (users_variants shortens itself to keep the full run under 10 minutes). Each writes ``bench/results/<section>.json`` (``--smoke``: under
``bench/results/smoke/``) with machine info; ``summary.json`` holds the table printed at the end.

Targets are reported (PASS/FAIL column), never asserted: the exit status is non-zero only when something is
broken (an endpoint errors, a server does not start, the browser never shows an image, a wrong final frame).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench import sections as S
from bench.common import RESULTS, BenchError, Server, available_models, machine_info, tiny_root, write_result

ORDER = ["startup", "models", "memory", "slider_http", "slider_browser", "drag", "grid", "growth", "profile", "users",
         "users_variants", "threads"]
NO_SERVER = {"startup", "models"}
SMOKE_SKIP = {"threads"}
FUNCS = {"startup": S.cold_start, "memory": S.memory_and_switch, "slider_http": S.slider_http,
         "slider_browser": S.slider_browser, "drag": S.drag, "grid": S.grid, "growth": S.growth,
         "profile": S.profile, "users": S.users, "users_variants": S.users_variants, "threads": S.threads,
         "models": S.models}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="small and quick (CI): < 2 minutes")
    p.add_argument("--only", default="", help=f"comma-separated sections of: {','.join(ORDER)}")
    p.add_argument("--checkpoints", action="append", default=[], help="extra registry root (repeatable)")
    p.add_argument("--tiny", action="store_true", help="add a temp root of small untrained checkpoints")
    p.add_argument("--models", default="", help="comma-separated model ids (default: the shipped ones)")
    p.add_argument("--out-dir", default=None, help="results folder (default bench/results[/smoke])")
    return p.parse_args(argv)


# ---- summary ---------------------------------------------------------------------------------
def _f(v, nd=1):
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def _status(ok) -> str:
    return "" if ok is None else ("PASS" if ok else "FAIL")


def summarize(res: dict) -> list[list]:
    """Rows: [section, metric, value, reference, ratio, target, status]."""
    rows = []

    def add(sec, metric, value, ref=None, rat=None, target="", ok=None):
        rows.append([sec, metric, value, ref, rat, target, _status(ok)])

    sh = res.get("slider_http", {}).get("variants", {})
    for name, v in sh.items():
        fl = "floor_gradio_analytics" if name.endswith("_gradio_analytics") else "floor_nq" if name.endswith("_nq") else "floor"
        ref = None if name.startswith("floor") else sh.get(fl, {}).get("p50")
        add("(a,b) http", f"{name} p50/p95 ms", f"{_f(v.get('p50'))}/{_f(v.get('p95'))}", _f(ref),
            _f(v.get("ratio_p50_to_floor"), 2))
    sb = res.get("slider_browser", {})
    if "floor" in sb:
        add("(a) browser", "floor p50/p95 ms (queued)", f"{_f(sb['floor']['queued'].get('p50'))}/{_f(sb['floor']['queued'].get('p95'))}")
        add("(a) browser", "floor p50/p95 ms (queue=False)", f"{_f(sb['floor']['nq'].get('p50'))}/{_f(sb['floor']['nq'].get('p95'))}")
        off = sb.get("gradio_analytics")
        if off:
            add("(a,b) browser", f"Gradio's analytics default: floor / {off['model']} p50 ms",
                f"{_f(off['floor'].get('p50'))} / {_f(off['queued'].get('p50'))}", "", _f(S.ratio(off["queued"].get("p50"), off["floor"].get("p50")), 2))
        for m, r in sb.get("models", {}).items():
            for key, label in (("queued", ""), ("nq", " queue=False"), ("inline", " inline PNG"),
                               ("inline_nq", " inline PNG + queue=False")):
                if key not in r:
                    continue
                rt = r["ratio_p50_to_floor"].get(key)
                ref = sb["floor"]["nq" if key.endswith("nq") else "queued"].get("p50")
                add("(b) browser", f"{m}{label} p50/p95 ms", f"{_f(r[key].get('p50'))}/{_f(r[key].get('p95'))}",
                    _f(ref), _f(rt, 2), "p50 <= 1.2x floor", rt is not None and rt <= 1.2)
    for m, r in res.get("drag", {}).get("models", {}).items():
        for key, d in r.items():
            ok = d.get("updates_per_s", 0) >= 30 and d.get("final_image_right")
            add("(c) drag", f"{m} {key} updates/s (server images + preview frames), final right, moves",
                f"{_f(d.get('updates_per_s'))} ({d.get('server_images')}+{d.get('preview_frames')}), "
                f"{_f(d.get('final_image_right'))}, {d.get('mouse_moves')}", "", "",
                ">= 30/s and right" if key == "app" else "", ok if key == "app" else None)
    for m, by_n in res.get("grid", {}).get("models", {}).items():
        for n, g in by_n.items():
            rt = g.get("png_ratio_to_bare")
            add("(d) grid", f"{m} {n} tiles png img/s", _f(g.get("png_img_per_s")), _f(g.get("bare_img_per_s")), _f(rt, 2),
                ">= 0.8x bare (64)" if n == "64" else "", (rt is not None and rt >= 0.8) if n == "64" else None)
            add("(d) grid", f"{m} {n} tiles webp/jpeg img/s", f"{_f(g.get('webp_img_per_s'))}/{_f(g.get('jpeg_img_per_s'))}",
                _f(g.get("bare_img_per_s")), f"{_f(g.get('webp_ratio_to_bare'), 2)}/{_f(g.get('jpeg_ratio_to_bare'), 2)}")
    st = res.get("startup", {})
    if st.get("trials"):
        v, r = st["first_image_s_median"], st.get("ratio_to_bare_import")
        bare = min(st.get("import_torch_gradio_s") or [0]) or None
        add("(e) start", "cold start to first image s (best) vs bare import torch, gradio",
            _f(st["first_image_s_best"], 2), _f(bare, 2), _f(r, 2), "<= 1.5x bare", r is not None and r <= 1.5)
    mem = res.get("memory", {})
    for m, r in mem.get("models", {}).items():
        add("(e) switch", f"{m} cold/warm switch ms", f"{_f(r['switch_cold_ms'])}/{_f(r['switch_warm_ms'])}")
        add("(f) memory", f"{m} RSS delta MB (weights MB)", f"{_f(r['rss_delta_mb'])} ({_f(r['weights_mb'], 2)})")
    gr_ = res.get("growth", {})
    if gr_:
        g = gr_["rss_growth_mb"]
        add("(f) memory", f"RSS after {gr_['events']} events MB (growth)", f"{_f(gr_['after']['rss_mb'])} ({_f(g)})",
            "", "", "growth < 50 MB", g < 50)
        add("(f) memory", f"slider p50 ms, first / last 100 of the {gr_['events']}",
            f"{_f(gr_['latency_first_100_ms'].get('p50'))} / {_f(gr_['latency_last_100_ms'].get('p50'))}")
        add("(f) files", "temp files before/after (bytes after)",
            f"{gr_['before']['temp']['files']}/{gr_['after']['temp']['files']} ({gr_['after']['temp']['bytes']})")
    for n, r in res.get("users", {}).get("runs", {}).items():
        lat = r["latency_ms"]
        ok = (lat.get("p95") or 1e9) < 150 and r["errors"] == 0 if n == "30" else None
        add("(g) users", f"N={n} p50/p95 ms, errors, events/s",
            f"{_f(lat.get('p50'))}/{_f(lat.get('p95'))}, {r['errors']}, {_f(r['throughput_per_s'])}",
            f"offered {_f(r['offered_per_s'])}/s", "", "N=30: p95 < 150, 0 err" if n == "30" else "", ok)
    uv = res.get("users_variants", {})
    base_tp = uv.get("runs", {}).get("queued", {}).get("throughput_per_s")
    for name, r in uv.get("runs", {}).items():
        lat = r["latency_ms"]
        add("(g) variants", f"N={uv['users']} {name} p50/p95 ms, errors, events/s",
            f"{_f(lat.get('p50'))}/{_f(lat.get('p95'))}, {r['errors']}, {_f(r['throughput_per_s'])}", "",
            _f(S.ratio(r["throughput_per_s"], base_tp), 2))
    for t, r in res.get("threads", {}).items():
        if not t.startswith("threads_"):
            continue
        add("threads", f"{t}: 1 user p50 ms | grid64 p50 | 10 users p50/p95, ev/s",
            f"{_f(r['single_user_explore'].get('p50'))} | {_f(r['grid64_ms'].get('p50'))} | "
            f"{_f(r['load_10_users']['latency_ms'].get('p50'))}/{_f(r['load_10_users']['latency_ms'].get('p95'))}, "
            f"{_f(r['load_10_users']['throughput_per_s'])}")
    for m, r in res.get("models", {}).get("models", {}).items():
        add("models", f"{m} b1 ms eager/channels_last/compile (t1)",
            f"{_f(r.get('eager_t1_b1_ms'), 3)}/{_f(r.get('channels_last_t1_b1_ms'), 3)}/{_f(r.get('compile_t1_b1_ms'), 3)}",
            f"warm-up {_f(r.get('compile_warmup_b1_s'))} s")
        if "eager_t1_b64_ms" in r:
            add("models", f"{m} b64 ms eager t1/t2, channels_last, compile",
                f"{_f(r.get('eager_t1_b64_ms'), 2)}/{_f(r.get('eager_t2_b64_ms'), 2)}, "
                f"{_f(r.get('channels_last_t1_b64_ms'), 2)}, {_f(r.get('compile_t1_b64_ms'), 2)}",
                f"warm-up {_f(r.get('compile_warmup_b64_s'))} s")
    gpu = res.get("models", {}).get("gpu", {})
    if gpu and "skipped" not in gpu:
        m0 = next(iter(res.get("slider_http", {}).get("variants", {}) and [k for k in res["slider_http"]["variants"]
                                                                           if not k.startswith("floor")][:1]), None)
        if m0:
            v = res["slider_http"]["variants"][m0]
            add("gpu", f"{m0} slider p50 over HTTP ms (served on the GPU)", _f(v.get("p50")))
        for m, r in gpu.items():
            if isinstance(r, dict):
                add("gpu", f"{m} batch-256 bf16 TFLOP/s (efficiency)", f"{_f(r['bf16_tflops'], 3)}",
                    "790", _f(r["bf16_efficiency_vs_peak"], 6))
    elif gpu:
        add("gpu", "GPU part", f"skipped: {gpu['skipped']}")
    return rows


def table(rows: list[list]) -> str:
    head = ["section", "metric", "value", "ref", "ratio", "target", "status"]
    cells = [head] + [[_f(c) if not isinstance(c, str) else c for c in r] for r in rows]
    widths = [min(60, max(len(r[i]) for r in cells)) for i in range(len(head))]
    lines = []
    for k, r in enumerate(cells):
        lines.append("  ".join(c[:60].ljust(w) for c, w in zip(r, widths)).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ---- main ------------------------------------------------------------------------------------
def main(argv=None) -> int:
    a = parse_args(argv)
    t_run = time.perf_counter()
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    only = [s.strip() for s in a.only.split(",") if s.strip()]
    unknown = [s for s in only if s not in ORDER]
    if unknown:
        print(f"unknown sections {unknown}; choose from {ORDER}", file=sys.stderr)
        return 2
    todo = [s for s in ORDER if (s in only if only else not (a.smoke and s in SMOKE_SKIP))]
    out_dir = Path(a.out_dir) if a.out_dir else (RESULTS / "smoke" if a.smoke else RESULTS)
    checkpoints = list(a.checkpoints)
    if a.tiny:
        checkpoints.append(str(tiny_root()))
    models = [m for m in a.models.split(",") if m] or available_models(checkpoints)
    if not models:
        print("no generative checkpoints found (train them, or pass --checkpoints DIR / --tiny)", file=sys.stderr)
        return 2
    machine = machine_info()
    work = Path(tempfile.mkdtemp(prefix="genlab-bench-"))
    ctx = S.Ctx(smoke=a.smoke, checkpoints=checkpoints, models=models, work=work,
                deadline=t_run + (105 if a.smoke else 470))  # + ~90 s of set-up and servers: < 10 min
    timings, errors, loads = {}, {}, {}
    server_error = None
    print(f"genlab bench ({'smoke' if a.smoke else 'full'}): {', '.join(todo)}; models {models}; work {work}", flush=True)
    try:
        if os.getloadavg()[0] > 1.5:
            print(f"warning: load average {os.getloadavg()} - other work is running; timings will be noisy",
                  flush=True)
        for name in todo:
            t0 = time.perf_counter()
            load_before = os.getloadavg()[0]
            if name not in NO_SERVER and server_error is not None:
                errors[name] = f"skipped: the bench server did not start ({server_error})"
                print(f"  {name}: skipped (no server)", flush=True)
                continue
            try:
                if name not in NO_SERVER and ctx.server is None:
                    try:
                        ctx.server = Server(work, checkpoints, max_life_s=1200 if not a.smoke else 300)
                    except BenchError as exc:
                        server_error = str(exc)
                        tail = "\n".join(open(work / "server-main.log", errors="replace").read().splitlines()[-6:])
                        raise BenchError(f"{exc}; log tail:\n{tail}") from None
                    ctx.ids = S.arun(S.fn_ids(ctx.url))
                    ctx.results["server"] = {"start_s": round(ctx.server.start_s, 2), "rss_mb": round(ctx.server.rss_mb(), 1)}
                ctx.results[name] = FUNCS[name](ctx)
            except Exception as exc:  # noqa: BLE001 - a broken section is reported, the others still run
                errors[name] = f"{type(exc).__name__}: {exc}"
                ctx.broken.append(f"{name}: {type(exc).__name__}: {str(exc)[:500]}")
                traceback.print_exc()
                if ctx.server is not None:
                    print(ctx.server.log_tail(20), file=sys.stderr)
            timings[name] = round(time.perf_counter() - t0, 1)
            loads[name] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
            print(f"  {name}: {timings[name]} s, load avg {loads[name][0]} -> {loads[name][1]}"
                  f"{' (ERROR)' if name in errors else ''}", flush=True)
            if name in ctx.results:
                write_result(name, {"smoke": a.smoke, "models": models, "seconds": timings[name],
                                    "load_avg_1min_before_after": loads[name], "result": ctx.results[name]},
                             machine, out_dir)
    finally:
        ctx.close()
        if ctx.server is not None:
            ctx.server.stop()
    rows = summarize(ctx.results)
    machine["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    total = round(time.perf_counter() - t_run, 1)
    write_result("summary", {"smoke": a.smoke, "models": models, "sections": todo, "seconds": timings,
                             "load_avg_1min_before_after": loads,
                             "total_s": total, "server": ctx.results.get("server"), "errors": errors,
                             "broken": ctx.broken, "table": [dict(zip(["section", "metric", "value", "ref", "ratio",
                                                                       "target", "status"], r)) for r in rows]},
                 machine, out_dir)
    print()
    print(f"machine: {machine['cpu']}, {machine['cores_logical']} cores, {machine['ram_gb']} GB, gpu {machine['gpu']}, "
          f"torch {machine['torch']}, gradio {machine['gradio']}, python {machine['python']}, "
          f"commit {machine['git_commit']}, load avg {machine['load_avg_at_start']} -> {machine['load_avg_at_end']}")
    print(table(rows))
    print(f"\ntotal {total} s; results in {out_dir}")
    if not ctx.broken:
        shutil.rmtree(work, ignore_errors=True)
    if a.tiny:
        shutil.rmtree(checkpoints[-1], ignore_errors=True)
    if ctx.broken:
        print(f"server logs kept in {work}", file=sys.stderr)
        print("\nBROKEN:\n  " + "\n  ".join(ctx.broken), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
