"""The interpolate view: frames along a lerp/slerp path through keyframes (strip, GIF, per-frame class
probabilities and realism), and the default path a student sees when the view opens."""
from __future__ import annotations

import json

import torch

from genlab import latent, render
from genlab.checkpoints import Checkpoint
from genlab.views.context import Context
from genlab.views.types import (MAX_SEED, MAX_STEPS, ExplorerError, RenderResult, check_float, check_int,
                                parse_latent, short)

MAX_KEYFRAMES = 16
DEFAULT_STEPS = 12  # frames of the default path: one strip row, ~20 ms of decoding for the shipped models


def keyframe(ckpt: Checkpoint, item, current) -> torch.Tensor:
    """One keyframe latent ``[D]``: a seed (int or "seed:N"), "current", or a latent (list / JSON text)."""
    d = ckpt.manifest.latent_size
    if isinstance(item, str) and item.strip().lower().startswith("seed:"):
        item = item.split(":", 1)[1].strip()
    if isinstance(item, str) and item.strip().lower() == "current":
        return parse_latent(current, d)
    if isinstance(item, (int, float, str)) and not isinstance(item, bool) and str(item).strip().lstrip("-").isdigit():
        seed = check_int("keyframe seed", item, 0, MAX_SEED)
        from genlab.engine import prior_of  # the model's prior: an autoencoder's fitted Gaussian

        z, prior = latent.sample(1, d, seed), prior_of(ckpt)
        return (z if prior is None else latent.apply_prior(z, *prior))[0]
    return parse_latent(item, d)


def keyframes(ckpt: Checkpoint, items, current=None) -> torch.Tensor:
    """``[K, D]`` keyframes from a list of items or the text "3, 7, current" / a JSON list."""
    if isinstance(items, str):
        items = parse_keyframe_text(items)
    if not isinstance(items, (list, tuple)) or not 2 <= len(items) <= MAX_KEYFRAMES:
        raise ExplorerError(f"give between 2 and {MAX_KEYFRAMES} keyframes (seeds, 'current' or latents)")
    return torch.stack([keyframe(ckpt, it, current) for it in items])


def parse_keyframe_text(text: str) -> list:
    """'3, 7, current' or a JSON list -> list of keyframe items."""
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


class InterpolateView:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def keyframe(self, ckpt: Checkpoint, item, current) -> torch.Tensor:
        return keyframe(ckpt, item, current)

    def keyframes(self, ckpt: Checkpoint, items, current=None) -> torch.Tensor:
        return keyframes(ckpt, items, current)

    def interpolate(self, model_id: str, items, mode: str = "slerp", steps: int = 16, current=None,
                    fps: float = 12.0) -> RenderResult:
        """Frames along a lerp/slerp path through the keyframes, as a strip, a GIF and per-frame scores.

        data: latents ``[steps, D]``, gif (bytes), probs ``[steps, 10]`` (with the classifier), realism
        ``[steps]`` in [0, 1] (with a discriminator)."""
        ctx = self.ctx
        ckpt = ctx.generative(model_id)
        m = ckpt.manifest
        steps = check_int("steps", steps, 2, MAX_STEPS)
        fps = check_float("frames per second", fps, 1, 60)
        if mode not in ("lerp", "slerp"):
            raise ExplorerError(f"mode must be 'lerp' or 'slerp', got {short(mode)}")
        keys = keyframes(ckpt, items, current)
        zs = latent.path(keys, steps, mode)
        imgs = ctx.engine.decode(ckpt, zs)
        tiles = render.to_uint8(imgs, m.output_range)
        data = {"latents": zs.tolist(), "gif": render.gif_bytes(list(tiles), fps=fps, boomerang=True)}
        if ctx.has_classifier():
            data["probs"] = ctx.classify(imgs, m).tolist()
        disc = ckpt.aux.get("discriminator")
        if disc is not None:
            data["realism"] = torch.sigmoid(ctx.engine.apply(disc, imgs, "logits")).tolist()
        strip = render.grid(tiles, nrow=min(steps, 16), padding=2)
        return RenderResult(strip, f"{steps} frames, {mode}, through {len(keys)} keyframes", data=data)

    def default_interpolation(self, model_id: str, latent=None, seed: int = 1) -> RenderResult:
        """What Interpolate shows when it opens: 12 slerp frames from the current latent (seed 0's draw when
        there is none yet) to seed ``seed``'s draw. Deterministic; data as ``interpolate`` plus keyframes."""
        seed = check_int("seed", seed, 0, MAX_SEED)
        start = "seed:0" if latent is None or (isinstance(latent, str) and not latent.strip()) else "current"
        res = self.interpolate(model_id, [start, seed], "slerp", DEFAULT_STEPS, current=latent)
        res.info = f"from the {'current latent' if start == 'current' else 'draw of seed 0'} to seed {seed}: " + res.info
        res.data["keyframes"] = [start, seed]
        return res
