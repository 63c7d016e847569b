"""The encode view: an uploaded or drawn image -> a latent. A VAE encodes it (``reconstruct``: original |
reconstruction | error heatmap, posterior); a GAN has no encoder, so ``invert`` searches for a latent whose image
matches. ``encode`` picks whichever the model supports, so the view works for every model family."""
from __future__ import annotations

import inspect

import numpy as np
import torch

from genlab import latent, render
from genlab.checkpoints import Checkpoint
from genlab.views.context import Context
from genlab.views.types import (CLASSIFIER_ID, ENCODER_FAMILIES, MAX_SEED, ExplorerError, RenderResult, check_float, check_int)

MAX_POSTERIOR_SAMPLES = 16
MAX_INVERSION_STEPS = 500  # one inversion holds a worker: 500 steps of the 28 px DCGAN are ~8 s on one CPU core
PRIOR_WEIGHT = 1e-3  # * ||z||^2 / D: keeps the optimised latent near the prior, so it still "looks like" a sample
ENCODE_STEPS = 100  # encode()'s inversion default: 4.6 s for the shipped DCGAN on the busy 2-core CPU (MSE 0.018 vs 0.037 at 30)


def mse01(a: np.ndarray, b: np.ndarray) -> float:
    """Pixel MSE of two uint8 images, in [0, 1] units."""
    return float((((a.astype(np.float32) - b.astype(np.float32)) / 255.0) ** 2).mean())


def _takes_image(progress) -> bool:
    """Whether a progress callback accepts ``image=`` (new style) or only (i, total, loss) (old style)."""
    try:
        inspect.signature(progress).bind(1, 1, 0.0, image=None)
    except (TypeError, ValueError):
        return False
    return True


class EncodeView:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    # ---- VAE: the encoder ---------------------------------------------------------------------
    def encode_image(self, model_id: str, source) -> tuple[torch.Tensor, torch.Tensor, object, dict]:
        """(mu [Z], logvar [Z], model input uint8, preprocessing info) for an upload, with a VAE."""
        ckpt = self.ctx.generative(model_id, "vae")
        img, info = self.ctx.prepare_image(ckpt, source)
        x = render.from_uint8(img[None], ckpt.manifest.output_range)
        mu, logvar = self.ctx.engine.encode(ckpt, x)
        return mu[0], logvar[0], img, info

    def reconstruct(self, model_id: str, source, n_samples: int = 6, seed: int = 0) -> RenderResult:
        """Original | reconstruction | error heatmap, with mu/sigma per dimension and posterior samples."""
        ckpt = self.ctx.generative(model_id, "vae")
        n_samples = check_int("posterior samples", n_samples, 0, MAX_POSTERIOR_SAMPLES)
        seed = check_int("seed", seed, 0, MAX_SEED)
        mu, logvar, img, info = self.encode_image(model_id, source)
        m, eng = ckpt.manifest, self.ctx.engine
        recon = eng.decode_uint8(ckpt, mu[None])[0]
        err = (img.astype("float32") - recon.astype("float32")) / 255.0
        mse, mae = float((err**2).mean()), float(abs(err).mean())
        heat = render.heatmap(abs(err).mean(-1))
        sigma = torch.exp(0.5 * logvar)
        data = {"input": img, "latent": mu.tolist(), "mu": mu.tolist(), "sigma": sigma.tolist(), "mse": mse,
                "mae": mae, "notes": info.get("notes", [])}
        if n_samples:
            eps = torch.randn(n_samples, m.latent_size, generator=latent.cpu_generator(seed))
            data["samples"] = render.grid(eng.decode_uint8(ckpt, mu + eps * sigma), nrow=n_samples)
        image = render.hstack([img, recon, heat], gap=2)
        text = (f"reconstruction error: MSE {mse:.4f}, mean |error| {mae:.4f} (pixels in [0, 1]); "
                f"heatmap scaled to the largest error ({float(abs(err).max()):.2f})")
        return RenderResult(image, text, data=data)

    # ---- GAN: inversion -----------------------------------------------------------------------
    def _inversion_loss(self, ckpt: Checkpoint, target: torch.Tensor, feature_weight: float):
        """``loss(z [B, D]) -> [B]``: pixel MSE in [0, 1] + weight * relative classifier-feature MSE + prior.

        The feature MSE is divided by the target's mean squared feature: the raw MSE is ~35x the pixel
        MSE and, even at weight 0.1, steered Adam away from a pixel match (measured on 20 held-out digits).
        """
        from genlab.evaluate import classifier_view

        rng, gen = ckpt.manifest.output_range, ckpt.model
        t01 = render.to_unit(target, rng)
        feats, t_feat = None, None
        if feature_weight > 0 and CLASSIFIER_ID in self.ctx.registry.ids():
            feats = self.ctx.classifier().model.features
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
    def _adam(loss, z0: torch.Tensor, steps: int, lr: float, progress, should_stop,
              preview=None) -> tuple[torch.Tensor, int, bool]:
        """Adam on a copy of ``z0 [D]``: (lowest-loss latent seen, steps run, stopped early).

        ``progress(i, total, loss)`` every ~2% of the steps, with ``image=preview(z)`` when ``preview`` is given."""
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
                if preview is None:
                    progress(i + 1, steps, v)
                else:
                    progress(i + 1, steps, v, image=preview(z.detach()))
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
            other = self.ctx.generative(vae, "vae")
            if (other.manifest.image_size, other.manifest.channels) != (m.image_size, m.channels):
                raise ExplorerError(f"{vae} makes {other.manifest.image_size} px images with "
                                    f"{other.manifest.channels} channel(s): it cannot be compared with {m.id}")
            return other
        for vid in sorted(self.ctx.model_ids("vae"), key=lambda i: i != "mnist-vae"):  # stable: others keep order
            vm = self.ctx.registry.manifest(vid)
            if (vm.image_size, vm.channels) == (m.image_size, m.channels):
                return self.ctx.generative(vid, "vae")
        return None

    def invert(self, model_id: str, source, steps: int = 200, lr: float = 0.05, seed: int = 0,
               feature_weight: float = 0.01, restarts: int = 16, progress=None, should_stop=None,
               vae="auto") -> RenderResult:
        """Find a GAN latent whose image matches an upload/sketch; [target | GAN | VAE reconstruction].

        Adam on z from the lowest-loss of ``restarts`` seeded prior draws (one batched forward, so 16
        cost about what 4 do). ``feature_weight`` scales the classifier-feature error relative to the
        target's features (see ``_inversion_loss``). ``progress(i, total, loss)`` is called every ~2% of
        the steps, as ``progress(i, total, loss, image=uint8 [S, S, C])`` (the current latent's image) when
        the callback accepts ``image``; ``should_stop()`` before each step (True: return the best latent so
        far). ``vae``: "auto" (mnist-vae, else any VAE of the same image shape), a VAE id, or None.
        data: latent, mse_gan, mse_vae (None without a VAE), mse_random (mean over 16 prior samples
        from seed + 1), steps_run, input (the uint8 target); MSEs are per pixel in [0, 1].
        """
        ctx = self.ctx
        ckpt = ctx.generative(model_id, "gan")
        m, dev, eng = ckpt.manifest, ctx.engine.device, ctx.engine
        steps = check_int("inversion steps", steps, 1, MAX_INVERSION_STEPS)
        lr = check_float("learning rate", lr, 1e-4, 1.0)
        seed = check_int("seed", seed, 0, MAX_SEED)
        feature_weight = check_float("feature weight", feature_weight, 0.0, 100.0)
        restarts = check_int("restarts", restarts, 1, 64)
        img, _ = ctx.prepare_image(ckpt, source)
        preview = None
        if progress is not None and _takes_image(progress):
            def preview(z):
                with torch.no_grad():
                    return render.to_uint8(ckpt.model.decode(z[None]), m.output_range)[0]
        with torch.inference_mode(False), torch.enable_grad():  # the engine runs everything else without grads
            target = render.from_uint8(img[None], m.output_range).to(dev)
            loss, used_features = self._inversion_loss(ckpt, target, feature_weight)
            starts = latent.sample(restarts, m.latent_size, seed).to(dev)
            with torch.no_grad():
                z0 = starts[int(torch.argmin(loss(starts)))]
            z, run, stopped = self._adam(loss, z0, steps, lr, progress, should_stop, preview)
        z = z.detach().cpu()
        gan = eng.decode_uint8(ckpt, z[None])[0]
        rand = eng.decode_uint8(ckpt, latent.sample(16, m.latent_size, seed + 1))
        data = {"latent": z.tolist(), "mse_gan": mse01(gan, img), "mse_vae": None, "steps_run": run,
                "mse_random": float(np.mean([mse01(r, img) for r in rand])), "input": img}
        panels = [img, gan]
        other = self._comparison_vae(ckpt, vae)
        if other is not None:
            mu, _ = eng.encode(other, render.from_uint8(img[None], other.manifest.output_range))
            rec = eng.decode_uint8(other, mu)[0]
            panels.append(rec)
            data["mse_vae"] = mse01(rec, img)
        info = (f"GAN inversion MSE {data['mse_gan']:.4f} after {run} steps (best of {restarts} starts"
                f"{', pixels + classifier features' if used_features else ', pixels only'}); "
                f"random latent MSE {data['mse_random']:.4f}")
        if other is not None:
            info += f"; {other.manifest.id} reconstruction MSE {data['mse_vae']:.4f}"
        info += " (pixels in [0, 1]); panels: target | GAN" + (" | VAE" if other is not None else "")
        if stopped:
            info = f"stopped at step {run}. " + info
        return RenderResult(render.hstack(panels, gap=2), info, data=data)

    # ---- any model ----------------------------------------------------------------------------
    def encode(self, model_id: str, source, steps: int = ENCODE_STEPS, restarts: int = 16, seed: int = 0,
               progress=None, should_stop=None) -> RenderResult:
        """An image -> a latent of any generative model: a VAE's encoder (``reconstruct``), a GAN's inversion
        (``invert`` with ``steps`` / ``restarts``, compared with no VAE: use ``invert`` for that panel).

        data (both families): latent ``[D]``, input (uint8 the model saw), mse (pixels in [0, 1]), method
        ("encoder" or "inversion"), and the family's own fields (mu/sigma/samples, or mse_gan/steps_run...)."""
        ckpt = self.ctx.generative(model_id)
        if ckpt.manifest.family in ENCODER_FAMILIES:
            res = self.reconstruct(model_id, source, n_samples=0, seed=check_int("seed", seed, 0, MAX_SEED))
            res.data["method"] = "encoder"
            res.info = f"encoded by {model_id}'s encoder (the mean of q(z|x)); " + res.info
            return res
        res = self.invert(model_id, source, steps=steps, seed=seed, restarts=restarts, progress=progress,
                          should_stop=should_stop, vae=None)
        res.data.update(method="inversion", mse=res.data["mse_gan"])
        res.info = f"{model_id} has no encoder: a latent was searched for by gradient descent. " + res.info
        return res
