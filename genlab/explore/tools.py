"""Explorer tools: 2-D latent maps, the training scrubber, GAN inversion and the memorization check.

Every method returns ``RenderResult`` (uint8 ``[H, W, C]`` image, info text, plain data) or raises
``ExplorerError``. Derived data (held-out encodings, projections, training-set features, snapshot
modules) is built once per model through ``self.cached``.
"""
from __future__ import annotations

import importlib.util
from collections import OrderedDict

import numpy as np
import torch

from genlab import latent, render
from genlab.checkpoints import Checkpoint, CheckpointError, load_snapshot
from genlab.explore.base import (short, CLASSIFIER_ID, MAX_SEED, MAX_TILES, ExplorerError, RenderResult, check_float,
                                 check_int, parse_latent)

MAX_INVERSION_STEPS = 500  # one inversion holds a worker: 500 steps of the 28 px DCGAN are ~8 s on one CPU core
PRIOR_WEIGHT = 1e-3  # * ||z||^2 / D: keeps the optimised latent near the prior, so it still "looks like" a sample
MAP_CELLS = 12
MAP_NEIGHBOURS = 10
MAX_NEIGHBOURS = 16
MAP_METHODS = ("pca", "tsne", "umap", "latent")
_INSTALL = {"tsne": ("sklearn", "scikit-learn"), "umap": ("umap", "umap-learn")}
_LRU_SIZE = 8  # manifold grids kept per explorer: span/size sliders would otherwise grow the cache forever
# matplotlib's tab10: one colour per digit label for the map's dots
LABEL_COLOURS = np.array([[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
                          [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207]], np.uint8)


def atlas_point(atlas: dict, px: float, py: float) -> tuple[float, float]:
    """Pixel (px, py) of an atlas image (x right, y down; pixel centres at +0.5) -> plane point (x, y), y up."""
    x0, x1, y0, y1 = atlas["bounds"]
    return (x0 + (float(px) + 0.5) / atlas["width"] * (x1 - x0), y1 - (float(py) + 0.5) / atlas["height"] * (y1 - y0))


def atlas_pixel(atlas: dict, x: float, y: float) -> tuple[int, int]:
    """Plane point (x, y) -> the atlas pixel (px, py) it falls in (may lie outside the image)."""
    x0, x1, y0, y1 = atlas["bounds"]
    return int(np.floor((x - x0) / (x1 - x0) * atlas["width"])), int(np.floor((y1 - y) / (y1 - y0) * atlas["height"]))


def _cell_centres(bounds, cells: int) -> np.ndarray:
    """``[cells*cells, 2]`` plane centres of a cells x cells atlas, row-major from the top-left (y up)."""
    x0, x1, y0, y1 = bounds
    xs = x0 + (np.arange(cells) + 0.5) * (x1 - x0) / cells
    ys = y1 - (np.arange(cells) + 0.5) * (y1 - y0) / cells
    return np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)


def _draw_dots(img: np.ndarray, atlas: dict, coords: np.ndarray, labels: np.ndarray, r: int = 1) -> None:
    """Colour a (2r+1)-px square per point, in place, coloured by label (RGB ``img``)."""
    pix = np.array([atlas_pixel(atlas, x, y) for x, y in coords])
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            px, py = pix[:, 0] + dx, pix[:, 1] + dy
            ok = (px >= 0) & (px < img.shape[1]) & (py >= 0) & (py < img.shape[0])
            img[py[ok], px[ok]] = LABEL_COLOURS[labels[ok] % 10]


def _box(img: np.ndarray, y: int, x: int, size: int, colour=(255, 40, 40), t: int = 2) -> None:
    """Draw a ``size`` px square outline at (x, y), ``t`` px thick, in place (RGB)."""
    img[y : y + t, x : x + size] = colour
    img[y + size - t : y + size, x : x + size] = colour
    img[y : y + size, x : x + t] = colour
    img[y : y + size, x + size - t : x + size] = colour


def _histogram(labels) -> dict[int, int]:
    vals, counts = np.unique(np.asarray(labels), return_counts=True)
    return {int(v): int(c) for v, c in sorted(zip(vals, counts), key=lambda vc: (-vc[1], vc[0]))}


def _mse01(a: np.ndarray, b: np.ndarray) -> float:
    """Pixel MSE of two uint8 images, in [0, 1] units."""
    return float((((a.astype(np.float32) - b.astype(np.float32)) / 255.0) ** 2).mean())


class Tools:
    """Explorer mixin (with Core's registry, engine and cache; Recipes uses ``_need_classifier``)."""

    # ---- shared -------------------------------------------------------------------------------
    def _heldout_mu(self, ckpt: Checkpoint) -> torch.Tensor:
        """Encoder means ``[1000, Z]`` of the held-out digits (cached per model)."""
        return self.cached(("heldout-mu", ckpt.manifest.id),
                           lambda: self.engine.encode(ckpt, self.reference_images(ckpt, "test"))[0])

    def _need_classifier(self, purpose: str) -> Checkpoint:
        if CLASSIFIER_ID not in self.registry.ids():
            raise ExplorerError(f"{purpose} needs the {CLASSIFIER_ID} checkpoint, which is not installed")
        return self.classifier()

    def _lru(self, key: tuple, build):
        """Like ``cached`` but keeps only the last ``_LRU_SIZE`` keys (for slider-driven keys)."""
        with self._lock:
            store = self._cache.setdefault(("tools-lru",), OrderedDict())
            if key in store:
                store.move_to_end(key)
                return store[key]
        value = build()
        with self._lock:
            store[key] = value
            while len(store) > _LRU_SIZE:
                store.popitem(last=False)
        return value

    # ---- latent maps --------------------------------------------------------------------------
    def map_methods(self, model_id: str) -> list[str]:
        """Projection methods usable for a VAE here: pca, then tsne/umap if installed, latent for z=2."""
        ckpt = self.generative(model_id, "vae")
        out = ["pca"] + [m for m, (mod, _) in _INSTALL.items() if importlib.util.find_spec(mod)]
        return out + (["latent"] if ckpt.manifest.latent_size == 2 else [])

    def _check_method(self, ckpt: Checkpoint, method) -> str:
        name = method.strip().lower().replace("-", "") if isinstance(method, str) else ""
        if name not in MAP_METHODS:
            raise ExplorerError(f"unknown map method {short(method)}; choose one of {', '.join(MAP_METHODS)}")
        if name in _INSTALL and importlib.util.find_spec(_INSTALL[name][0]) is None:
            raise ExplorerError(f"the {name} map needs the {_INSTALL[name][1]} package: "
                                f"pip install {_INSTALL[name][1]} (or use pca)")
        if name == "latent" and ckpt.manifest.latent_size != 2:
            raise ExplorerError(f"the raw latent plane needs a 2-D latent; {ckpt.manifest.id} has "
                                f"{ckpt.manifest.latent_size} dimensions: use pca, tsne or umap")
        return name

    def _project(self, ckpt: Checkpoint, method: str) -> dict:
        """Held-out encodings projected to 2-D: coords ``[N, 2]`` float64 plus what inverts them."""
        mu = self._heldout_mu(ckpt)
        out = {"mu": mu, "explained": None, "inverse": None}
        if method == "pca":
            mean, comps, std = latent.pca(mu, 2)
            out["coords"] = ((mu - mean) @ comps.T).double().numpy()
            out["explained"] = (std.double() ** 2 / mu.double().var(0).sum()).tolist()
            out["inverse"] = (mean, comps)
        elif method == "latent":
            out["coords"] = mu.double().numpy()
            out["explained"] = (mu.double().var(0) / mu.double().var(0).sum()).tolist()
        elif method == "tsne":
            from sklearn.manifold import TSNE

            # 500 iterations: converged enough for a 1,000-point picture, at half the default's time
            tsne = TSNE(2, init="pca", random_state=0, perplexity=30, learning_rate="auto", max_iter=500)
            out["coords"] = tsne.fit_transform(mu.double().numpy()).astype(np.float64)
        else:
            import umap

            reducer = umap.UMAP(n_components=2, random_state=0)
            out["coords"] = reducer.fit_transform(mu.double().numpy()).astype(np.float64)
        return out

    @staticmethod
    def _plane_latents(proj: dict, method: str, points: np.ndarray) -> torch.Tensor:
        """Plane points ``[P, 2]`` -> latents ``[P, Z]``: exact inverse (pca, latent) or mean of the 10 nearest."""
        pts = torch.as_tensor(points, dtype=torch.float32)
        if method == "pca":
            mean, comps = proj["inverse"]
            return mean + pts @ comps  # exact within the 2-D subspace: coords = (z - mean) @ comps.T
        if method == "latent":
            return pts
        d = torch.cdist(pts.double(), torch.as_tensor(proj["coords"]))
        idx = d.topk(min(MAP_NEIGHBOURS, d.shape[1]), largest=False).indices
        return proj["mu"][idx].mean(1)

    def _atlas_tiles(self, ckpt: Checkpoint, proj: dict, method: str, atlas: dict) -> np.ndarray:
        """uint8 ``[cells^2, S, S, C]``: the decoded latent of each cell (empty t-SNE/UMAP cells stay dark)."""
        m = ckpt.manifest
        centres = _cell_centres(atlas["bounds"], MAP_CELLS)
        if method in ("pca", "latent"):
            return self.engine.decode_uint8(ckpt, self._plane_latents(proj, method, centres))
        x0, x1, y0, y1 = atlas["bounds"]
        half = np.array([x1 - x0, y1 - y0]) / (2 * MAP_CELLS)
        tiles = np.full((len(centres), m.image_size, m.image_size, m.channels), 20, np.uint8)
        members = [np.all(np.abs(proj["coords"] - c) <= half, axis=1) for c in centres]
        full = [i for i, mask in enumerate(members) if mask.any()]
        if full:
            zs = torch.stack([proj["mu"][torch.as_tensor(members[i])].mean(0) for i in full])
            tiles[full] = self.engine.decode_uint8(ckpt, zs)
        return tiles

    def _map(self, model_id: str, method) -> dict:
        ckpt = self.generative(model_id, "vae")
        method = self._check_method(ckpt, method)

        def build():
            proj = self._project(ckpt, method)
            lo, hi = proj["coords"].min(0), proj["coords"].max(0)
            pad = 0.05 * np.maximum(hi - lo, 1e-6)
            bounds = [float(lo[0] - pad[0]), float(hi[0] + pad[0]), float(lo[1] - pad[1]), float(hi[1] + pad[1])]
            scale = max(1, 56 // ckpt.manifest.image_size)
            side = MAP_CELLS * ckpt.manifest.image_size * scale
            atlas = {"cells": MAP_CELLS, "cell_px": side // MAP_CELLS, "width": side, "height": side,
                     "bounds": bounds, "y_up": True}
            tiles = self._atlas_tiles(ckpt, proj, method, atlas)
            image = render.to_rgb(render.upscale(render.grid(tiles, nrow=MAP_CELLS, padding=0), scale)).copy()
            from genlab import data as gdata

            labels = np.asarray(gdata.load_offline_mnist().test()[1])
            _draw_dots(image, atlas, proj["coords"], labels)
            return {**proj, "method": method, "atlas": atlas, "image": image, "labels": labels}

        return self.cached(("map", model_id, method), build)

    def latent_map(self, model_id: str, method: str = "pca") -> RenderResult:
        """The 1,000 held-out digits' encodings (mu) in 2-D, over an atlas of decoded tiles.

        data: x, y, labels (one per digit), method, explained (variance share of the two axes for
        pca/latent, None for tsne/umap), bounds [xmin, xmax, ymin, ymax], atlas (pixel geometry:
        ``atlas_point(atlas, px, py)`` maps a click to the plane).
        """
        mp = self._map(model_id, method)
        c, ex = mp["coords"], mp["explained"]
        info = f"{len(c)} held-out digits of {model_id}, {mp['method']} projection; dots coloured by label"
        if ex is not None:
            info += f"; the axes hold {100 * ex[0]:.0f}% and {100 * ex[1]:.0f}% of the encodings' variance"
        data = {"x": c[:, 0].tolist(), "y": c[:, 1].tolist(), "labels": mp["labels"].tolist(),
                "method": mp["method"], "explained": ex, "bounds": mp["atlas"]["bounds"], "atlas": mp["atlas"]}
        return RenderResult(mp["image"].copy(), info, data=data)

    def map_select(self, model_id: str, method: str, px, py) -> RenderResult:
        """A click at atlas pixel (px, py) -> plane point -> latent -> decoded image; data latent, point."""
        mp = self._map(model_id, method)
        at = mp["atlas"]
        px = check_float("x pixel", px, 0, at["width"] - 1)
        py = check_float("y pixel", py, 0, at["height"] - 1)
        point = atlas_point(at, px, py)
        z = self._plane_latents(mp, mp["method"], np.array([point]))[0]
        img = self.engine.decode_uint8(self.generative(model_id), z[None])[0]
        knn = f"the mean of the {MAP_NEIGHBOURS} nearest held-out encodings"
        how = {"pca": "inverse PCA", "latent": "the point itself"}.get(mp["method"], knn)
        info = f"map point ({point[0]:.3g}, {point[1]:.3g}) -> latent by {how}"
        return RenderResult(img, info, data={"latent": z.tolist(), "point": list(point)})

    def map_region(self, model_id: str, method: str, x0, y0, x1, y1) -> RenderResult:
        """Held-out digits inside a plane rectangle: their reconstructions, labels, and mean latent."""
        mp = self._map(model_id, method)
        x0, y0, x1, y1 = (check_float(n, v, -1e9, 1e9) for n, v in zip(("x0", "y0", "x1", "y1"), (x0, y0, x1, y1)))
        (xa, xb), (ya, yb) = sorted((x0, x1)), sorted((y0, y1))
        c = mp["coords"]
        idx = np.nonzero((c[:, 0] >= xa) & (c[:, 0] <= xb) & (c[:, 1] >= ya) & (c[:, 1] <= yb))[0]
        if not len(idx):
            raise ExplorerError("no held-out digits inside that rectangle: select a larger region")
        mu = mp["mu"][torch.as_tensor(idx)]
        tiles = self.engine.decode_uint8(self.generative(model_id), mu[:MAX_TILES])
        hist = _histogram(mp["labels"][idx])
        info = f"{len(idx)} held-out digits; labels: " + ", ".join(f"{k}: {v}" for k, v in hist.items())
        if len(idx) > MAX_TILES:
            info += f" (showing the first {MAX_TILES})"
        return RenderResult(render.grid(tiles), info,
                            data={"indices": idx.tolist(), "latent": mu.mean(0).tolist(), "labels": hist})

    def manifold(self, model_id: str, span: float = 3.0, n: int = 20, current=None) -> RenderResult:
        """Decoded n x n grid over the latent plane [-span, span]^2 (y up; RGB), the current latent boxed.

        data: span, n, cell ([row, col] of the boxed tile or None), atlas (pixel geometry; a tile's
        centre pixel maps to its grid latent).
        """
        ckpt = self.generative(model_id)
        m = ckpt.manifest
        if m.latent_size != 2:
            raise ExplorerError(f"the manifold view needs a 2-D latent; {model_id} has {m.latent_size} dimensions "
                                "(use the latent map instead)")
        span, n = check_float("span", span, 0.1, 10.0), check_int("grid size", n, 2, 32)
        z_cur = None if current is None else parse_latent(current, 2)
        vals = torch.linspace(-span, span, n)

        def build():
            ys, xs = torch.meshgrid(vals.flip(0), vals, indexing="ij")  # row 0 is the top: largest z[1]
            tiles = self.engine.decode_uint8(ckpt, torch.stack([xs.flatten(), ys.flatten()], 1))
            return render.to_rgb(render.grid(tiles, nrow=n, padding=0))

        image = self._lru(("manifold", model_id, span, n), build).copy()
        half, s = span / (n - 1), m.image_size
        atlas = {"cells": n, "cell_px": s, "width": n * s, "height": n * s, "y_up": True,
                 "bounds": [-span - half, span + half, -span - half, span + half]}
        info, cell = f"{n} x {n} decodings over [-{span:g}, {span:g}]^2 (x right, y up)", None
        if z_cur is not None:
            col = int(torch.argmin((vals - z_cur[0]).abs()))
            row = n - 1 - int(torch.argmin((vals - z_cur[1]).abs()))
            _box(image, row * s, col * s, s)
            cell = [row, col]
            outside = bool((z_cur.abs() > span + half).any())
            info += "; current latent boxed" + (" (it lies outside the plotted square)" if outside else "")
        return RenderResult(image, info, data={"span": span, "n": n, "cell": cell, "atlas": atlas})

    # ---- training scrubber --------------------------------------------------------------------
    def snapshots(self, model_id: str) -> list:
        """Epochs with weights: the snapshots, then the final model (training.epochs, or "final").

        [] when the model was saved without snapshots.
        """
        m = self.generative(model_id).manifest
        epochs = [f.epoch for f in m.snapshots]
        if not epochs:
            return []
        final = m.raw.get("training", {}).get("epochs")
        ok = isinstance(final, int) and not isinstance(final, bool) and final > max(epochs)
        return epochs + [final if ok else "final"]

    def _epochs(self, ckpt: Checkpoint) -> list:
        epochs = self.snapshots(ckpt.manifest.id)
        if not epochs:
            raise ExplorerError(f"{ckpt.manifest.id} has no training snapshots: it was saved without --snapshots")
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
                return load_snapshot(ckpt.manifest, ckpt.folder, epoch, self.engine.device).eval()
            except CheckpointError as exc:
                raise ExplorerError(f"snapshot of epoch {epoch} cannot be loaded: {exc}") from None

        return self.cached(("snapshot", ckpt.manifest.id, str(self.engine.device), epoch), build), epoch, epochs

    def _scrub_latents(self, ckpt: Checkpoint, z, seed, n) -> torch.Tensor:
        d = ckpt.manifest.latent_size
        if z is not None:
            return parse_latent(z, d)[None]
        return latent.sample(check_int("number of latents", n, 1, 64), d, check_int("seed", seed, 0, MAX_SEED))

    def _render_epoch(self, ckpt: Checkpoint, module, zs: torch.Tensor) -> np.ndarray:
        tiles = render.to_uint8(self.engine.apply(module, zs, "decode"), ckpt.manifest.output_range)
        return tiles[0] if len(tiles) == 1 else render.grid(tiles)

    def scrub(self, model_id: str, epoch, latent=None, seed: int = 0, n: int = 1) -> RenderResult:
        """One latent (or n from ``seed``, as a grid) through the weights of one training epoch."""
        ckpt = self.generative(model_id)
        module, ep, epochs = self._epoch_module(ckpt, epoch)
        zs = self._scrub_latents(ckpt, latent, seed, n)
        kind = "final weights" if ep == epochs[-1] else "snapshot (stored fp16)"
        return RenderResult(self._render_epoch(ckpt, module, zs), f"epoch {ep} of {model_id}: {kind}",
                            data={"epoch": ep, "epochs": epochs, "latents": zs.tolist()})

    def evolution(self, model_id: str, latent=None, seed: int = 0, n: int = 16, fps: float = 4) -> RenderResult:
        """The same latents through every snapshot and the final model: labelled strip + GIF."""
        ckpt = self.generative(model_id)
        fps = check_float("frames per second", fps, 0.5, 30)
        epochs = self._epochs(ckpt)
        zs = self._scrub_latents(ckpt, latent, seed, n)
        frames = np.stack([self._render_epoch(ckpt, self._epoch_module(ckpt, e)[0], zs) for e in epochs])
        scale = max(1, 64 // frames.shape[1])
        frames = render.label_tiles(frames, [f"ep {e}" for e in epochs], scale)
        strip = render.grid(frames, nrow=len(epochs), padding=2)
        info = f"{len(zs)} latent(s) through epochs {', '.join(map(str, epochs))}"
        return RenderResult(strip, info, data={"gif": render.gif_bytes(list(frames), fps=fps), "epochs": epochs})

    # ---- GAN inversion ------------------------------------------------------------------------
    def _inversion_loss(self, ckpt: Checkpoint, target: torch.Tensor, feature_weight: float):
        """``loss(z [B, D]) -> [B]``: pixel MSE in [0, 1] + weight * relative classifier-feature MSE + prior.

        The feature MSE is divided by the target's mean squared feature: the raw MSE is ~35x the pixel
        MSE and, even at weight 0.1, steered Adam away from a pixel match (measured on 20 held-out digits).
        """
        from genlab.evaluate import classifier_view

        rng, gen = ckpt.manifest.output_range, ckpt.model
        t01 = render.to_unit(target, rng)
        feats, t_feat = None, None
        if feature_weight > 0 and CLASSIFIER_ID in self.registry.ids():
            feats = self.classifier().model.features
            t_feat = feats(classifier_view(target, rng)).detach()
            feature_weight = feature_weight / max(float((t_feat**2).mean()), 1e-6)

        def loss(z: torch.Tensor) -> torch.Tensor:
            x = gen.decode(z)
            out = ((render.to_unit(x, rng) - t01) ** 2).flatten(1).mean(1)
            if feats is not None:
                out = out + feature_weight * ((feats(classifier_view(x, rng)) - t_feat) ** 2).mean(1)
            return out + PRIOR_WEIGHT * (z**2).mean(1)

        return loss, feats is not None

    @staticmethod
    def _adam(loss, z0: torch.Tensor, steps: int, lr: float, progress, should_stop) -> tuple[torch.Tensor, int, bool]:
        """Adam on a copy of ``z0 [D]``: (lowest-loss latent seen, steps run, stopped early)."""
        z = z0.clone().requires_grad_(True)
        opt = torch.optim.Adam([z], lr=lr)
        best, best_loss, every = z0.clone(), float("inf"), max(1, steps // 50)
        for i in range(steps):
            if should_stop is not None and should_stop():
                return best, i, True
            opt.zero_grad(set_to_none=True)
            value = loss(z[None])[0]
            v = float(value.detach())
            if v < best_loss:  # the loss of z before this step: keep that z
                best, best_loss = z.detach().clone(), v
            value.backward()
            opt.step()
            if progress is not None and ((i + 1) % every == 0 or i + 1 == steps):
                progress(i + 1, steps, v)
        with torch.no_grad():
            if float(loss(z[None])[0]) < best_loss:
                best = z.detach().clone()
        return best, steps, False

    def _comparison_vae(self, ckpt: Checkpoint, vae) -> Checkpoint | None:
        """The VAE to compare with: ``vae`` by id, or "auto" (mnist-vae first) with the same image shape."""
        m = ckpt.manifest
        if vae is None or vae == "":
            return None
        if vae != "auto":
            other = self.generative(vae, "vae")
            if (other.manifest.image_size, other.manifest.channels) != (m.image_size, m.channels):
                raise ExplorerError(f"{vae} makes {other.manifest.image_size} px images with "
                                    f"{other.manifest.channels} channel(s): it cannot be compared with {m.id}")
            return other
        for vid in sorted(self.model_ids("vae"), key=lambda i: i != "mnist-vae"):  # stable: others keep their order
            vm = self.registry.manifest(vid)
            if (vm.image_size, vm.channels) == (m.image_size, m.channels):
                return self.generative(vid, "vae")
        return None

    def invert(self, model_id: str, source, steps: int = 200, lr: float = 0.05, seed: int = 0,
               feature_weight: float = 0.01, restarts: int = 16, progress=None, should_stop=None,
               vae="auto") -> RenderResult:
        """Find a GAN latent whose image matches an upload/sketch; [target | GAN | VAE reconstruction].

        Adam on z from the lowest-loss of ``restarts`` seeded prior draws (one batched forward, so 16
        cost about what 4 do). ``feature_weight`` scales the classifier-feature error relative to the
        target's features (see ``_inversion_loss``). ``progress(i, total, loss)`` is called every ~2% of
        the steps; ``should_stop()`` before each step (True: return the best latent so far). ``vae``:
        "auto" (mnist-vae, else any VAE of the same image shape), a VAE id, or None.
        data: latent, mse_gan, mse_vae (None without a VAE), mse_random (mean over 16 prior samples
        from seed + 1), steps_run, input (the uint8 target); MSEs are per pixel in [0, 1].
        """
        ckpt = self.generative(model_id, "gan")
        m, dev = ckpt.manifest, self.engine.device
        steps = check_int("inversion steps", steps, 1, MAX_INVERSION_STEPS)
        lr = check_float("learning rate", lr, 1e-4, 1.0)
        seed = check_int("seed", seed, 0, MAX_SEED)
        feature_weight = check_float("feature weight", feature_weight, 0.0, 100.0)
        restarts = check_int("restarts", restarts, 1, 64)
        img, _ = self.prepare_image(ckpt, source)
        with torch.inference_mode(False), torch.enable_grad():  # the engine runs everything else without grads
            target = render.from_uint8(img[None], m.output_range).to(dev)
            loss, used_features = self._inversion_loss(ckpt, target, feature_weight)
            starts = latent.sample(restarts, m.latent_size, seed).to(dev)
            with torch.no_grad():
                z0 = starts[int(torch.argmin(loss(starts)))]
            z, run, stopped = self._adam(loss, z0, steps, lr, progress, should_stop)
        z = z.detach().cpu()
        gan = self.engine.decode_uint8(ckpt, z[None])[0]
        rand = self.engine.decode_uint8(ckpt, latent.sample(16, m.latent_size, seed + 1))
        data = {"latent": z.tolist(), "mse_gan": _mse01(gan, img), "mse_vae": None, "steps_run": run,
                "mse_random": float(np.mean([_mse01(r, img) for r in rand])), "input": img}
        panels = [img, gan]
        other = self._comparison_vae(ckpt, vae)
        if other is not None:
            mu, _ = self.engine.encode(other, render.from_uint8(img[None], other.manifest.output_range))
            rec = self.engine.decode_uint8(other, mu)[0]
            panels.append(rec)
            data["mse_vae"] = _mse01(rec, img)
        info = (f"GAN inversion MSE {data['mse_gan']:.4f} after {run} steps (best of {restarts} starts"
                f"{', pixels + classifier features' if used_features else ', pixels only'}); "
                f"random latent MSE {data['mse_random']:.4f}")
        if other is not None:
            info += f"; {other.manifest.id} reconstruction MSE {data['mse_vae']:.4f}"
        info += " (pixels in [0, 1]); panels: target | GAN" + (" | VAE" if other is not None else "")
        if stopped:
            info = f"stopped at step {run}. " + info
        return RenderResult(render.hstack(panels, gap=2), info, data=data)

    # ---- memorization check -------------------------------------------------------------------
    def _train_reference(self) -> dict:
        """Training digits (9,000): [0, 1] pixels, classifier features, and the held-out digits' floors.

        A floor is the median distance from a held-out digit to its nearest training digit, overall
        and per label (a 1 sits far nearer its neighbours than an 8 does: median 1.7 vs 3.8 in features).
        """
        clf = self._need_classifier("the memorization check")

        def build():
            from genlab import data as gdata

            digits = gdata.load_offline_mnist()
            (tr_x, tr_y), (te_x, te_y) = digits.train(), digits.test()
            x, te = gdata.to_range(tr_x), gdata.to_range(te_x)
            ref = {"images": np.asarray(tr_x), "labels": np.asarray(tr_y), "pixels": x.flatten(1),
                   "features": self.engine.apply(clf.model, x, "features")}
            held = {"feature": self.engine.apply(clf.model, te, "features"), "pixel": te.flatten(1)}
            te_y = torch.as_tensor(np.asarray(te_y))
            for name, q in held.items():
                nn = torch.cdist(q, ref[f"{name}s"]).min(1).values
                ref[f"{name}_floor"] = float(nn.median())
                ref[f"{name}_floor_by_label"] = [float(nn[te_y == c].median()) for c in range(10)]
            return ref

        return self.cached(("train-reference",), build)

    def _query01(self, model_id, z, image) -> torch.Tensor:
        """The query as ``[1, 1, 28, 28]`` in [0, 1]: a decoded latent, or a uint8 image / upload."""
        from genlab.evaluate import classifier_view
        from genlab.preprocess import ImageInputError, prepare_upload

        if (z is None) == (image is None):
            raise ExplorerError("give either a latent (with its model) or an image, not both or neither")
        if z is not None:
            ckpt = self.generative(model_id)
            x = self.engine.decode(ckpt, parse_latent(z, ckpt.manifest.latent_size)[None])
            return classifier_view(x, ckpt.manifest.output_range)
        arr = image if isinstance(image, np.ndarray) else None
        if arr is not None and arr.dtype == np.uint8 and arr.shape[:2] == (28, 28) and arr.ndim in (2, 3):
            gray = arr.reshape(28, 28, -1).astype(np.float32).mean(-1)  # already what a model makes
            return torch.from_numpy(gray / 255.0)[None, None]
        try:
            img, _ = prepare_upload(image, 28, 1)
        except ImageInputError as exc:
            raise ExplorerError(str(exc)) from None
        return render.from_uint8(img[None], (0.0, 1.0))

    def nearest(self, model_id=None, latent=None, image=None, k: int = 5, space: str = "both") -> RenderResult:
        """The k nearest training digits to an image, in classifier-feature and pixel (L2, [0, 1]) space.

        data: feature / pixel: [{index (position in the 9,000-digit train split), label, distance}];
        feature_floor / pixel_floor: median nearest-train distance of the held-out digits, and
        *_floor_by_label (10 each); ratio: nearest distance / the floor of that neighbour's label (feature
        space when computed). A ratio well below 1 (< 0.5 is flagged) looks copied rather than new.
        """
        k = check_int("neighbours", k, 1, MAX_NEIGHBOURS)
        if space not in ("both", "feature", "pixel"):
            raise ExplorerError(f"space must be 'both', 'feature' or 'pixel', got {short(space)}")
        ref = self._train_reference()
        q = self._query01(model_id, latent, image)
        queries = {"feature": self.engine.apply(self.classifier().model, q, "features"), "pixel": q.flatten(1)}
        tiles, labels, data, lines = [], [], {}, []
        for name in ("feature", "pixel") if space == "both" else (space,):
            # exact mode: the matmul shortcut is ~1e-2 off at distance 0, and a copy must read as 0
            d = torch.cdist(queries[name], ref[f"{name}s"], compute_mode="donot_use_mm_for_euclid_dist")[0]
            dist, idx = d.topk(k, largest=False)
            data[name] = [{"index": int(i), "label": int(ref["labels"][i]), "distance": float(v)}
                          for v, i in zip(dist, idx)]
            tiles += [render.to_uint8(q, (0.0, 1.0)), ref["images"][idx.numpy()][..., None]]
            labels += [{"feature": "feat", "pixel": "pix"}[name]] + [f"{ref['labels'][i]} {float(v):.3g}"
                                                                      for v, i in zip(dist, idx)]
            lab = data[name][0]["label"]
            floor = ref[f"{name}_floor_by_label"][lab]
            data.setdefault("ratio", float(dist[0]) / floor)
            lines.append(f"{name} space: nearest training digit (a {lab}) at {float(dist[0]):.3g}; held-out {lab}s "
                         f"sit at a median {floor:.3g} (ratio {float(dist[0]) / floor:.2f})")
        for name in ("feature", "pixel"):
            data[f"{name}_floor"], data[f"{name}_floor_by_label"] = ref[f"{name}_floor"], ref[f"{name}_floor_by_label"]
        image_out = render.grid(render.label_tiles(np.concatenate(tiles), labels, 2), nrow=k + 1)
        note = "; much closer than real held-out digits get: possibly memorised" if data["ratio"] < 0.5 else ""
        return RenderResult(image_out, "; ".join(lines) + note, data=data)
