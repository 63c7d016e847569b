"""Load and soak: N concurrent gradio_client users against a real ``python app.py`` for S seconds.

``make soak`` = ``python -m bench.soak --users 30 --seconds 300``. Loopback only. The app runs in a
subprocess with its own ``GRADIO_TEMP_DIR`` and a hard lifetime (it stops by itself). Users mix slider
events (/explore, as drags of 6-16 steps), sample grids (/samples), interpolations (/interpolate) and
reconstructions of a real held-out digit (/reconstruct). Every request has a timeout; every failure
counts as an error.

Pass/fail bounds (exit code 1 when any is broken):
  * errors == 0 (every request answered, no exception, no timeout);
  * server RSS growth from the end of warm-up to the end < ``--max-rss-growth-mb`` (100 MB);
  * GRADIO_TEMP_DIR never holds more than ``--max-temp-files`` (2,500) files, sampled every 2 s.
The Janitor trims that folder to 2,000 files every 30 s, so 2,500 leaves room for 30 s of traffic.

Results (requests, errors, p50/p95/max per endpoint, RSS and temp-dir at start/end, a timeline,
machine info) go to ``bench/results/soak.json`` (``--out``) and a table is printed.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DIGITS = REPO / "checkpoints" / "mnist-digits" / "digits.npz"
RESULTS = REPO / "bench" / "results" / "soak.json"
ENDPOINTS = ("explore", "select_model", "samples", "interpolate", "reconstruct")
MIX = {"explore": 0.55, "samples": 0.2, "interpolate": 0.12, "reconstruct": 0.13}  # by action, not by request
REQUEST_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def temp_stats(root: Path) -> tuple[int, int]:
    """(files, bytes) under ``root``; files vanishing meanwhile are skipped."""
    files = size = 0
    for dirpath, _, names in os.walk(root):
        for n in names:
            try:
                size += os.stat(os.path.join(dirpath, n)).st_size
                files += 1
            except OSError:
                pass
    return files, size


class AppProcess:
    """``python app.py --port P ...`` in a subprocess, bounded by ``max_life_s`` (coreutils timeout).

    Its stdout/stderr go to ``workdir/app.log``; ``GRADIO_TEMP_DIR`` is ``workdir/gradio``. Use as a
    context manager; ``stop()`` terminates it (SIGTERM, then SIGKILL after 10 s).
    """

    def __init__(self, workdir: str | Path, args: list[str] | None = None, max_life_s: float = 900,
                 env: dict | None = None, ready_timeout_s: float = 180, script: str | Path = REPO / "app.py"):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.temp_dir = self.workdir / "gradio"
        self.log_path = self.workdir / "app.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.args = list(args or [])
        self.max_life_s = max_life_s
        self.ready_timeout_s = ready_timeout_s
        self.env = {**os.environ, "GRADIO_TEMP_DIR": str(self.temp_dir), "GRADIO_ANALYTICS_ENABLED": "False",
                    "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
                    "PYTHONUNBUFFERED": "1", **(env or {})}
        self.script = Path(script)
        self.proc: subprocess.Popen | None = None
        self._log = None

    def __enter__(self) -> AppProcess:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        cmd = [sys.executable, str(self.script), "--port", str(self.port), *self.args]
        if shutil.which("timeout"):  # the server stops by itself even if this process dies
            cmd = ["timeout", "--signal=TERM", "--kill-after=10", str(int(self.max_life_s)), *cmd]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "gradio_api/info", timeout=5) as r:
                    if r.status == 200:
                        return
            except urllib.error.HTTPError as exc:
                if exc.code in (401, 403):  # up, behind --auth
                    return
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"app not ready after {self.ready_timeout_s} s:\n{self.log_text()[-3000:]}")

    def server_process(self):
        """The psutil.Process of the Python server (the child of ``timeout`` when that wraps it)."""
        import psutil

        p = psutil.Process(self.proc.pid)
        for child in p.children(recursive=True):
            if "python" in child.name().lower() or any("app.py" in a for a in child.cmdline()):
                return child
        return p

    def rss(self) -> int:
        return self.server_process().memory_info().rss

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(Exception):
                    for child in self.server_process().children(recursive=True):
                        child.kill()
                self.proc.kill()
                self.proc.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None


def digit_png(path: Path, index: int = 3) -> Path:
    """A real held-out MNIST digit, black on white and off-centre in a 120x100 canvas, as a PNG."""
    import numpy as np
    from PIL import Image

    d = np.load(DIGITS, allow_pickle=False)
    canvas = np.full((120, 100), 255, np.uint8)
    canvas[20:48, 50:78] = 255 - d["images"][d["test_idx"][index]]
    Image.fromarray(canvas).save(path)
    return path


# ---- users ---------------------------------------------------------------------------------------
@dataclass
class Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: dict = field(default_factory=lambda: {e: [] for e in ENDPOINTS})
    errors: dict = field(default_factory=lambda: {e: 0 for e in ENDPOINTS})
    messages: list = field(default_factory=list)
    setup_errors: int = 0  # users that could not start, or crashed

    def record(self, endpoint: str, seconds: float | None, error: str | None = None) -> None:
        with self.lock:
            if error is None:
                self.latencies[endpoint].append(seconds)
            else:
                self.errors[endpoint] += 1
                if len(self.messages) < 20:
                    self.messages.append(f"{endpoint}: {error}")


class User:
    """One simulated person: a gradio_client session that drags sliders, draws grids, interpolates, uploads."""

    def __init__(self, uid: int, url: str, stats: Stats, gan: str, vae: str, png: str, stop_at: float,
                 timeout_s: float = REQUEST_TIMEOUT_S):
        self.uid, self.url, self.stats, self.gan, self.vae, self.png = uid, url, stats, gan, vae, png
        self.stop_at, self.timeout_s = stop_at, timeout_s
        self.rng = random.Random(1000 + uid)
        self.client = None
        self.model, self.base, self.method = gan, "", ""  # the session's model, base latent JSON, directions

    def call(self, endpoint: str, *args):
        """One request with a timeout; returns the result or None (the failure is recorded)."""
        t = time.perf_counter()
        job = self.client.submit(*args, api_name=f"/{endpoint}")
        try:
            out = job.result(timeout=self.timeout_s)
        except Exception as exc:  # noqa: BLE001 - AppError, timeouts, connection errors: all count
            with contextlib.suppress(Exception):
                job.cancel()
            self.stats.record(endpoint, None, f"{type(exc).__name__}: {str(exc)[:300]}")
            return None
        self.stats.record(endpoint, time.perf_counter() - t)
        return out

    def setup(self) -> None:
        from gradio_client import Client

        self.client = Client(self.url, verbose=False, download_files=False)
        self.select(self.rng.choice((self.gan, self.vae)))

    def select(self, model: str) -> None:
        """Pick a model (/select_model), as the dropdown does: the session's direction choices follow it."""
        out = self.call("select_model", model, self.rng.randrange(1000))
        if out is not None:
            radio = out[1] if isinstance(out[1], dict) else {}
            self.model, self.base, self.method = model, out[0], radio.get("value") or ""

    def drag(self) -> None:
        """A slider drag: 6-16 /explore events along one slider, like `.input` with always_last."""
        if self.rng.random() < 0.15:  # now and then the user switches model first
            self.select(self.vae if self.model == self.gan else self.gan)
        values = [0.0] * 14
        k = self.rng.randrange(12)  # 8 direction sliders + 4 raw dimensions
        target = self.rng.uniform(-3, 3)
        steps = self.rng.randint(6, 16)
        for s in range(1, steps + 1):
            if time.monotonic() > self.stop_at:
                return
            values[k] = round(target * s / steps, 2)
            self.call("explore", self.model, self.base, self.method, *values[:12], values[12], values[13])

    def warm(self) -> None:
        """Touch every path once (each model, each direction method, overlays, uploads) so that one-off
        caches (directions, reference digits, classifier) are built before RSS is baselined."""
        from gradio_client import Client, handle_file

        self.client = Client(self.url, verbose=False, download_files=False)
        for model in (self.gan, self.vae):
            out = self.call("select_model", model, 0)
            radio = out[1] if out is not None and isinstance(out[1], dict) else {}
            for method in [c[1] if isinstance(c, (list, tuple)) else c for c in radio.get("choices") or []]:
                self.call("explore", model, out[0], method, 1.0, *[0.0] * 11, 0, 0.0)
            self.call("samples", model, 0, 64, 1.0, 1.0, True, model == self.gan, model == self.gan)
            self.call("interpolate", model, "1, 2", "slerp", 8, 12, "")
        self.call("reconstruct", self.vae, handle_file(self.png), None, 4)
        with contextlib.suppress(Exception):
            self.client.close()

    def samples(self) -> None:
        model = self.rng.choice((self.gan, self.vae))
        n = self.rng.choice((16, 36, 64, 100))
        labels = self.rng.random() < 0.3
        realism = model == self.gan and self.rng.random() < 0.3
        self.call("samples", model, self.rng.randrange(10_000), n, 1.0, 1.0, labels, realism, False)

    def interpolate(self) -> None:
        model = self.rng.choice((self.gan, self.vae))
        keys = ", ".join(str(self.rng.randrange(1000)) for _ in range(self.rng.randint(2, 4)))
        self.call("interpolate", model, keys, self.rng.choice(("slerp", "lerp")), self.rng.choice((8, 12, 16)), 12, "")

    def reconstruct(self) -> None:
        from gradio_client import handle_file

        self.call("reconstruct", self.vae, handle_file(self.png), None, self.rng.choice((0, 4)))

    def run(self) -> None:
        try:
            self.setup()
        except Exception as exc:  # noqa: BLE001 - counted as an error
            with self.stats.lock:
                self.stats.setup_errors += 1
                self.stats.messages.append(f"user {self.uid} setup: {type(exc).__name__}: {str(exc)[:300]}")
            return
        actions = {"explore": self.drag, "samples": self.samples, "interpolate": self.interpolate,
                   "reconstruct": self.reconstruct}
        names = list(MIX)
        try:
            while time.monotonic() < self.stop_at:
                actions[self.rng.choices(names, [MIX[a] for a in names])[0]]()
                time.sleep(self.rng.uniform(0.0, 0.05))  # a little think time
        except Exception as exc:  # noqa: BLE001 - a bug in this script must not pass for a quiet server
            with self.stats.lock:
                self.stats.setup_errors += 1
                self.stats.messages.append(f"user {self.uid} crashed: {type(exc).__name__}: {exc}")
        finally:
            with contextlib.suppress(Exception):
                self.client.close()


# ---- the run -------------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    i = min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))
    return s[i]


def machine_info() -> dict:
    import gradio
    import gradio_client
    import psutil
    import torch

    cpu = platform.processor()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"platform": platform.platform(), "python": platform.python_version(), "cpu": cpu,
            "cores": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "load_avg_at_start": list(os.getloadavg()), "torch": torch.__version__, "gradio": gradio.__version__,
            "gradio_client": gradio_client.__version__, "cuda": torch.cuda.is_available()}


def run_soak(users: int = 30, seconds: float = 300, checkpoints: list[str] | None = None, gan: str = "mnist-dcgan",
             vae: str = "mnist-vae", warmup_s: float | None = None, max_rss_growth_mb: float = 100,
             max_temp_files: int = 2500, workdir: str | Path | None = None, app_args: list[str] | None = None,
             app_env: dict | None = None, log=print) -> dict:
    """Launch the app, run the users, return the result dict (``result["ok"]`` says whether bounds held)."""
    own_workdir = workdir is None  # a folder made here is removed at the end (it holds the app's file cache)
    workdir = Path(workdir or tempfile.mkdtemp(prefix="genlab-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    png = str(digit_png(workdir / "digit.png"))
    args = [a for c in (checkpoints or []) for a in ("--checkpoints", str(c))] + list(app_args or [])
    warmup_s = min(30.0, seconds / 5) if warmup_s is None else warmup_s
    stats = Stats()
    timeline = []
    with AppProcess(workdir / "app", args, max_life_s=seconds + warmup_s + 600, env=app_env) as app:
        start_files, start_bytes = temp_stats(app.temp_dir)
        rss_start = app.rss()
        log(f"app up at {app.url} (pid {app.proc.pid}); {users} users for {seconds:g} s after {warmup_s:g} s warm-up")
        User(-1, app.url, stats, gan, vae, png, time.monotonic() + 600).warm()
        t0 = time.monotonic()
        stop_at = t0 + warmup_s + seconds
        threads = [threading.Thread(target=User(i, app.url, stats, gan, vae, png, stop_at).run, daemon=True,
                                    name=f"soak-user-{i}") for i in range(users)]
        for t in threads:
            t.start()
            time.sleep(0.05)  # users arrive over a second or two, not in one burst
        rss_warm = None
        max_files = start_files
        while any(t.is_alive() for t in threads) and time.monotonic() < stop_at + REQUEST_TIMEOUT_S + 30:
            time.sleep(2.0)
            now = time.monotonic() - t0
            files, size = temp_stats(app.temp_dir)
            rss = app.rss()
            max_files = max(max_files, files)
            if rss_warm is None and now >= warmup_s:
                rss_warm = rss
            timeline.append({"t": round(now, 1), "rss_mb": round(rss / 2**20, 1), "temp_files": files,
                             "temp_mb": round(size / 2**20, 2),
                             "requests": sum(len(v) for v in stats.latencies.values())})
        for t in threads:
            t.join(timeout=5)
        hung = sum(t.is_alive() for t in threads)
        end_files, end_bytes = temp_stats(app.temp_dir)
        rss_end = app.rss()
        rss_warm = rss_warm or rss_start
        log_text = app.log_text()
    if own_workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    tracebacks = log_text.count("Traceback (most recent call last)")
    per = {}
    for e in ENDPOINTS:
        lat = stats.latencies[e]
        per[e] = {"requests": len(lat) + stats.errors[e], "errors": stats.errors[e],
                  "p50_ms": _ms(percentile(lat, 50)), "p95_ms": _ms(percentile(lat, 95)), "max_ms": _ms(max(lat, default=None))}
    total = sum(p["requests"] for p in per.values())
    errors = sum(p["errors"] for p in per.values()) + stats.setup_errors + hung
    growth_mb = (rss_end - rss_warm) / 2**20
    checks = {
        "errors == 0": errors == 0,
        f"rss growth after warm-up < {max_rss_growth_mb:g} MB": growth_mb < max_rss_growth_mb,
        f"temp dir files <= {max_temp_files} (max sampled)": max_files <= max_temp_files,
        "server log has no tracebacks": tracebacks == 0,
    }
    return {
        "config": {"users": users, "seconds": seconds, "warmup_s": warmup_s, "gan": gan, "vae": vae,
                   "mix": MIX, "request_timeout_s": REQUEST_TIMEOUT_S, "checkpoints": [str(c) for c in checkpoints or []],
                   "app_args": list(app_args or []), "app_env": dict(app_env or {})},
        "machine": machine_info(),
        "requests": total, "errors": errors, "setup_errors": stats.setup_errors, "hung_users": hung,
        "throughput_rps": round(total / max(1e-9, warmup_s + seconds), 2),
        "error_messages": stats.messages, "server_log_tracebacks": tracebacks,
        "endpoints": per,
        "rss_mb": {"start": _mb(rss_start), "after_warmup": _mb(rss_warm), "end": _mb(rss_end), "growth_after_warmup": round(growth_mb, 1)},
        "temp_dir": {"start_files": start_files, "start_mb": _mb(start_bytes), "end_files": end_files,
                     "end_mb": _mb(end_bytes), "max_files_sampled": max_files},
        "bounds": {"max_rss_growth_mb": max_rss_growth_mb, "max_temp_files": max_temp_files},
        "checks": checks, "ok": all(checks.values()), "timeline": timeline,
        "server_log_tail": log_text[-4000:] if not all(checks.values()) else "",
    }


def _ms(s: float | None) -> float | None:
    return None if s is None else round(s * 1000, 1)


def _mb(b: int) -> float:
    return round(b / 2**20, 1)


def table(result: dict) -> str:
    out = io.StringIO()
    c = result["config"]
    out.write(f"soak: {c['users']} users, {c['seconds']:g} s (+{c['warmup_s']:g} s warm-up), models {c['gan']}, {c['vae']}\n")
    out.write(f"{'endpoint':<12} {'requests':>9} {'errors':>7} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9}\n")
    for e, p in result["endpoints"].items():
        out.write(f"{e:<12} {p['requests']:>9} {p['errors']:>7} {_fmt(p['p50_ms'])} {_fmt(p['p95_ms'])} {_fmt(p['max_ms'])}\n")
    out.write(f"{'total':<12} {result['requests']:>9} {result['errors']:>7}   ({result['throughput_rps']} req/s)\n")
    r, t = result["rss_mb"], result["temp_dir"]
    out.write(f"server RSS MB: start {r['start']}, after warm-up {r['after_warmup']}, end {r['end']} "
              f"(growth {r['growth_after_warmup']})\n")
    out.write(f"temp dir: start {t['start_files']} files / {t['start_mb']} MB, end {t['end_files']} files / "
              f"{t['end_mb']} MB, max sampled {t['max_files_sampled']} files\n")
    for name, ok in result["checks"].items():
        out.write(f"  [{'ok' if ok else 'FAIL'}] {name}\n")
    for m in result["error_messages"][:10]:
        out.write(f"  error: {m}\n")
    return out.getvalue()


def _fmt(v) -> str:
    return f"{v:>9.1f}" if v is not None else f"{'-':>9}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--users", type=int, default=30)
    p.add_argument("--seconds", type=float, default=300)
    p.add_argument("--warmup", type=float, default=None, help="seconds before RSS is baselined (default min(30, S/5))")
    p.add_argument("--gan", default="mnist-dcgan")
    p.add_argument("--vae", default="mnist-vae")
    p.add_argument("--checkpoints", action="append", default=[], help="extra registry root for the app")
    p.add_argument("--max-rss-growth-mb", type=float, default=100)
    p.add_argument("--max-temp-files", type=int, default=2500)
    p.add_argument("--app-env", action="append", default=[], metavar="KEY=VALUE",
                   help="environment for the app process (e.g. MALLOC_ARENA_MAX=2)")
    p.add_argument("--out", default=str(RESULTS))
    a = p.parse_args(argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    from genlab.registry import Registry, default_roots

    have = Registry(default_roots(a.checkpoints)).ids()
    missing = [m for m in (a.gan, a.vae) if m not in have]
    if missing:
        print(f"error: model(s) {missing} not in the registry (have {have}); train them (make checkpoints) "
              "or pass --checkpoints DIR --gan ID --vae ID", file=sys.stderr)
        return 2
    env = dict(kv.split("=", 1) for kv in a.app_env)
    result = run_soak(a.users, a.seconds, a.checkpoints, a.gan, a.vae, a.warmup, a.max_rss_growth_mb, a.max_temp_files,
                      app_env=env)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"wrote {out}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
