"""Compare: the same action on two to four models at once, aligned (the lesson's side-by-side views).

Actions: the 2-D maps of encoder models decoded over ONE shared plane with the holes shaded, samples from
each model's prior with the same seed, one interpolation between the same two held-out digits through
each model (encoded by VAEs/autoencoders, inverted for GANs), and reconstructions of the same picture.
Plain requests in, one ``RenderResult`` per model out (uint8 image, info, data); no gradio.
"""
from __future__ import annotations

import numpy as np
import torch

from genlab import latent, render
from genlab.views.types import ExplorerError, RenderResult, SampleRequest, check_int, short

MAX_MODELS = 4
ACTIONS = ("maps", "samples", "interpolation", "reconstruction")
MAP_CELLS = 16  # decoded squares per side of a compared map
INVERT_STEPS = 120  # a GAN's latent for a held-out digit: a short inversion, cached per model and digit
HOLE_TINT = np.array([230, 40, 40], np.float32)


def has_encoder(family: str) -> bool:
    return family in ("vae", "ae")


class CompareView:
    """Composes the explorer's own operations (``ex``: genlab.views.Explorer); caches on its Context."""

    def __init__(self, ex):
        self.ex = ex

    # ---- inputs ---------------------------------------------------------------------------------
    def models(self, ids) -> list[str]:
        if isinstance(ids, str):
            ids = [i.strip() for i in ids.split(",") if i.strip()]
        if not isinstance(ids, (list, tuple)) or not 1 <= len(ids) <= MAX_MODELS:
            raise ExplorerError(f"choose between 1 and {MAX_MODELS} models to compare, got {short(ids)}")
        out = []
        for i in ids:
            self.ex.generative(i)  # a clear error for unknown or non-generative ids
            if i not in out:
                out.append(i)
        shapes = {(self.ex.registry.manifest(i).image_size, self.ex.registry.manifest(i).channels) for i in out}
        if len(shapes) > 1:
            raise ExplorerError("these models draw pictures of different sizes; compare models of one dataset")
        return out

    def family(self, model_id: str) -> str:
        return self.ex.registry.manifest(model_id).family

    def _codes(self, model_id: str) -> torch.Tensor:
        """Encoder means of the held-out digits ``[N, Z]`` (cached)."""
        ckpt = self.ex.generative(model_id)
        return self.ex.cached(("compare-codes", model_id), lambda: self.ex.engine.encode(
            ckpt, self.ex.reference_images(ckpt, "test"))[0])

    def plane(self, ids: list[str]) -> list[float]:
        """One plane for every 2-D encoder model: the union of their held-out codes' 1-99th percentile boxes."""
        from genlab import metrics

        boxes = [metrics.code_extent(self._codes(i).float(), 1.0, 99.0) for i in ids
                 if has_encoder(self.family(i)) and self.ex.registry.manifest(i).latent_size == 2]
        if not boxes:
            return [-3.0, 3.0, -3.0, 3.0]
        b = np.array(boxes)
        return [float(b[:, 0].min()), float(b[:, 1].max()), float(b[:, 2].min()), float(b[:, 3].max())]

    # ---- actions --------------------------------------------------------------------------------
    def maps(self, ids) -> list[RenderResult]:
        """Each 2-D encoder model decoded over the same plane; squares that read as no digit (classifier
        confidence < 0.5) or unlike any training digit are tinted red: the holes."""
        ids = self.models(ids)
        extent = self.plane(ids)
        return [self._map(i, extent) for i in ids]

    def _map(self, model_id: str, extent) -> RenderResult:
        m = self.ex.registry.manifest(model_id)
        if not has_encoder(m.family):
            return RenderResult(None, f"{model_id} is a GAN: it has no encoder, so no digit has a code to map")
        if m.latent_size != 2:
            return RenderResult(None, f"{model_id} has {m.latent_size} latent numbers: only 2-D models draw "
                                      "their whole plane")
        key = ("compare-map", model_id, tuple(round(v, 6) for v in extent))
        try:
            return self.ex.cached(key, lambda: self._draw_map(model_id, extent))
        except ValueError as exc:  # a degenerate plane (codes collapsed to a point): say so, do not crash
            if isinstance(exc, ExplorerError):
                raise
            raise ExplorerError(f"{model_id}'s codes span no plane to draw ({exc})") from None

    def _draw_map(self, model_id: str, extent) -> RenderResult:
        from genlab import data as gdata
        from genlab import evaluate

        ckpt, clf = self.ex.generative(model_id), self.ex.classifier()
        ref = self.ex.cached(("compare-novelty",), lambda: evaluate.novelty_reference(
            self.ex.engine, clf, gdata.load_offline_mnist()))
        h = evaluate.holes(self.ex.engine, ckpt, clf, extent=extent, grid=MAP_CELLS, reference=ref)
        hole = (h["confidence"] < h["threshold"]) | (h["novelty"] > 1.0)
        from genlab import metrics

        z = torch.as_tensor(metrics.plane_grid(extent, MAP_CELLS), dtype=torch.float32)
        tiles = self.ex.engine.decode_uint8(ckpt, z)
        tiles = np.repeat(tiles, 3, -1) if tiles.shape[-1] == 1 else tiles
        tinted = tiles.astype(np.float32)
        flat = hole.reshape(-1)
        tinted[flat] = 0.55 * tinted[flat] + 0.45 * HOLE_TINT
        image = render.grid(tinted.round().astype(np.uint8), nrow=MAP_CELLS, padding=1)
        self._dots(image, model_id, extent, tiles.shape[1])
        share = float(hole.mean())
        x0, x1, y0, y1 = extent
        info = (f"{model_id}: {share:.0%} of the plane are holes (red: the classifier reads no digit there, or "
                f"the picture is unlike any training digit); dots: held-out digits' codes by label; plane "
                f"x {x0:.2g}..{x1:.2g}, y {y0:.2g}..{y1:.2g}")
        return RenderResult(image, info, data={"holes_share": share, "extent": list(extent),
                                               "confidence_share": float((h["confidence"] < h["threshold"]).mean())})

    def _dots(self, image: np.ndarray, model_id: str, extent, tile: int) -> None:
        """The held-out digits' codes as small dots coloured by label, in place: where real digits land, and
        the empty stretches between them."""
        from genlab import data as gdata
        from genlab.views.map import LABEL_COLOURS

        x0, x1, y0, y1 = extent
        codes = self._codes(model_id).double().numpy()
        labels = np.asarray(gdata.load_offline_mnist().test()[1])
        step = (MAP_CELLS - 1) * (tile + 1)  # lattice point k sits at the centre of tile k
        px = np.round(1 + tile / 2 + (codes[:, 0] - x0) / (x1 - x0) * step).astype(int)
        py = np.round(1 + tile / 2 + (y1 - codes[:, 1]) / (y1 - y0) * step).astype(int)
        h, w = image.shape[:2]
        ok = (px >= 1) & (px < w - 1) & (py >= 1) & (py < h - 1)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                image[py[ok] + dy, px[ok] + dx] = LABEL_COLOURS[labels[ok] % 10]

    def samples(self, ids, seed: int = 0, n: int = 16) -> list[RenderResult]:
        """Each model's prior, the same seed: the same random numbers through every decoder."""
        ids = self.models(ids)
        n = check_int("pictures", n, 1, 64)
        out = []
        for i in ids:
            res = self.ex.samples(SampleRequest(i, seed, n))
            prior = self.ex.registry.manifest(i).raw.get("latent", {}).get("prior", "normal")
            note = " (no prior of its own: a Gaussian fitted to its training codes)" if prior == "fitted_normal" else ""
            out.append(RenderResult(res.image, f"{i}: {n} samples, seed {seed}{note}", data=res.data))
        return out

    def _digit(self, index: int) -> np.ndarray:
        from genlab import data as gdata

        imgs = gdata.load_offline_mnist().test()[0]
        index = check_int("held-out digit", index, 0, len(imgs) - 1)
        return np.asarray(imgs[index]).reshape(28, 28)

    def _latent_of(self, model_id: str, index: int) -> torch.Tensor:
        """A held-out digit's latent: the encoder's mean, or a GAN's short inversion (cached)."""
        def build():
            digit = self._digit(index)
            if has_encoder(self.family(model_id)):
                return self.ex.encode_image(model_id, digit)[0]
            return torch.tensor(self.ex.invert(model_id, digit, INVERT_STEPS, vae=None).data["latent"])

        return self.ex.cached(("compare-latent", model_id, int(index)), build)

    def interpolation(self, ids, a: int = 3, b: int = 21, steps: int = 9, mode: str = "slerp") -> list[RenderResult]:
        """The same two held-out digits through each model: [digit a | path | digit b]."""
        ids = self.models(ids)
        steps = check_int("pictures along the path", steps, 2, 16)
        if mode not in ("lerp", "slerp"):
            raise ExplorerError(f"mode must be 'lerp' or 'slerp', got {short(mode)}")
        da, db = self._digit(a), self._digit(b)
        out = []
        for i in ids:
            ckpt = self.ex.generative(i)
            zs = latent.path(torch.stack([self._latent_of(i, a), self._latent_of(i, b)]), steps, mode)
            frames = self.ex.engine.decode_uint8(ckpt, zs)
            ends = [d[..., None] if frames.shape[-1] == 1 else np.repeat(d[..., None], 3, -1) for d in (da, db)]
            strip = render.grid(np.concatenate([ends[0][None], frames, ends[1][None]]), nrow=steps + 2, padding=2)
            how = "encoded" if has_encoder(self.family(i)) else f"inverted ({INVERT_STEPS} steps)"
            out.append(RenderResult(strip, f"{i}: digits {a} and {b} {how}, {steps} pictures by {mode}"))
        return out

    def reconstruction(self, ids, source) -> list[RenderResult]:
        """The same picture through each model: [what it sees | its reconstruction]."""
        ids = self.models(ids)
        if source is None:
            raise ExplorerError("upload an image or draw a digit first")
        out = []
        for i in ids:
            if has_encoder(self.family(i)):
                res = self.ex.reconstruct(i, source, 0)
                seen = res.data["input"]
                rec = res.image[:, seen.shape[1] + 2 : 2 * seen.shape[1] + 2]
                out.append(RenderResult(render.hstack([seen, rec], gap=2), f"{i}: encoded, MSE {res.data['mse']:.4f}"))
            else:
                res = self.ex.invert(i, source, INVERT_STEPS, vae=None)
                out.append(RenderResult(res.image, f"{i}: inverted in {res.data['steps_run']} steps, "
                                                   f"MSE {res.data['mse_gan']:.4f}"))
        return out

    def run(self, action: str, ids, seed: int = 0, a: int = 3, b: int = 21, mode: str = "slerp",
            source=None) -> list[RenderResult]:
        if action not in ACTIONS:
            raise ExplorerError(f"action must be one of {', '.join(ACTIONS)}, got {short(action)}")
        if action == "maps":
            return self.maps(ids)
        if action == "samples":
            return self.samples(ids, seed)
        if action == "interpolation":
            return self.interpolation(ids, a, b, mode=mode)
        return self.reconstruction(ids, source)
