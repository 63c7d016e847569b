"""Running models: device choice, threads, inference mode, autocast, bounded batches, warm-up.

The engine takes CPU latents (drawn from seeds by ``genlab.latent``) and returns CPU results, so
callers never touch devices. Pixels are converted to uint8 on the device before the copy.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from genlab import latent, render
from genlab.checkpoints import Checkpoint

PRECISIONS = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


def pick_device(requested: str | None = None) -> torch.device:
    """``requested`` ('cpu', 'cuda', 'cuda:1') or CUDA when available, else the CPU."""
    if requested:
        dev = torch.device(requested)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"--device {requested} asked for, but torch sees no CUDA device")
        return dev
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def default_threads() -> int:
    """``GENLAB_THREADS`` or cores - 1: one spare core keeps latency steady when others are busy."""
    env = os.environ.get("GENLAB_THREADS")
    if env:
        return max(1, int(env))
    return max(1, (os.cpu_count() or 1) - 1)


FITTED_PRIOR = "fitted_normal"  # manifest latent.prior of models whose prior is a Gaussian fitted to codes


def prior_of(ckpt: Checkpoint) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(mean ``[D]``, lower Cholesky scale ``[D, D]``) on the CPU for a checkpoint whose manifest says
    ``latent.prior == "fitted_normal"`` (the autoencoder), None for a standard normal prior."""
    if ckpt.manifest.raw.get("latent", {}).get("prior") != FITTED_PRIOR:
        return None
    model = ckpt.model
    return model.prior_mean.detach().float().cpu(), model.prior_scale.detach().float().cpu()


def is_oom(exc: BaseException) -> bool:
    oom_type = getattr(torch.cuda, "OutOfMemoryError", ())
    return isinstance(exc, oom_type) or "out of memory" in str(exc).lower()


@dataclass
class Engine:
    """Runs loaded checkpoints on ``device``. ``max_batch`` bounds one forward pass."""

    device: torch.device = torch.device("cpu")
    precision: str = "fp32"
    max_batch: int = 64

    def __post_init__(self) -> None:
        self.device = torch.device(self.device)
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {self.precision!r}")
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True

    def _autocast(self):
        dtype = PRECISIONS[self.precision]
        enabled = dtype is not None and self.device.type == "cuda"
        return torch.autocast(self.device.type, dtype=dtype or torch.float32, enabled=enabled)

    def run(self, fn, x: torch.Tensor, batch: int | None = None) -> list:
        """Apply ``fn`` to ``x`` in chunks of at most ``batch``; on OOM halve the chunk and retry."""
        batch = max(1, min(batch or self.max_batch, self.max_batch, x.shape[0]))
        while True:
            try:
                outs = []
                with torch.inference_mode(), self._autocast():
                    for i in range(0, x.shape[0], batch):
                        outs.append(fn(x[i : i + batch].to(self.device, non_blocking=True)))
                return outs
            except (RuntimeError, MemoryError) as exc:
                if not is_oom(exc) or batch == 1:
                    raise
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                batch //= 2

    def latents(self, ckpt: Checkpoint, n: int, seed: int, psi: float = 1.0, temperature: float = 1.0) -> torch.Tensor:
        """``[n, D]`` CPU latents for ``seed`` from the model's prior: the one place where seeds become latents.

        N(0, I) (``latent.sample``), except for models with ``latent.prior == "fitted_normal"`` in the
        manifest (the autoencoder: no prior of its own), whose draws go through the Gaussian fitted to its
        training codes. psi/temperature act before that mapping, i.e. around the fitted mean.
        """
        z = latent.sample(n, ckpt.manifest.latent_size, seed, psi, temperature)
        prior = prior_of(ckpt)
        return z if prior is None else latent.apply_prior(z, *prior)

    def decode(self, ckpt: Checkpoint, z: torch.Tensor) -> torch.Tensor:
        """z ``[N, D]`` -> float32 images ``[N, C, H, W]`` on the CPU, in the model's output range."""
        outs = self.run(lambda b: ckpt.model.decode(b).float().cpu(), z)
        return torch.cat(outs)

    def decode_uint8(self, ckpt: Checkpoint, z: torch.Tensor) -> np.ndarray:
        """z ``[N, D]`` -> uint8 ``[N, H, W, C]`` (converted on the device, then copied)."""
        rng = ckpt.manifest.output_range
        outs = self.run(lambda b: render.to_uint8_tensor(ckpt.model.decode(b), rng).cpu(), z)
        return torch.cat(outs).numpy()

    def encode(self, ckpt: Checkpoint, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x ``[N, C, H, W]`` in the VAE's range -> (mu, logvar) ``[N, Z]`` float32 on the CPU."""
        outs = self.run(lambda b: tuple(t.float().cpu() for t in ckpt.model.encode(b)), x)
        return torch.cat([o[0] for o in outs]), torch.cat([o[1] for o in outs])

    def apply(self, module: torch.nn.Module, x: torch.Tensor, method: str = "forward") -> torch.Tensor:
        """Any module method over ``x`` in bounded batches, float32 results on the CPU."""
        fn = getattr(module, method)
        return torch.cat(self.run(lambda b: fn(b).float().cpu(), x))

    def warmup(self, ckpt: Checkpoint) -> None:
        """One small forward so the first user request does not pay for kernel/primitive creation."""
        if ckpt.manifest.latent_size:
            self.decode(ckpt, torch.zeros(1, ckpt.manifest.latent_size))
