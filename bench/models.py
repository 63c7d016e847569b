"""Model-level micro benchmarks in a fresh process: eager vs channels_last vs torch.compile, threads 1 vs 2,
FLOPs per image (``torch.utils.flop_counter.FlopCounterMode``), image encoding costs, and the GPU part.

``python -m bench.models --out FILE.json [--smoke] [--checkpoints DIR] [--models a,b]``; the JSON goes to FILE.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
H100_BF16_DENSE_TFLOPS = 790.0  # measured dense bf16 peak to compare with (PERF_NOTES / the issue)


def timeit(fn, reps: int, min_s: float = 0.0) -> float:
    """Median seconds of ``fn()`` over ``reps`` runs (at least ``min_s`` of runs in total)."""
    times = []
    t_end = time.perf_counter() + min_s
    while len(times) < reps or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) > 50 * reps:
            break
    return statistics.median(times)


def flops_per_image(model, d: int, device="cpu") -> float:
    from torch.utils.flop_counter import FlopCounterMode

    z = torch.randn(4, d, device=device)
    with torch.inference_mode(), FlopCounterMode(display=False) as fc:
        model.decode(z)
    return fc.get_total_flops() / 4


def cpu_variants(ckpt, smoke: bool, compile_batches=(1,)) -> dict:
    """Latency per batch size for eager / channels_last / compile (+ warm-up cost), and threads 1 vs 2."""
    model = ckpt.model.eval()
    d = ckpt.manifest.latent_size
    reps = 5 if smoke else 30
    out = {}
    batches = (1, 64) if not smoke else (1,)
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for b in batches:
            z = torch.randn(b, d)
            with torch.inference_mode():
                model.decode(z)
                out[f"eager_t{threads}_b{b}_ms"] = round(1000 * timeit(lambda: model.decode(z), reps, 0.2), 4)
    torch.set_num_threads(1)
    import copy

    cl = copy.deepcopy(model).to(memory_format=torch.channels_last)
    for b in batches:
        z = torch.randn(b, d)
        with torch.inference_mode():
            ref = model.decode(z)
            got = cl.decode(z)
            out[f"channels_last_t1_b{b}_ms"] = round(1000 * timeit(lambda: cl.decode(z), reps, 0.2), 4)
            out[f"channels_last_max_abs_diff_b{b}"] = float((ref - got).abs().max())
    if not smoke and compile_batches:
        out.update(compile_variant(model, d, compile_batches, reps))
    return out


def compile_variant(model, d: int, batches, reps: int) -> dict:
    """torch.compile (default mode, static shapes): first-call (compile) time and steady latency per batch."""
    out = {}
    try:
        import torch._dynamo

        torch._dynamo.reset()
        fn = torch.compile(model.decode, dynamic=False)
        for b in batches:
            z = torch.randn(b, d)
            with torch.inference_mode():
                t0 = time.perf_counter()
                got = fn(z)
                out[f"compile_warmup_b{b}_s"] = round(time.perf_counter() - t0, 2)
                out[f"compile_t1_b{b}_ms"] = round(1000 * timeit(lambda: fn(z), reps, 0.2), 4)
                out[f"compile_max_abs_diff_b{b}"] = float((model.decode(z) - got).abs().max())
    except Exception as exc:  # noqa: BLE001 - report, do not fail: compile is an option, not the app
        out["compile_error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    return out


def encode_costs(smoke: bool) -> dict:
    """Encoding a 28x28 digit and 16/64/256-tile gray grids: PNG (Gradio's level), WebP (default q), JPEG."""
    import numpy as np
    from PIL import Image

    from genlab import render

    digits = REPO / "checkpoints" / "mnist-digits" / "digits.npz"
    tiles = (np.load(digits)["images"][:256] if digits.is_file()
             else np.random.default_rng(0).integers(0, 256, (256, 28, 28), dtype=np.uint8))
    out = {}
    reps = 5 if smoke else 20
    for n in (1, 16, 64, 256):
        img = tiles[0] if n == 1 else render.grid(tiles[:n, :, :, None], padding=2)[..., 0]
        pil = Image.fromarray(img)
        row = {"shape": list(img.shape)}
        for fmt, kw in (("png", {}), ("webp", {}), ("jpeg", {"quality": 90})):
            buf = io.BytesIO()
            pil.save(buf, fmt, **kw)
            row[f"{fmt}_bytes"] = buf.tell()
            row[f"{fmt}_ms"] = round(1000 * timeit(lambda: pil.save(io.BytesIO(), fmt, **kw), reps), 3)
            back = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"), dtype=np.int16)
            row[f"{fmt}_mean_abs_err"] = round(float(np.abs(back - img.astype(np.int16)).mean()), 3)
        out[f"tiles_{n}"] = row
    return out


def gpu_part(ckpts: dict, smoke: bool) -> dict:
    """Batch-256 generator forward on CUDA in bf16 autocast: achieved FLOP/s vs 790 TFLOP/s dense bf16."""
    if not torch.cuda.is_available():
        return {"skipped": "torch.cuda.is_available() is False"}
    out = {"device": torch.cuda.get_device_name(0), "peak_tflops_bf16_dense": H100_BF16_DENSE_TFLOPS}
    from genlab.checkpoints import load_checkpoint

    for mid, ckpt in ckpts.items():
        g = load_checkpoint(ckpt.folder, "cuda", ckpt.manifest).model.eval()
        d = ckpt.manifest.latent_size
        z = torch.randn(256, d, device="cuda")
        flops = flops_per_image(g, d, "cuda") * 256
        row = {"gflop_per_batch": round(flops / 1e9, 4)}
        for name, ctx in (("fp32", torch.autocast("cuda", enabled=False)),
                          ("bf16", torch.autocast("cuda", dtype=torch.bfloat16))):
            with torch.inference_mode(), ctx:
                for _ in range(10):
                    g.decode(z)
                torch.cuda.synchronize()
                n = 20 if smoke else 200
                t0 = time.perf_counter()
                for _ in range(n):
                    g.decode(z)
                torch.cuda.synchronize()
                dt = (time.perf_counter() - t0) / n
            row[f"{name}_ms"] = round(dt * 1000, 4)
            row[f"{name}_img_per_s"] = round(256 / dt)
            row[f"{name}_tflops"] = round(flops / dt / 1e12, 3)
            row[f"{name}_efficiency_vs_peak"] = round(flops / dt / 1e12 / H100_BF16_DENSE_TFLOPS, 6)
        out[mid] = row
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--checkpoints", action="append", default=[])
    p.add_argument("--models", default="")
    p.add_argument("--no-compile", action="store_true")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    from genlab.registry import Registry, default_roots

    reg = Registry(default_roots(a.checkpoints))
    ids = [i for i in (a.models.split(",") if a.models else reg.ids()) if i and reg.manifest(i).family in ("gan", "vae")]
    res = {"models": {}, "torch_threads_default": os.cpu_count()}
    ckpts = {}
    import psutil

    proc = psutil.Process()
    with torch.inference_mode():  # one-time lazy init (oneDNN, allocator) so RSS deltas are per model
        warm = torch.nn.Sequential(torch.nn.ConvTranspose2d(8, 8, 4, 2, 1), torch.nn.BatchNorm2d(8), torch.nn.Linear(8, 8)).eval()
        warm(torch.randn(64, 8, 4, 4))
    for mid in ids:
        rss0 = proc.memory_info().rss
        ckpt = reg.get(mid, "cpu")
        with torch.inference_mode():
            ckpt.model.decode(torch.randn(64, ckpt.manifest.latent_size))
        rss_delta = (proc.memory_info().rss - rss0) / 2**20
        ckpts[mid] = ckpt
        row = {"rss_delta_load_and_forward_mb": round(rss_delta, 2), "weights_mb": round(ckpt.nbytes / 2**20, 2),
               "params": sum(p.numel() for p in ckpt.model.parameters()),
               "gflop_per_image": round(flops_per_image(ckpt.model, ckpt.manifest.latent_size) / 1e9, 6)}
        row.update(cpu_variants(ckpt, a.smoke, () if a.no_compile else (1, 64) if mid == ids[0] else (1,)))
        res["models"][mid] = row
    res["encode"] = encode_costs(a.smoke)
    res["gpu"] = gpu_part(ckpts, a.smoke)
    Path(a.out).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
