"""The nearest view: the memorization check. The nearest training digits to an image (a decoded latent or an
upload) in classifier-feature and pixel space, against how near real held-out digits get ("new" vs "copied")."""
from __future__ import annotations

import numpy as np
import torch

from genlab import render
from genlab.views.context import Context
from genlab.views.types import ExplorerError, RenderResult, check_int, parse_latent, short

MAX_NEIGHBOURS = 16
COPIED_RATIO = 0.5  # nearest distance / the label's held-out floor below this reads as copied


class NearestView:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def train_reference(self) -> dict:
        """Training digits (9,000): [0, 1] pixels, classifier features, and the held-out digits' floors.

        A floor is the median distance from a held-out digit to its nearest training digit, overall
        and per label (a 1 sits far nearer its neighbours than an 8 does: median 1.7 vs 3.8 in features).
        """
        clf = self.ctx.need_classifier("the memorization check")
        eng = self.ctx.engine

        def build():
            from genlab import data as gdata

            digits = gdata.load_offline_mnist()
            (tr_x, tr_y), (te_x, te_y) = digits.train(), digits.test()
            x, te = gdata.to_range(tr_x), gdata.to_range(te_x)
            ref = {"images": np.asarray(tr_x), "labels": np.asarray(tr_y), "pixels": x.flatten(1),
                   "features": eng.apply(clf.model, x, "features")}
            held = {"feature": eng.apply(clf.model, te, "features"), "pixel": te.flatten(1)}
            te_y = torch.as_tensor(np.asarray(te_y))
            for name, q in held.items():
                nn = torch.cdist(q, ref[f"{name}s"]).min(1).values
                ref[f"{name}_floor"] = float(nn.median())
                ref[f"{name}_floor_by_label"] = [float(nn[te_y == c].median()) for c in range(10)]
            return ref

        return self.ctx.cached(("train-reference",), build)

    def _query01(self, model_id, z, image) -> torch.Tensor:
        """The query as ``[1, 1, 28, 28]`` in [0, 1]: a decoded latent, or a uint8 image / upload."""
        from genlab.evaluate import classifier_view
        from genlab.preprocess import ImageInputError, prepare_upload

        if (z is None) == (image is None):
            raise ExplorerError("give either a latent (with its model) or an image, not both or neither")
        if z is not None:
            ckpt = self.ctx.generative(model_id)
            x = self.ctx.engine.decode(ckpt, parse_latent(z, ckpt.manifest.latent_size)[None])
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
        space when computed). A ratio well below 1 (< 0.5 is flagged) looks copied rather than new
        (``verdict(ratio)`` says so in plain words).
        """
        k = check_int("neighbours", k, 1, MAX_NEIGHBOURS)
        if space not in ("both", "feature", "pixel"):
            raise ExplorerError(f"space must be 'both', 'feature' or 'pixel', got {short(space)}")
        ref = self.train_reference()
        q = self._query01(model_id, latent, image)
        queries = {"feature": self.ctx.engine.apply(self.ctx.classifier().model, q, "features"), "pixel": q.flatten(1)}
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
        note = "; much closer than real held-out digits get: possibly memorised" if data["ratio"] < COPIED_RATIO else ""
        return RenderResult(image_out, "; ".join(lines) + note, data=data)


def verdict(ratio: float) -> str:
    """``nearest``'s ratio in plain words: "close to a training digit" (below 0.5) or "new"."""
    return "close to a training digit" if ratio < COPIED_RATIO else "new"
