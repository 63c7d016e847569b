"""The training view: the same latents through the weights of each training epoch (the snapshots a checkpoint
was saved with, then the final model), one epoch at a time or as an evolution strip and GIF."""
from __future__ import annotations

import numpy as np
import torch

from genlab import render
from genlab.checkpoints import Checkpoint, CheckpointError, load_snapshot
from genlab.views.context import Context
from genlab.views.types import MAX_SEED, ExplorerError, RenderResult, check_float, check_int, parse_latent


class TrainingView:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def snapshots(self, model_id: str) -> list:
        """Epochs with weights: the snapshots, then the final model (training.epochs, or "final").

        [] when the model was saved without snapshots.
        """
        m = self.ctx.generative(model_id).manifest
        epochs = [f.epoch for f in m.snapshots]
        if not epochs:
            return []
        final = m.raw.get("training", {}).get("epochs")
        ok = isinstance(final, int) and not isinstance(final, bool) and final > max(epochs)
        return epochs + [final if ok else "final"]

    def models_with_snapshots(self) -> list[str]:
        """Generative models here that were saved with training snapshots (what this view can show)."""
        reg = self.ctx.registry
        return [i for i in self.ctx.model_ids() if reg.manifest(i).snapshots]

    def _epochs(self, ckpt: Checkpoint) -> list:
        epochs = self.snapshots(ckpt.manifest.id)
        if not epochs:
            others = self.models_with_snapshots()
            hint = f": try {' or '.join(others[:3])}" if others else ""
            raise ExplorerError(f"{ckpt.manifest.id} has no training snapshots: it was shipped without the weights "
                                f"of its earlier epochs{hint}")
        return epochs

    def _epoch_module(self, ckpt: Checkpoint, epoch) -> tuple[torch.nn.Module, object, list]:
        """(decoder module, epoch as listed, all epochs) for an epoch number or "final"."""
        epochs = self._epochs(ckpt)
        if isinstance(epoch, str) and epoch.strip().lower() == "final":
            epoch = epochs[-1]
        elif epoch != epochs[-1]:
            epoch = check_int("epoch", epoch, 0, 10**6)
        if epoch not in epochs:
            raise ExplorerError(f"no weights for epoch {epoch} of {ckpt.manifest.id}; available: "
                                f"{', '.join(map(str, epochs))}")
        if epoch == epochs[-1]:
            return ckpt.model, epoch, epochs

        def build():
            try:
                return load_snapshot(ckpt.manifest, ckpt.folder, epoch, self.ctx.engine.device).eval()
            except CheckpointError as exc:
                raise ExplorerError(f"snapshot of epoch {epoch} cannot be loaded: {exc}") from None

        key = ("snapshot", ckpt.manifest.id, str(self.ctx.engine.device), epoch)
        return self.ctx.cached(key, build), epoch, epochs

    def _scrub_latents(self, ckpt: Checkpoint, z, seed, n) -> torch.Tensor:
        d = ckpt.manifest.latent_size
        if z is not None:
            return parse_latent(z, d)[None]
        return self.ctx.seed_latents(ckpt, check_int("number of latents", n, 1, 64), check_int("seed", seed, 0, MAX_SEED))

    def _render_epoch(self, ckpt: Checkpoint, module, zs: torch.Tensor) -> np.ndarray:
        tiles = render.to_uint8(self.ctx.engine.apply(module, zs, "decode"), ckpt.manifest.output_range)
        return tiles[0] if len(tiles) == 1 else render.grid(tiles)

    def scrub(self, model_id: str, epoch, latent=None, seed: int = 0, n: int = 1) -> RenderResult:
        """One latent (or n from ``seed``, as a grid) through the weights of one training epoch."""
        ckpt = self.ctx.generative(model_id)
        module, ep, epochs = self._epoch_module(ckpt, epoch)
        zs = self._scrub_latents(ckpt, latent, seed, n)
        kind = "final weights" if ep == epochs[-1] else "snapshot (stored fp16)"
        return RenderResult(self._render_epoch(ckpt, module, zs), f"epoch {ep} of {model_id}: {kind}",
                            data={"epoch": ep, "epochs": epochs, "latents": zs.tolist()})

    def evolution(self, model_id: str, latent=None, seed: int = 0, n: int = 16, fps: float = 4) -> RenderResult:
        """The same latents through every snapshot and the final model: labelled strip + GIF."""
        ckpt = self.ctx.generative(model_id)
        fps = check_float("frames per second", fps, 0.5, 30)
        epochs = self._epochs(ckpt)
        zs = self._scrub_latents(ckpt, latent, seed, n)
        frames = np.stack([self._render_epoch(ckpt, self._epoch_module(ckpt, e)[0], zs) for e in epochs])
        scale = max(1, 64 // frames.shape[1])
        frames = render.label_tiles(frames, [f"ep {e}" for e in epochs], scale)
        strip = render.grid(frames, nrow=len(epochs), padding=2)
        info = f"{len(zs)} latent(s) through epochs {', '.join(map(str, epochs))}"
        return RenderResult(strip, info, data={"gif": render.gif_bytes(list(frames), fps=fps), "epochs": epochs})
