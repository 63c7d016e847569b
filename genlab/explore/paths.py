"""Explorer: interpolation paths (strip, GIF, per-frame class probabilities) and VAE reconstruction."""
from __future__ import annotations

import torch

from genlab import latent, render
from genlab.checkpoints import Checkpoint
from genlab.explore.base import (MAX_SEED, MAX_STEPS, ExplorerError, RenderResult, check_float, check_int, parse_latent,
                                 short)

MAX_KEYFRAMES = 16
MAX_POSTERIOR_SAMPLES = 16


class Paths:
    # ---- interpolation ------------------------------------------------------------------------
    def keyframe(self, ckpt: Checkpoint, item, current) -> torch.Tensor:
        """One keyframe: a seed (int or "seed:N"), "current", or a latent (list / JSON text)."""
        d = ckpt.manifest.latent_size
        if isinstance(item, str) and item.strip().lower().startswith("seed:"):
            item = item.split(":", 1)[1].strip()
        if isinstance(item, str) and item.strip().lower() == "current":
            return parse_latent(current, d)
        if isinstance(item, (int, float, str)) and not isinstance(item, bool) and str(item).strip().lstrip("-").isdigit():
            seed = check_int("keyframe seed", item, 0, MAX_SEED)
            return latent.sample(1, d, seed)[0]
        return parse_latent(item, d)

    def keyframes(self, ckpt: Checkpoint, items, current=None) -> torch.Tensor:
        if isinstance(items, str):
            items = parse_keyframe_text(items)
        if not isinstance(items, (list, tuple)) or not 2 <= len(items) <= MAX_KEYFRAMES:
            raise ExplorerError(f"give between 2 and {MAX_KEYFRAMES} keyframes (seeds, 'current' or latents)")
        return torch.stack([self.keyframe(ckpt, it, current) for it in items])

    def interpolate(self, model_id: str, items, mode: str = "slerp", steps: int = 16, current=None,
                    fps: float = 12.0) -> RenderResult:
        """Frames along a lerp/slerp path through the keyframes, as a strip, a GIF and per-frame scores."""
        ckpt = self.generative(model_id)
        m = ckpt.manifest
        steps = check_int("steps", steps, 2, MAX_STEPS)
        fps = check_float("frames per second", fps, 1, 60)
        if mode not in ("lerp", "slerp"):
            raise ExplorerError(f"mode must be 'lerp' or 'slerp', got {short(mode)}")
        keys = self.keyframes(ckpt, items, current)
        zs = latent.path(keys, steps, mode)
        imgs = self.engine.decode(ckpt, zs)
        tiles = render.to_uint8(imgs, m.output_range)
        data = {"latents": zs.tolist(), "gif": render.gif_bytes(list(tiles), fps=fps, boomerang=True)}
        if self.has_classifier():
            data["probs"] = self.classify(imgs, m).tolist()
        disc = ckpt.aux.get("discriminator")
        if disc is not None:
            data["realism"] = torch.sigmoid(self.engine.apply(disc, imgs, "logits")).tolist()
        strip = render.grid(tiles, nrow=min(steps, 16), padding=2)
        return RenderResult(strip, f"{steps} frames, {mode}, through {len(keys)} keyframes", data=data)

    def has_classifier(self) -> bool:
        from genlab.explore.base import CLASSIFIER_ID

        return CLASSIFIER_ID in self.registry.ids()

    # ---- reconstruction -----------------------------------------------------------------------
    def prepare_image(self, ckpt: Checkpoint, source):
        """Upload/sketch -> (uint8 [S, S, C] as the model sees it, notes), or ExplorerError."""
        from genlab.preprocess import ImageInputError, prepare_upload

        m = ckpt.manifest
        try:
            img, info = prepare_upload(source, m.image_size, m.channels)
        except ImageInputError as exc:
            raise ExplorerError(str(exc)) from None
        return img, info

    def encode_image(self, model_id: str, source) -> tuple[torch.Tensor, torch.Tensor, object, dict]:
        """(mu [Z], logvar [Z], model input uint8, preprocessing info) for an upload, with a VAE."""
        ckpt = self.generative(model_id, "vae")
        img, info = self.prepare_image(ckpt, source)
        x = render.from_uint8(img[None], ckpt.manifest.output_range)
        mu, logvar = self.engine.encode(ckpt, x)
        return mu[0], logvar[0], img, info

    def reconstruct(self, model_id: str, source, n_samples: int = 6, seed: int = 0) -> RenderResult:
        """Original | reconstruction | error heatmap, with mu/sigma per dimension and posterior samples."""
        ckpt = self.generative(model_id, "vae")
        n_samples = check_int("posterior samples", n_samples, 0, MAX_POSTERIOR_SAMPLES)
        seed = check_int("seed", seed, 0, MAX_SEED)
        mu, logvar, img, info = self.encode_image(model_id, source)
        m = ckpt.manifest
        recon = self.engine.decode_uint8(ckpt, mu[None])[0]
        err = (img.astype("float32") - recon.astype("float32")) / 255.0
        mse, mae = float((err**2).mean()), float(abs(err).mean())
        heat = render.heatmap(abs(err).mean(-1))
        sigma = torch.exp(0.5 * logvar)
        data = {"input": img, "latent": mu.tolist(), "mu": mu.tolist(), "sigma": sigma.tolist(), "mse": mse,
                "mae": mae, "notes": info.get("notes", [])}
        if n_samples:
            eps = torch.randn(n_samples, m.latent_size, generator=latent.cpu_generator(seed))
            data["samples"] = render.grid(self.engine.decode_uint8(ckpt, mu + eps * sigma), nrow=n_samples)
        image = render.hstack([img, recon, heat], gap=2)
        text = (f"reconstruction error: MSE {mse:.4f}, mean |error| {mae:.4f} (pixels in [0, 1]); "
                f"heatmap scaled to the largest error ({float(abs(err).max()):.2f})")
        return RenderResult(image, text, data=data)


def parse_keyframe_text(text: str) -> list:
    """'3, 7, current' or a JSON list -> list of keyframe items."""
    import json

    text = (text or "").strip()
    if len(text) > 500_000:
        raise ExplorerError("keyframe text is too long")
    if text.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ExplorerError(f"keyframes are not valid JSON: {exc.msg}") from None
        except (ValueError, RecursionError):
            raise ExplorerError("keyframes are not valid JSON (numbers too long or nesting too deep)") from None
        return items if isinstance(items, list) else [items]
    return [t.strip() for t in text.replace(";", ",").replace("\n", ",").split(",") if t.strip()]
