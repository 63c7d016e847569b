"""The samples view: a seeded grid of prior samples (labels, realism) and which latent a click picked."""
from __future__ import annotations

import torch

from genlab import render
from genlab.checkpoints import Checkpoint, Manifest
from genlab.views.context import Context
from genlab.views.types import (MAX_SEED, MAX_TILES, ExplorerError, RenderResult, SampleRequest, check_float,
                                check_int)


class SamplesView:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def sample_latents(self, m: Manifest, req: SampleRequest) -> torch.Tensor:
        """``[n, D]`` prior draws of the request's seed, truncated by psi and scaled by temperature."""
        n = check_int("number of tiles", req.n, 1, MAX_TILES)
        seed = check_int("seed", req.seed, 0, MAX_SEED)
        psi = check_float("truncation psi", req.psi, 0.0, 1.0)
        temp = check_float("temperature", req.temperature, 0.0, 3.0)
        return self.ctx.seed_latents(self.ctx.generative(m.id), n, seed, psi, temp)

    def sample_order(self, ckpt: Checkpoint, req: SampleRequest, z: torch.Tensor, imgs: torch.Tensor):
        """(display order of tiles, realism logits or None)."""
        disc = ckpt.aux.get("discriminator")
        if (req.realism or req.sort_by_realism) and disc is None:
            raise ExplorerError(f"{req.model} has no discriminator weights: realism is not available")
        scores = self.ctx.engine.apply(disc, imgs, "logits") if (req.realism or req.sort_by_realism) else None
        order = torch.argsort(scores, descending=True, stable=True) if req.sort_by_realism else torch.arange(len(z))
        return order, scores

    def samples(self, req: SampleRequest) -> RenderResult:
        """A grid of ``req.n`` samples, drawn upscaled; data: order, scale, tile (px), realism (when asked)."""
        ctx = self.ctx
        ckpt = ctx.generative(req.model)
        m = ckpt.manifest
        z = self.sample_latents(m, req)
        imgs = ctx.engine.decode(ckpt, z)
        order, scores = self.sample_order(ckpt, req, z, imgs)
        tiles = render.to_uint8(imgs[order], m.output_range)
        labels = [[] for _ in range(len(z))]
        if req.labels:
            probs = ctx.classify(imgs[order], m)
            for i, p in enumerate(probs):
                labels[i].append(f"{int(p.argmax())} {float(p.max()):.2f}")
        if scores is not None and req.realism:
            for i, s in enumerate(scores[order]):
                labels[i].append(f"r{float(torch.sigmoid(s)):.2f}")
        # drawn upscaled: the grid is clickable, and Gradio maps clicks only on images it does not upscale
        scale = render.display_scale(m.image_size)
        if req.labels or req.realism:
            tiles = render.label_tiles(tiles, [" ".join(lab) for lab in labels], scale)
        else:
            tiles = render.upscale_tiles(tiles, scale)
        image = render.grid(tiles, padding=2)
        info = f"{len(z)} samples of {m.id}, seed {req.seed}, psi {req.psi:g}, temperature {req.temperature:g}"
        data = {"order": order.tolist(), "scale": scale, "tile": m.image_size}
        if scores is not None:
            data["realism"] = torch.sigmoid(scores[order]).tolist()
        return RenderResult(image, info, data=data)

    def tile_latent(self, req: SampleRequest, x: int, y: int) -> tuple[list[float], int]:
        """The latent under pixel (x, y) of the grid ``samples(req)`` drew, and its index in the seed's draw."""
        m = self.ctx.generative(req.model).manifest
        n = check_int("number of tiles", req.n, 1, MAX_TILES)
        scale = render.display_scale(m.image_size)
        x, y = check_float("click x", x, 0, 1e5), check_float("click y", y, 0, 1e5)
        i = render.tile_at(int(x), int(y), n, m.image_size * scale, padding=2)
        if i is None:
            raise ExplorerError("that click fell between tiles: click on a tile")
        return self.tile_by_position(req, i)

    def tile_by_position(self, req: SampleRequest, i: int) -> tuple[list[float], int]:
        """The latent of the tile shown at position ``i`` (after any realism sort)."""
        ckpt = self.ctx.generative(req.model)
        z = self.sample_latents(ckpt.manifest, req)
        i = check_int("tile index", i, 0, len(z) - 1)
        order = torch.arange(len(z))
        if req.sort_by_realism:
            order, _ = self.sample_order(ckpt, req, z, self.ctx.engine.decode(ckpt, z))
        idx = int(order[i])
        return z[idx].tolist(), idx
