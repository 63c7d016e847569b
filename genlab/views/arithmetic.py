"""The arithmetic view: per-label mean latents, "towards a digit", a - b + c, and custom directions made
from two groups of latents (stored on the context as method "custom:NAME", so Explore's sliders can use them)."""
from __future__ import annotations

import re

import torch

from genlab import latent, render
from genlab.directions import Directions, from_groups
from genlab.views.context import Context
from genlab.views.interpolate import keyframe, parse_keyframe_text
from genlab.views.types import ExplorerError, RenderResult, check_float, check_int, parse_latent

MAX_GROUP = 256
NAME_RE = re.compile(r"^[A-Za-z0-9 _.+-]{1,40}$")


class ArithmeticView:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    # ---- label vectors ------------------------------------------------------------------------
    def label_vectors(self, model_id: str) -> dict[int, list[float]]:
        """Mean latent per digit label (see ``Context.label_means``); labels without one are missing."""
        return self.ctx.label_means(self.ctx.generative(model_id))

    def _label_vector(self, model_id: str, label) -> torch.Tensor:
        label = check_int("label", label, 0, 9)
        vecs = self.label_vectors(model_id)
        if label not in vecs:
            raise ExplorerError(f"{model_id} has no confident samples of a {label}: no label vector "
                                f"(have {', '.join(map(str, sorted(vecs))) or 'none'})")
        return torch.tensor(vecs[label], dtype=torch.float32)

    def resolve_latent(self, model_id: str, item) -> torch.Tensor:
        """One latent ``[D]`` from a seed (int, "N" or "seed:N"), "label:N", or a latent (list / JSON)."""
        ckpt = self.ctx.generative(model_id)
        if isinstance(item, str) and item.strip().lower().startswith("label:"):
            return self._label_vector(model_id, item.split(":", 1)[1].strip())
        if isinstance(item, str) and item.strip().lower() == "current":
            raise ExplorerError("'current' is not a latent here: pass the current latent itself")
        return keyframe(ckpt, item, None)

    # ---- arithmetic ---------------------------------------------------------------------------
    def toward_label(self, model_id: str, latent, label, amount) -> RenderResult:
        """``z + amount * (label_mean - z)`` decoded: 0 keeps z, 1 lands on the label's mean latent."""
        ckpt = self.ctx.generative(model_id)
        z = parse_latent(latent, ckpt.manifest.latent_size)
        amount = check_float("amount", amount, -2.0, 2.0)
        target = self._label_vector(model_id, label)
        out = z + amount * (target - z)
        img = self.ctx.engine.decode_uint8(ckpt, out[None])[0]
        return RenderResult(img, f"{amount:g} of the way towards the mean latent of {int(label)}",
                            data={"latent": out.tolist()})

    def arithmetic(self, model_id: str, a, b, c, scale: float = 1.0) -> RenderResult:
        """``c + scale * (a - b)`` (a - b + c at scale 1); each term a seed, "label:N" or a latent.

        Image: [a | b | c | result] labelled.
        """
        ckpt = self.ctx.generative(model_id)
        scale = check_float("scale", scale, -5.0, 5.0)
        za, zb, zc = (self.resolve_latent(model_id, t) for t in (a, b, c))
        out = latent.combine([(scale, za), (-scale, zb), (1.0, zc)])
        tiles = self.ctx.engine.decode_uint8(ckpt, torch.stack([za, zb, zc, out]))
        s = max(1, 64 // ckpt.manifest.image_size)
        image = render.grid(render.label_tiles(tiles, ["a", "b", "c", "a-b+c" if scale == 1 else "result"], s), nrow=4)
        return RenderResult(image, f"c + {scale:g} * (a - b)", data={"latent": out.tolist()})

    # ---- custom directions --------------------------------------------------------------------
    def _group(self, model_id: str, items, which: str) -> torch.Tensor:
        items = parse_keyframe_text(items) if isinstance(items, str) else items
        if not isinstance(items, (list, tuple)) or not items:
            raise ExplorerError(f"group {which} needs at least one latent (a seed, 'label:N' or a latent list)")
        if len(items) > MAX_GROUP:
            raise ExplorerError(f"group {which} has {len(items)} latents; the limit is {MAX_GROUP}")
        return torch.stack([self.resolve_latent(model_id, it) for it in items])

    def group_direction(self, model_id: str, group_a, group_b, name: str = "custom") -> Directions:
        """A direction from group a's mean latent towards group b's, stored as method "custom:NAME"."""
        self.ctx.generative(model_id)
        if not isinstance(name, str) or not NAME_RE.match(name.strip()):
            raise ExplorerError("direction name must be 1-40 letters, digits, spaces or _ . + -")
        name = name.strip()
        a, b = self._group(model_id, group_a, "A"), self._group(model_id, group_b, "B")
        try:
            dirs = from_groups(a, b, name)
        except ValueError as exc:
            raise ExplorerError(str(exc)) from None
        self.ctx.store_custom(model_id, name, dirs)
        return dirs

    def custom_directions(self, model_id: str) -> list[str]:
        """Method names ("custom:NAME") of the custom directions defined for a model."""
        return self.ctx.custom_directions(model_id)
