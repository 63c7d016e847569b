"""The map view: 2-D maps of a model's latent space (PCA, t-SNE, UMAP, the raw plane) over an atlas of decoded
tiles, clicks and regions on it, and the 2-D manifold grid.

A VAE's map shows the 1,000 held-out digits' encodings (mu), coloured by their true label. A GAN has no encoder,
so its map shows 1,000 prior samples (seed 0) coloured by the classifier's label of their images, on the plane of
the PCA of its per-digit mean latents (the PCA of the samples themselves would be a random plane: the prior is
isotropic). Both PCA planes are inverted exactly, so clicks and regions work the same way for both families.
"""
from __future__ import annotations

import importlib.util

import numpy as np
import torch

from genlab import latent, render
from genlab.checkpoints import Checkpoint
from genlab.views.context import Context
from genlab.views.types import (ENCODER_FAMILIES, MAX_TILES, ExplorerError, RenderResult, check_float, check_int, parse_latent,
                                short)

MAP_CELLS = 12
MAP_NEIGHBOURS = 10
MAP_METHODS = ("pca", "tsne", "umap", "latent")
GAN_MAP_POINTS = 1000  # prior samples on a GAN's map: as many as a VAE map's held-out digits
_INSTALL = {"tsne": ("sklearn", "scikit-learn"), "umap": ("umap", "umap-learn")}
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


class MapView:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    # ---- the points a map shows ---------------------------------------------------------------
    def _points(self, ckpt: Checkpoint) -> dict:
        """mu ``[N, Z]`` and labels ``[N]`` of the map's dots, and what they are (for the info text)."""
        m = ckpt.manifest
        if m.family in ENCODER_FAMILIES:
            from genlab import data as gdata

            return {"mu": self.ctx.heldout_mu(ckpt), "labels": np.asarray(gdata.load_offline_mnist().test()[1]),
                    "what": "held-out digits", "colour": "label"}
        return self.ctx.cached(("gan-map-points", m.id), lambda: self._gan_points(ckpt))

    def _gan_points(self, ckpt: Checkpoint) -> dict:
        """Prior samples, labelled by the classifier; the plane to project them on is fitted to the per-digit
        mean latents (``fit``), since the PCA of prior samples alone is a random plane (isotropic prior)."""
        m = ckpt.manifest
        z = self.ctx.seed_latents(ckpt, GAN_MAP_POINTS, seed=0)
        out = {"mu": z, "labels": np.zeros(len(z), np.int64), "what": "prior samples (seed 0)",
               "colour": "nothing (no classifier installed)", "fit": None}
        if self.ctx.has_classifier():
            out["labels"] = self.ctx.classify(self.ctx.engine.decode(ckpt, z), m).argmax(1).numpy()
            out["colour"] = "the classifier's label of its image"
            means = self.ctx.label_means(ckpt)
            if len(means) >= 3:  # two axes need three points
                out["fit"] = torch.tensor(list(means.values()), dtype=torch.float32)
        return out

    # ---- latent maps --------------------------------------------------------------------------
    def map_methods(self, model_id: str) -> list[str]:
        """Projection methods usable for a model here: pca, then tsne/umap if installed (VAEs), latent for z=2."""
        ckpt = self.ctx.generative(model_id)
        if ckpt.manifest.family not in ENCODER_FAMILIES:
            return ["pca"]  # prior samples are isotropic: neighbour embeddings would only draw noise
        out = ["pca"] + [m for m, (mod, _) in _INSTALL.items() if importlib.util.find_spec(mod)]
        return out + (["latent"] if ckpt.manifest.latent_size == 2 else [])

    def _check_method(self, ckpt: Checkpoint, method) -> str:
        name = method.strip().lower().replace("-", "") if isinstance(method, str) else ""
        if name not in MAP_METHODS:
            raise ExplorerError(f"unknown map method {short(method)}; choose one of {', '.join(MAP_METHODS)}")
        if ckpt.manifest.family not in ENCODER_FAMILIES and name != "pca":
            raise ExplorerError(f"{ckpt.manifest.id} is a GAN: its map is the pca of prior samples "
                                f"({name} needs a VAE's encodings); use pca")
        if name in _INSTALL and importlib.util.find_spec(_INSTALL[name][0]) is None:
            raise ExplorerError(f"the {name} map needs the {_INSTALL[name][1]} package: "
                                f"pip install {_INSTALL[name][1]} (or use pca)")
        if name == "latent" and ckpt.manifest.latent_size != 2:
            raise ExplorerError(f"the raw latent plane needs a 2-D latent; {ckpt.manifest.id} has "
                                f"{ckpt.manifest.latent_size} dimensions: use pca, tsne or umap")
        return name

    @staticmethod
    def _project(mu: torch.Tensor, method: str, fit: torch.Tensor | None = None) -> dict:
        """Points ``[N, Z]`` projected to 2-D: coords ``[N, 2]`` float64 plus what inverts them.

        ``fit``: the points the PCA plane is fitted to, when not ``mu`` itself (a GAN's per-digit means)."""
        out = {"mu": mu, "explained": None, "inverse": None}
        if method == "pca" and fit is not None:
            mean, comps, _ = latent.pca(fit, 2)
            coords = (mu - mean) @ comps.T
            out["coords"] = coords.double().numpy()
            out["explained"] = (coords.double().var(0) / mu.double().var(0).sum()).tolist()
            out["inverse"] = (mean, comps)
        elif method == "pca":
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

    def _atlas_tiles(self, ckpt: Checkpoint, proj: dict, method: str, atlas: dict) -> np.ndarray:
        """uint8 ``[cells^2, S, S, C]``: the decoded latent of each cell (empty t-SNE/UMAP cells stay dark)."""
        m = ckpt.manifest
        centres = _cell_centres(atlas["bounds"], MAP_CELLS)
        if method in ("pca", "latent"):
            return self.ctx.engine.decode_uint8(ckpt, _plane_latents(proj, method, centres))
        x0, x1, y0, y1 = atlas["bounds"]
        half = np.array([x1 - x0, y1 - y0]) / (2 * MAP_CELLS)
        tiles = np.full((len(centres), m.image_size, m.image_size, m.channels), 20, np.uint8)
        members = [np.all(np.abs(proj["coords"] - c) <= half, axis=1) for c in centres]
        full = [i for i, mask in enumerate(members) if mask.any()]
        if full:
            zs = torch.stack([proj["mu"][torch.as_tensor(members[i])].mean(0) for i in full])
            tiles[full] = self.ctx.engine.decode_uint8(ckpt, zs)
        return tiles

    def _map(self, model_id: str, method) -> dict:
        ckpt = self.ctx.generative(model_id)
        method = self._check_method(ckpt, method)

        def build():
            pts = self._points(ckpt)
            proj = self._project(pts["mu"], method, pts.get("fit"))
            lo, hi = proj["coords"].min(0), proj["coords"].max(0)
            pad = 0.05 * np.maximum(hi - lo, 1e-6)
            bounds = [float(lo[0] - pad[0]), float(hi[0] + pad[0]), float(lo[1] - pad[1]), float(hi[1] + pad[1])]
            scale = max(1, 56 // ckpt.manifest.image_size)
            side = MAP_CELLS * ckpt.manifest.image_size * scale
            atlas = {"cells": MAP_CELLS, "cell_px": side // MAP_CELLS, "width": side, "height": side,
                     "bounds": bounds, "y_up": True}
            tiles = self._atlas_tiles(ckpt, proj, method, atlas)
            image = render.to_rgb(render.upscale(render.grid(tiles, nrow=MAP_CELLS, padding=0), scale)).copy()
            _draw_dots(image, atlas, proj["coords"], pts["labels"])
            return {**proj, "method": method, "atlas": atlas, "image": image, "labels": pts["labels"],
                    "what": pts["what"], "colour": pts["colour"], "family": ckpt.manifest.family,
                    "fit": pts.get("fit")}

        return self.ctx.cached(("map", model_id, method), build)

    def latent_map(self, model_id: str, method: str = "pca") -> RenderResult:
        """A VAE's 1,000 held-out encodings (mu), or a GAN's 1,000 prior samples, in 2-D over an atlas of tiles.

        data: x, y, labels (one per dot), method, explained (variance share of the two axes for
        pca/latent, None for tsne/umap), bounds [xmin, xmax, ymin, ymax], atlas (pixel geometry:
        ``atlas_point(atlas, px, py)`` maps a click to the plane), points ("held-out digits" or "prior samples").
        """
        mp = self._map(model_id, method)
        c, ex = mp["coords"], mp["explained"]
        plane = "" if mp.get("fit") is None else " on the plane through the digits' mean latents"
        info = (f"{len(c)} {mp['what']} of {model_id}, {mp['method']} projection{plane}; "
                f"dots coloured by {mp['colour']}")
        if ex is not None:
            held = "encodings" if mp["family"] in ENCODER_FAMILIES else "samples"
            info += f"; the axes hold {100 * ex[0]:.0f}% and {100 * ex[1]:.0f}% of the {held}' variance"
        data = {"x": c[:, 0].tolist(), "y": c[:, 1].tolist(), "labels": mp["labels"].tolist(),
                "method": mp["method"], "explained": ex, "bounds": mp["atlas"]["bounds"], "atlas": mp["atlas"],
                "points": mp["what"]}
        if mp["inverse"] is not None:  # pca: a latent z sits at (z - mean) @ axes.T; a point p is mean + p @ axes
            data["plane"] = {"mean": mp["inverse"][0].tolist(), "axes": mp["inverse"][1].tolist()}
        return RenderResult(mp["image"].copy(), info, data=data)

    def map_select(self, model_id: str, method: str, px, py) -> RenderResult:
        """A click at atlas pixel (px, py) -> plane point -> latent -> decoded image; data latent, point."""
        mp = self._map(model_id, method)
        at = mp["atlas"]
        px = check_float("x pixel", px, 0, at["width"] - 1)
        py = check_float("y pixel", py, 0, at["height"] - 1)
        point = atlas_point(at, px, py)
        z = _plane_latents(mp, mp["method"], np.array([point]))[0]
        img = self.ctx.engine.decode_uint8(self.ctx.generative(model_id), z[None])[0]
        knn = f"the mean of the {MAP_NEIGHBOURS} nearest held-out encodings"
        how = {"pca": "inverse PCA", "latent": "the point itself"}.get(mp["method"], knn)
        info = f"map point ({point[0]:.3g}, {point[1]:.3g}) -> latent by {how}"
        return RenderResult(img, info, data={"latent": z.tolist(), "point": list(point)})

    def map_region(self, model_id: str, method: str, x0, y0, x1, y1) -> RenderResult:
        """The map's dots inside a plane rectangle: their images, labels, and mean latent."""
        mp = self._map(model_id, method)
        x0, y0, x1, y1 = (check_float(n, v, -1e9, 1e9) for n, v in zip(("x0", "y0", "x1", "y1"), (x0, y0, x1, y1)))
        (xa, xb), (ya, yb) = sorted((x0, x1)), sorted((y0, y1))
        c = mp["coords"]
        idx = np.nonzero((c[:, 0] >= xa) & (c[:, 0] <= xb) & (c[:, 1] >= ya) & (c[:, 1] <= yb))[0]
        what = "held-out digits" if mp["family"] in ENCODER_FAMILIES else "samples"
        if not len(idx):
            raise ExplorerError(f"no {what} inside that rectangle: select a larger region")
        mu = mp["mu"][torch.as_tensor(idx)]
        tiles = self.ctx.engine.decode_uint8(self.ctx.generative(model_id), mu[:MAX_TILES])
        hist = _histogram(mp["labels"][idx])
        info = f"{len(idx)} {what}; labels: " + ", ".join(f"{k}: {v}" for k, v in hist.items())
        if len(idx) > MAX_TILES:
            info += f" (showing the first {MAX_TILES})"
        return RenderResult(render.grid(tiles), info,
                            data={"indices": idx.tolist(), "latent": mu.mean(0).tolist(), "labels": hist})

    def manifold(self, model_id: str, span: float = 3.0, n: int = 20, current=None) -> RenderResult:
        """Decoded n x n grid over the latent plane [-span, span]^2 (y up; RGB), the current latent boxed.

        data: span, n, cell ([row, col] of the boxed tile or None), atlas (pixel geometry; a tile's
        centre pixel maps to its grid latent).
        """
        ckpt = self.ctx.generative(model_id)
        m = ckpt.manifest
        if m.latent_size != 2:
            raise ExplorerError(f"the manifold view needs a 2-D latent; {model_id} has {m.latent_size} dimensions "
                                "(use the latent map instead)")
        span, n = check_float("span", span, 0.1, 10.0), check_int("grid size", n, 2, 32)
        z_cur = None if current is None else parse_latent(current, 2)
        vals = torch.linspace(-span, span, n)

        def build():
            ys, xs = torch.meshgrid(vals.flip(0), vals, indexing="ij")  # row 0 is the top: largest z[1]
            tiles = self.ctx.engine.decode_uint8(ckpt, torch.stack([xs.flatten(), ys.flatten()], 1))
            return render.to_rgb(render.grid(tiles, nrow=n, padding=0))

        image = self.ctx.lru(("manifold", model_id, span, n), build).copy()
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
