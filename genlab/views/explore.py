"""The explore view: a latent composed from a ``Position`` (base + direction sliders + raw offsets), its image,
every frame one slider can show, traversal sheets, and readable names for the discovered directions."""
from __future__ import annotations

import torch

from genlab import latent, render
from genlab.views.context import Context
from genlab.views.types import (MAX_RAW, MAX_SWEEP, MAX_WEIGHTS, ExploreRequest, ExplorerError, Position,
                                RenderResult, as_numbers, check_float, check_int, check_method, parse_latent)

NAME_SAMPLES = 64  # prior latents each direction is tried on when naming it (seed 0)
NAME_SPAN = 2.0  # sigmas either side of the latent
NAME_MIN_CHANGE = 0.08  # mean probability a label must gain for a direction to be named after it


class ExploreView:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def directions(self, model_id: str, method: str):
        return self.ctx.directions(model_id, method)

    def compose(self, req: ExploreRequest) -> torch.Tensor:
        """base + direction offsets + raw-dimension offsets -> latent ``[D]``."""
        ckpt = self.ctx.generative(req.model)
        return self.compose_position(req.model, ckpt.manifest.latent_size, req.position)

    def compose_position(self, model_id: str, d: int, pos: Position) -> torch.Tensor:
        """A ``Position`` of a model with a ``d``-dim latent -> latent ``[d]``, every value checked."""
        z = parse_latent(pos.base, d).clone()
        method = check_method(pos.method)
        weights = as_numbers("slider values", pos.weights, MAX_WEIGHTS)
        raw = as_numbers("raw slider values", pos.raw, MAX_RAW)
        if any(raw[d:]):  # hidden sliders past the latent size arrive as zeros and are ignored
            raise ExplorerError(f"the latent has {d} dimensions; got offsets for {len(raw)}")
        raw = raw[:d]
        if method and any(weights):
            dirs = self.ctx.directions(model_id, method)
            k = min(len(weights), dirs.vectors.shape[0])
            z += dirs.offset(torch.tensor(weights[:k] + [0.0] * (dirs.vectors.shape[0] - k)))
        for i, w in enumerate(raw):
            z[i] += w
        if pos.pick_value:
            z[check_int("dimension", pos.pick_dim, 0, d - 1)] += check_float("slider", pos.pick_value, -10, 10)
        return z

    def explore(self, req: ExploreRequest) -> RenderResult:
        """One image for the composed latent: the slider path, kept free of other work."""
        ckpt = self.ctx.generative(req.model)
        z = self.compose(req)
        img = self.ctx.engine.decode_uint8(ckpt, z[None])[0]
        return RenderResult(img, data={"latent": z.tolist()})

    def sweep(self, req: ExploreRequest, slider: int, values):
        """Every image one slider can show, the others held: ``uint8 [len(values), H, W, C]``, one batch.

        ``slider`` counts the direction sliders (``req.weights``), then the raw ones (``req.raw``), then the
        dimension picker's offset. The browser draws these frames while that slider is dragged; each equals
        ``explore`` at that value (batched decoding differs by at most 1 level in rare pixels)."""
        if not isinstance(req, ExploreRequest):
            raise ExplorerError(f"sweep needs an explore request, got {type(req).__name__}")
        ckpt = self.ctx.generative(req.model)
        weights = tuple(as_numbers("slider values", req.weights, MAX_WEIGHTS))
        raw = tuple(as_numbers("raw slider values", req.raw, MAX_RAW))
        slider = check_int("slider", slider, 0, len(weights) + len(raw))
        vals = as_numbers("sweep values", values, MAX_SWEEP)
        if not vals:
            raise ExplorerError("sweep values are empty")
        pos = Position(req.base, req.method, weights, raw, req.pick_dim, req.pick_value)
        d = ckpt.manifest.latent_size
        zs = [self.compose_position(req.model, d, pos.replace_slider(slider, v)) for v in vals]
        return self.ctx.engine.decode_uint8(ckpt, torch.stack(zs))

    def traversal(self, model_id: str, base, method: str, index: int, steps: int = 7, rows: int = 4) -> RenderResult:
        """Rows of images from -3 to +3 sigma along one direction: the current latent, then seeds 1.."""
        from genlab import directions as gdir

        ckpt = self.ctx.generative(model_id)
        m = ckpt.manifest
        dirs = self.ctx.directions(model_id, method)
        index = check_int("direction", index, 0, dirs.vectors.shape[0] - 1)
        steps = check_int("steps", steps, 3, 15)
        starts = [parse_latent(base, m.latent_size)] + list(latent.sample(rows - 1, m.latent_size, seed=1))
        zs = torch.cat([gdir.traversal(s, dirs, index, steps, 3.0) for s in starts])
        tiles = self.ctx.engine.decode_uint8(ckpt, zs)
        info = f"{dirs.names[index]}: columns from -3 to +3 sigma; first row is the current latent"
        return RenderResult(render.grid(tiles, nrow=steps), info)

    # ---- readable names -----------------------------------------------------------------------
    def direction_labels(self, model_id: str, method: str) -> list[tuple[str, str]]:
        """(readable, technical) per direction: "3 -> 8" names the classifier label that is lost most and the one
        gained most when the slider goes from -2 to +2 sigma, averaged over 64 prior latents (seed 0). A direction
        that changes no label by 8 points of probability is "same digit, new style". Without the classifier the
        readable name is the technical one. Cached per built-in method; custom ones are named on each call."""
        dirs = self.ctx.directions(model_id, method)
        if not self.ctx.has_classifier():
            return [(n, n) for n in dirs.names]
        if isinstance(method, str) and method.startswith("custom:"):
            return self._name(model_id, dirs)
        return self.ctx.cached(("direction-labels", model_id, method), lambda: self._name(model_id, dirs))

    def _name(self, model_id: str, dirs) -> list[tuple[str, str]]:
        ckpt = self.ctx.generative(model_id)
        m = ckpt.manifest
        z = latent.sample(NAME_SAMPLES, m.latent_size, seed=0)
        k = len(dirs)
        steps = (dirs.sigmas[:, None] * dirs.vectors * NAME_SPAN)  # [K, D]
        zs = torch.cat([z[None] - steps[:, None], z[None] + steps[:, None]]).reshape(-1, m.latent_size)
        probs = self.ctx.classify(self.ctx.engine.decode(ckpt, zs), m).reshape(2, k, NAME_SAMPLES, -1).mean(2)
        change = probs[1] - probs[0]  # [K, 10]: what +4 sigma of travel does to each label's probability
        out = []
        for i, name in enumerate(dirs.names):
            gain, lose = change[i].max(), change[i].min()
            if float(gain) < NAME_MIN_CHANGE and float(-lose) < NAME_MIN_CHANGE:
                out.append(("same digit, new style", name))
            else:
                out.append((f"{int(change[i].argmin())} -> {int(change[i].argmax())}", name))
        return out
