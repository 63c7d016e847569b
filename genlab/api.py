"""The Python API for notebooks: ``genlab.load(id)`` -> a Model with sample/decode/encode/interpolate."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from genlab import latent, render
from genlab.checkpoints import Checkpoint, load_checkpoint
from genlab.engine import Engine, pick_device
from genlab.registry import Registry


class Model:
    """A loaded generative model with an engine. Images come back as PIL images (grids) or uint8 arrays."""

    def __init__(self, ckpt: Checkpoint, engine: Engine):
        self.ckpt, self.engine = ckpt, engine
        self.manifest = ckpt.manifest

    def __repr__(self) -> str:
        m = self.manifest
        return f"<genlab.Model {m.id}: {m.architecture}, {m.image_size}px, z={m.latent_size}, {self.engine.device}>"

    @property
    def latent_size(self) -> int:
        return self.manifest.latent_size

    def latents(self, n: int, seed: int = 0, psi: float = 1.0, temperature: float = 1.0) -> torch.Tensor:
        """``[n, D]`` latents drawn on the CPU from ``seed`` and the model's prior (``Engine.latents``)."""
        return self.engine.latents(self.ckpt, n, seed, psi, temperature)

    def decode(self, z) -> np.ndarray:
        """Latents ``[N, D]`` -> uint8 images ``[N, H, W, C]``."""
        return self.engine.decode_uint8(self.ckpt, latent.validate(z, self.latent_size).reshape(-1, self.latent_size))

    def sample(self, n: int = 16, seed: int = 0, psi: float = 1.0, temperature: float = 1.0, nrow=None, scale: int = 2) -> Image.Image:
        """A grid of ``n`` samples from ``seed`` as a PIL image."""
        tiles = self.decode(self.latents(n, seed, psi, temperature))
        return Image.fromarray(render.to_rgb(render.upscale(render.grid(tiles, nrow), scale)))

    def encode(self, images: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 ``[N, H, W, C]`` at the model's size -> (mu, logvar) ``[N, Z]`` (VAEs; an autoencoder's
        logvar is a constant -30: a deterministic code)."""
        if self.manifest.family not in ("vae", "ae"):
            raise TypeError(f"{self.manifest.id} is a {self.manifest.family}: only VAEs and autoencoders encode")
        return self.engine.encode(self.ckpt, render.from_uint8(images, self.manifest.output_range))

    def interpolate(self, a, b, steps: int = 8, mode: str = "slerp") -> Image.Image:
        """A strip of ``steps`` frames from latent ``a`` to ``b``."""
        keys = torch.stack([latent.validate(a, self.latent_size), latent.validate(b, self.latent_size)])
        tiles = self.decode(latent.path(keys, steps, mode))
        return Image.fromarray(render.to_rgb(render.upscale(render.grid(tiles, nrow=steps), 2)))


def load(model: str | Path, device: str | None = None, roots: list | None = None) -> Model:
    """A Model from a registry id (``"mnist-dcgan"``) or a checkpoint folder path."""
    dev = pick_device(device)
    engine = Engine(dev)
    path = Path(model)
    if (path / "manifest.json").is_file():
        ckpt = load_checkpoint(path, dev)
    else:
        ckpt = Registry(roots, default_device=str(dev)).get(str(model))
    engine.warmup(ckpt)
    return Model(ckpt, engine)
