"""Explorer tools: the training scrubber, GAN inversion and the memorization check (maps: ``maps.py``).

Every method returns ``RenderResult`` (uint8 ``[H, W, C]`` image, info text, plain data) or raises
``ExplorerError``. Derived data (held-out encodings, projections, training-set features, snapshot
modules) is built once per model through ``self.cached``.
"""
from __future__ import annotations

import numpy as np
import torch

from genlab import latent, render
from genlab.checkpoints import Checkpoint, CheckpointError, load_snapshot
from genlab.explore.base import (short, CLASSIFIER_ID, MAX_SEED, ExplorerError, RenderResult, check_float,
                                 check_int, parse_latent)
from genlab.explore.maps import Maps

MAX_INVERSION_STEPS = 500  # one inversion holds a worker: 500 steps of the 28 px DCGAN are ~8 s on one CPU core
PRIOR_WEIGHT = 1e-3  # * ||z||^2 / D: keeps the optimised latent near the prior, so it still "looks like" a sample
MAX_NEIGHBOURS = 16


def _mse01(a: np.ndarray, b: np.ndarray) -> float:
    """Pixel MSE of two uint8 images, in [0, 1] units."""
    return float((((a.astype(np.float32) - b.astype(np.float32)) / 255.0) ** 2).mean())


class Tools(Maps):
    """Explorer mixin: the training scrubber, GAN inversion and the memorization check."""

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
