"""Explorer core: models, the sample grid, the slider path and traversal sheets."""
from __future__ import annotations

import dataclasses
import threading
from typing import Any

import numpy as np
import torch

from genlab import latent, render
from genlab.checkpoints import Checkpoint, CheckpointError, Manifest
from genlab.engine import Engine
from genlab.explore.base import (CLASSIFIER_ID, MAX_SEED, MAX_SWEEP, MAX_TILES, ExploreRequest, ExplorerError, RenderResult,
                                 SampleRequest, as_numbers, check_float, check_int, check_method, parse_latent,
                                 short)
from genlab.registry import Registry


class Core:

    """Stateless per request; holds the registry, the engine and per-model caches."""

    def __init__(self, registry: Registry, engine: Engine | None = None):
        self.registry = registry
        self.engine = engine or Engine()
        self._cache: dict[tuple, Any] = {}
        self._loaded: dict[str, Checkpoint] = {}  # the checkpoint object derived data was computed from
        self._locks: dict[tuple, threading.Lock] = {}
        self._lock = threading.Lock()

    # ---- models -------------------------------------------------------------------------------
    def model_ids(self, family: str | None = None) -> list[str]:
        ids = [i for i in self.registry.ids() if self.registry.manifest(i).family in ("gan", "vae")]
        return [i for i in ids if family is None or self.registry.manifest(i).family == family]

    def load_id(self, model_id) -> str:
        """A registry id (string, known), or ExplorerError."""
        if not isinstance(model_id, str) or not model_id or len(model_id) > 100:
            raise ExplorerError(f"model must be a registry id, got {short(model_id)}")
        try:
            self.registry.entry(model_id)
        except KeyError as exc:
            raise ExplorerError(exc.args[0]) from None
        return model_id

    def load(self, model_id: str) -> Checkpoint:
        if not isinstance(model_id, str) or not model_id:
            raise ExplorerError("choose a model first" if not model_id else f"model must be an id, got {short(model_id)}")
        if len(model_id) > 100:
            raise ExplorerError(f"no model {short(model_id)} in the registry")
        try:
            ckpt = self.registry.get(model_id, str(self.engine.device))
        except KeyError as exc:
            raise ExplorerError(exc.args[0]) from None
        except CheckpointError as exc:
            raise ExplorerError(f"model {model_id!r} cannot be loaded: {exc}") from None
        with self._lock:
            prev = self._loaded.get(model_id)
            self._loaded[model_id] = ckpt
            if prev is not None and prev is not ckpt:  # weights reloaded from disk: derived data is stale
                keep = {k: v for k, v in self._cache.items() if k[0] == "custom-direction"}
                self._cache.clear()
                self._cache.update(keep)
        return ckpt

    def generative(self, model_id: str, family: str | None = None) -> Checkpoint:
        ckpt = self.load(model_id)
        fam = ckpt.manifest.family
        if fam not in ("gan", "vae") or (family and fam != family):
            want = {"vae": "a VAE", "gan": "a GAN"}.get(family or "", "a GAN or a VAE")
            raise ExplorerError(f"{model_id} is a {fam}; this view needs {want}")
        return ckpt

    def cached(self, key: tuple, build):
        """``build()`` once per key, even under concurrent requests."""
        with self._lock:
            if key in self._cache:
                return self._cache[key]
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._cache:
                value = build()
                with self._lock:
                    self._cache[key] = value
            return self._cache[key]

    def models_table(self) -> list[dict]:
        """One row per registry entry, unavailable ones with their reason."""
        rows = []
        for e in self.registry.entries(None):
            m = e.manifest
            if e.available and m.kind != "model":
                continue
            row = {"id": e.id, "status": "ok" if e.available else f"unavailable: {e.error}"}
            if e.available:
                row.update(family=m.family, architecture=m.architecture, dataset=m.dataset.get("name", ""),
                           image=f"{m.image_size}x{m.image_size}x{m.channels}", latent=m.latent_size,
                           params=m.num_params, metrics=summarize_metrics(m))
            rows.append(row)
        return rows

    def card(self, model_id: str) -> str:
        self.load_id(model_id)
        entry = self.registry.entry(model_id)
        if not entry.available:
            return f"### {model_id}: unavailable\n\n{entry.error}"
        path = entry.folder / "README.md"
        text = path.read_text(encoding="utf-8") if path.is_file() else f"### {model_id}\n\n(no model card)"
        # the card's relative image link only works on disk; the UI shows preview() beside it instead
        return "\n".join(line for line in text.splitlines() if not line.startswith("![preview]"))

    def preview(self, model_id: str):
        """The checkpoint's preview.png as uint8 [H, W, C], or None."""
        from PIL import Image

        path = self.registry.entry(self.load_id(model_id)).folder / "preview.png"
        if not path.is_file():
            return None
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))

    # ---- samples ------------------------------------------------------------------------------
    def sample_latents(self, m: Manifest, req: SampleRequest) -> torch.Tensor:
        n = check_int("number of tiles", req.n, 1, MAX_TILES)
        seed = check_int("seed", req.seed, 0, MAX_SEED)
        psi = check_float("truncation psi", req.psi, 0.0, 1.0)
        temp = check_float("temperature", req.temperature, 0.0, 3.0)
        return latent.sample(n, m.latent_size, seed, psi, temp)

    def sample_order(self, ckpt: Checkpoint, req: SampleRequest, z: torch.Tensor, imgs: torch.Tensor):
        """(display order of tiles, realism logits or None)."""
        disc = ckpt.aux.get("discriminator")
        if (req.realism or req.sort_by_realism) and disc is None:
            raise ExplorerError(f"{req.model} has no discriminator weights: realism is not available")
        scores = self.engine.apply(disc, imgs, "logits") if (req.realism or req.sort_by_realism) else None
        order = torch.argsort(scores, descending=True, stable=True) if req.sort_by_realism else torch.arange(len(z))
        return order, scores

    def samples(self, req: SampleRequest) -> RenderResult:
        ckpt = self.generative(req.model)
        m = ckpt.manifest
        z = self.sample_latents(m, req)
        imgs = self.engine.decode(ckpt, z)
        order, scores = self.sample_order(ckpt, req, z, imgs)
        tiles = render.to_uint8(imgs[order], m.output_range)
        labels = [[] for _ in range(len(z))]
        if req.labels:
            probs = self.classify(imgs[order], m)
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
        m = self.generative(req.model).manifest
        n = check_int("number of tiles", req.n, 1, MAX_TILES)
        scale = render.display_scale(m.image_size)
        x, y = check_float("click x", x, 0, 1e5), check_float("click y", y, 0, 1e5)
        i = render.tile_at(int(x), int(y), n, m.image_size * scale, padding=2)
        if i is None:
            raise ExplorerError("that click fell between tiles: click on a tile")
        return self.tile_by_position(req, i)

    def tile_by_position(self, req: SampleRequest, i: int) -> tuple[list[float], int]:
        """The latent of the tile shown at position ``i`` (after any realism sort)."""
        ckpt = self.generative(req.model)
        z = self.sample_latents(ckpt.manifest, req)
        i = check_int("tile index", i, 0, len(z) - 1)
        order = torch.arange(len(z))
        if req.sort_by_realism:
            order, _ = self.sample_order(ckpt, req, z, self.engine.decode(ckpt, z))
        idx = int(order[i])
        return z[idx].tolist(), idx

    def classify(self, imgs: torch.Tensor, m: Manifest) -> torch.Tensor:
        """Class probabilities ``[N, 10]`` from the shipped classifier (images in ``m``'s range)."""
        from genlab.evaluate import classifier_view

        clf = self.classifier()
        return torch.softmax(self.engine.apply(clf.model, classifier_view(imgs, m.output_range)), 1)

    def classifier(self) -> Checkpoint:
        if CLASSIFIER_ID not in self.registry.ids():
            raise ExplorerError(f"the label overlay needs the {CLASSIFIER_ID} checkpoint, which is not installed")
        return self.registry.get(CLASSIFIER_ID, str(self.engine.device))

    # ---- explore ------------------------------------------------------------------------------
    def directions(self, model_id: str, method: str):
        """Discovered directions for a model (computed once, cached)."""
        from genlab import directions as gdir

        ckpt = self.generative(model_id)
        if method not in gdir.methods_for(ckpt.manifest):
            raise ExplorerError(f"unknown direction method {short(method)} for {model_id}; "
                                f"choose one of {gdir.methods_for(ckpt.manifest)}")

        def build():
            images = self.reference_images(ckpt) if ckpt.manifest.family == "vae" else None
            return gdir.compute(ckpt, self.engine, method, images01=images, k=10, seed=0)

        return self.cached(("directions", model_id, method), build)

    def reference_images(self, ckpt: Checkpoint, split: str = "test") -> torch.Tensor:
        """Real held-out digits in the model's range and size (MNIST-trained models)."""
        from genlab import data as gdata

        m = ckpt.manifest

        def build():
            digits = gdata.load_offline_mnist()
            imgs = digits.test()[0] if split == "test" else digits.train()[0]
            return gdata.to_range(imgs, m.output_range, m.image_size, m.channels)

        return self.cached(("reference", m.id, split), build)

    def compose(self, req: ExploreRequest) -> torch.Tensor:
        """base + direction offsets + raw-dimension offsets -> latent ``[D]``."""
        ckpt = self.generative(req.model)
        d = ckpt.manifest.latent_size
        z = parse_latent(req.base, d).clone()
        method = check_method(req.method)
        weights = as_numbers("slider values", req.weights, 64)
        raw = as_numbers("raw slider values", req.raw, 4096)
        if any(raw[d:]):  # hidden sliders past the latent size arrive as zeros and are ignored
            raise ExplorerError(f"the latent has {d} dimensions; got offsets for {len(raw)}")
        raw = raw[:d]
        if method and any(weights):
            dirs = self.directions(req.model, method)
            k = min(len(weights), dirs.vectors.shape[0])
            z += dirs.offset(torch.tensor(weights[:k] + [0.0] * (dirs.vectors.shape[0] - k)))
        for i, w in enumerate(raw):
            z[i] += w
        if req.pick_value:
            z[check_int("dimension", req.pick_dim, 0, d - 1)] += check_float("slider", req.pick_value, -10, 10)
        return z

    def explore(self, req: ExploreRequest) -> RenderResult:
        """One image for the composed latent: the slider path, kept free of other work."""
        ckpt = self.generative(req.model)
        z = self.compose(req)
        img = self.engine.decode_uint8(ckpt, z[None])[0]
        return RenderResult(img, data={"latent": z.tolist()})

    def sweep(self, req: ExploreRequest, slider: int, values) -> np.ndarray:
        """Every image one slider can show, the others held: ``uint8 [len(values), H, W, C]``, one batch.

        ``slider`` counts the direction sliders (``req.weights``), then the raw ones (``req.raw``), then the
        dimension picker's offset. The browser draws these frames while that slider is dragged; each equals
        ``explore`` at that value (batched decoding differs by at most 1 level in rare pixels)."""
        if not isinstance(req, ExploreRequest):
            raise ExplorerError(f"sweep needs an explore request, got {type(req).__name__}")
        ckpt = self.generative(req.model)
        weights = tuple(as_numbers("slider values", req.weights, 64))
        raw = tuple(as_numbers("raw slider values", req.raw, 4096))
        nw, nr = len(weights), len(raw)
        slider = check_int("slider", slider, 0, nw + nr)
        vals = as_numbers("sweep values", values, MAX_SWEEP)
        if not vals:
            raise ExplorerError("sweep values are empty")
        req = dataclasses.replace(req, weights=weights, raw=raw)
        zs = []
        for v in vals:
            if slider < nw:
                r = dataclasses.replace(req, weights=weights[:slider] + (v,) + weights[slider + 1:])
            elif slider < nw + nr:
                k = slider - nw
                r = dataclasses.replace(req, raw=raw[:k] + (v,) + raw[k + 1:])
            else:
                r = dataclasses.replace(req, pick_value=v)
            zs.append(self.compose(r))
        return self.engine.decode_uint8(ckpt, torch.stack(zs))

    def traversal(self, model_id: str, base, method: str, index: int, steps: int = 7, rows: int = 4) -> RenderResult:
        """Rows of images from -3 to +3 sigma along one direction: the current latent, then seeds 1.."""
        from genlab import directions as gdir

        ckpt = self.generative(model_id)
        m = ckpt.manifest
        dirs = self.directions(model_id, method)
        index = check_int("direction", index, 0, dirs.vectors.shape[0] - 1)
        steps = check_int("steps", steps, 3, 15)
        starts = [parse_latent(base, m.latent_size)] + list(latent.sample(rows - 1, m.latent_size, seed=1))
        zs = torch.cat([gdir.traversal(s, dirs, index, steps, 3.0) for s in starts])
        tiles = self.engine.decode_uint8(ckpt, zs)
        info = f"{dirs.names[index]}: columns from -3 to +3 sigma; first row is the current latent"
        return RenderResult(render.grid(tiles, nrow=steps), info)


def summarize_metrics(m: Manifest) -> str:
    """A one-line metric summary for the models table."""
    mt = m.metrics
    parts = []
    for key, label, fmt in (("fid", "FID", "{:.2f}"), ("nelbo_nats", "-ELBO", "{:.1f} nats"),
                            ("heldout_accuracy", "acc", "{:.3f}"), ("mean_confidence", "conf", "{:.2f}")):
        if isinstance(mt.get(key), (int, float)):
            parts.append(f"{label} " + fmt.format(mt[key]))
    if isinstance(mt.get("floor"), dict) and "fid" in mt["floor"]:
        parts.append(f"(floor FID {mt['floor']['fid']:.2f})")
    return ", ".join(parts)
