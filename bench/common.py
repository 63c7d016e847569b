"""Shared helpers: machine info, statistics, result files, the bench server process, tiny checkpoints."""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
MODELS = ("mnist-dcgan", "mnist-vae", "mnist-vae-2d")


class BenchError(RuntimeError):
    """Something is broken (an endpoint errored, a server did not start): the run must fail."""


# ---- statistics ------------------------------------------------------------------------------
def pct(values, q: float) -> float | None:
    """The q-th percentile (0-100, linear interpolation) of ``values``; None when empty."""
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return None
    k = (len(vals) - 1) * q / 100.0
    lo, hi = int(k), min(int(k) + 1, len(vals) - 1)
    return vals[lo] + (vals[hi] - vals[lo]) * (k - lo)


def summary_ms(seconds, keep_raw: bool = False) -> dict:
    """p50/p95/mean/min/max in milliseconds of a list of durations in seconds (None = failure)."""
    ok = [s * 1000 for s in seconds if s is not None]
    out = {"n": len(ok), "failed": len(seconds) - len(ok)}
    if ok:
        out.update(p50=round(pct(ok, 50), 3), p95=round(pct(ok, 95), 3), mean=round(sum(ok) / len(ok), 3),
                   min=round(min(ok), 3), max=round(max(ok), 3))
    if keep_raw:
        out["raw_ms"] = [round(v, 3) for v in ok]
    return out


def ratio(a, b) -> float | None:
    return round(a / b, 3) if a is not None and b not in (None, 0) else None


# ---- machine ---------------------------------------------------------------------------------
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, timeout=10)
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "") if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def machine_info() -> dict:
    import psutil
    import torch

    info = {
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu": _cpu_model(), "cores_logical": os.cpu_count(), "cores_physical": psutil.cpu_count(logical=False),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1), "python": platform.python_version(),
        "platform": platform.platform(), "torch": torch.__version__, "git_commit": _git_commit(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "gpu": None,
    }
    try:
        import gradio

        info["gradio"] = gradio.__version__
    except ImportError:
        info["gradio"] = None
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        info["gpu"] = {"name": p.name, "memory_gb": round(p.total_memory / 2**30, 1), "cuda": torch.version.cuda}
    return info


def write_result(name: str, data: dict, machine: dict, out_dir: Path = RESULTS) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps({"name": name, "machine": machine, **data}, indent=1, default=str) + "\n")
    return path


# ---- processes -------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def python() -> str:
    return sys.executable


def bench_env(temp_dir: Path, threads: int | None = None, profiling: bool = False) -> dict:
    env = dict(os.environ)
    env.update(GRADIO_ANALYTICS_ENABLED="False", GRADIO_TEMP_DIR=str(temp_dir), NO_PROXY="127.0.0.1,localhost",
               no_proxy="127.0.0.1,localhost", PYTHONUNBUFFERED="1", PYTHONPATH=str(REPO))
    env.pop("GENLAB_THREADS", None)
    # steady-state sections measure requests, not the start-up warm-up competing for the CPU (cold_start turns it on)
    env.setdefault("GENLAB_WARM", "0")
    if threads:
        env["GENLAB_THREADS"] = str(threads)
    if profiling:
        env["GRADIO_PROFILING"] = "1"
    return env


class Server:
    """The bench server (``python -m bench.serve``) in its own process; stops by itself after ``max_life_s``."""

    def __init__(self, work: Path, checkpoints: list[str], threads: int | None = None, max_life_s: int = 900,
                 profiling: bool = True, name: str = "main", extra: list[str] | None = None):
        self.work, self.name = Path(work), name
        self.temp = self.work / f"gradio-{name}"
        self.temp.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        args = [python(), "-m", "bench.serve", "--port", str(self.port), "--max-life", str(max_life_s)]
        for c in checkpoints:
            args += ["--checkpoints", c]
        if threads:
            args += ["--threads", str(threads)]
        args += extra or []
        self.log_path = self.work / f"server-{name}.log"
        self.log = open(self.log_path, "w")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(args, cwd=REPO, env=bench_env(self.temp, threads, profiling),
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.start_s = wait_port(self.port, self.proc, 120) - t0
        self.url = f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_mb(self) -> float:
        import psutil

        return psutil.Process(self.proc.pid).memory_info().rss / 2**20

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def wait_port(port: int, proc: subprocess.Popen | None, timeout: float, poll_s: float = 0.02) -> float:
    """perf_counter() when 127.0.0.1:port accepts a connection; BenchError if the process died or timed out."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BenchError(f"server process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return time.perf_counter()
        except OSError:
            time.sleep(poll_s)
    raise BenchError(f"nothing listened on 127.0.0.1:{port} within {timeout:.0f} s")


def dir_usage(root: Path) -> dict:
    files = size = 0
    for dirpath, _, names in os.walk(root):
        for n in names:
            try:
                size += os.path.getsize(os.path.join(dirpath, n))
                files += 1
            except OSError:
                pass
    return {"files": files, "bytes": size}


# ---- checkpoints -----------------------------------------------------------------------------
def available_models(extra_roots: list[str]) -> list[str]:
    """The generative model ids the app will see (shipped ones first)."""
    from genlab.registry import Registry, default_roots

    reg = Registry(default_roots(extra_roots))
    ids = [i for i in reg.ids() if reg.manifest(i).family in ("gan", "vae", "ae")]
    shipped = [m for m in MODELS if m in ids]
    if shipped:
        # the reference set (one per family shape: DCGAN, VAE, 2-D VAE), plus the first 64-px model, so that
        # `make bench` stays under 10 minutes however many models ship; --models picks others
        big = [i for i in ids if reg.manifest(i).image_size >= 64][:1]
        return shipped + big
    return ids


def tiny_root() -> Path:
    """A temp registry root with small checkpoints (for developing the bench while models train)."""
    import torch

    from genlab.checkpoints import save_checkpoint
    from genlab.configs import ConvVAEConfig, DCGANConfig
    from genlab.models import get_architecture

    root = Path(tempfile.mkdtemp(prefix="genlab-bench-ckpt-"))
    specs = {"tiny-dcgan": ("dcgan", DCGANConfig(image_size=28, channels=1, nz=100, ngf=32, ndf=32)),
             "tiny-vae": ("conv_vae", ConvVAEConfig(image_size=28, channels=1, z_dim=16, base=16, hidden=128))}
    for mid, (arch, cfg) in specs.items():
        torch.manual_seed(0)
        spec = get_architecture(arch)
        model = spec.build(cfg).eval()
        aux = {role: ctor(cfg).eval() for role, ctor in spec.aux.items()}
        save_checkpoint(root / mid, model, id=mid, architecture=arch, aux=aux, dataset={"name": "mnist"},
                        training={"seed": 0})
    return root
