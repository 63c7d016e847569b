"""Training loops that yield step statistics. No printing, no files: the CLI displays and saves.

Each trainer holds its modules and optimizers, exposes ``state()``/``load_state()`` as flat tensor
dicts (safetensors-friendly, for resume), and ``epoch(data, labels)`` yields one stats dict per step.
Data are in-memory tensors already in the family's value range.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from genlab.models.dcgan import init_weights


def batches(n: int, batch_size: int, gen: torch.Generator) -> Iterator[torch.Tensor]:
    """Shuffled index batches (drop the last partial batch, so BatchNorm never sees a batch of 1)."""
    perm = torch.randperm(n, generator=gen)
    for i in range(0, n - batch_size + 1, batch_size):
        yield perm[i : i + batch_size]


def flat_state(prefix: str, obj) -> dict[str, torch.Tensor]:
    """Flatten a module's or optimizer's state_dict into name -> tensor (scalars become 0-d tensors)."""
    sd = obj.state_dict()
    if isinstance(obj, nn.Module):
        return {f"{prefix}.{k}": v.detach().clone() for k, v in sd.items()}
    out = {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            out[f"{prefix}.state.{pid}.{k}"] = torch.as_tensor(v).clone()
    return out


def load_flat_state(prefix: str, obj, flat: dict[str, torch.Tensor]) -> None:
    if isinstance(obj, nn.Module):
        n = len(prefix) + 1
        part = {k[n:]: v for k, v in flat.items() if k.startswith(prefix + ".")}
        if part:  # states written before this part existed (e.g. no EMA copy) leave it as built
            obj.load_state_dict(part)
        return
    sd = obj.state_dict()
    state: dict[int, dict] = {}
    for k, v in flat.items():
        if k.startswith(prefix + ".state."):
            pid, name = k[len(prefix) + 7 :].split(".", 1)
            state.setdefault(int(pid), {})[name] = v
    sd["state"] = state
    obj.load_state_dict(sd)


class _Trainer:
    parts: tuple[str, ...] = ()

    counters: tuple[str, ...] = ()  # integer attributes saved with the state (e.g. the EMA step count)

    def state(self) -> dict[str, torch.Tensor]:
        out = {}
        for name in self.parts:
            out.update(flat_state(name, getattr(self, name)))
        out["rng"] = self.gen.get_state()
        for name in self.counters:
            out[f"counter.{name}"] = torch.tensor(getattr(self, name), dtype=torch.int64)
        return out

    def start_epoch(self, epoch: int) -> None:
        """Called before each 1-based epoch (a schedule that is not the learning rate, e.g. a KL warm-up)."""

    def optimizers(self) -> list[torch.optim.Optimizer]:
        return [o for o in vars(self).values() if isinstance(o, torch.optim.Optimizer)]

    def base_lr(self) -> float:
        """The learning rate the optimizers were built with (before any decay)."""
        group = self.optimizers()[0].param_groups[0]
        return float(group.get("base_lr", group["lr"]))

    def set_lr_scale(self, factor: float) -> None:
        """Scale every optimizer's learning rate to ``factor`` times the rate it was built with."""
        for opt in self.optimizers():
            for group in opt.param_groups:
                group["lr"] = group.setdefault("base_lr", group["lr"]) * factor

    def load_state(self, flat: dict[str, torch.Tensor]) -> None:
        for name in self.parts:
            load_flat_state(name, getattr(self, name), flat)
        self.gen.set_state(flat["rng"])
        for name in self.counters:
            if f"counter.{name}" in flat:
                setattr(self, name, int(flat[f"counter.{name}"]))


def lr_factor(epoch: int, epochs: int, decay_from: int = 0) -> float:
    """Learning-rate factor for 1-based ``epoch``: 1 up to ``decay_from``, then linear towards 0.

    The rate before ``decay_from`` does not depend on ``epochs``, so a constant-rate run stopped at that
    epoch and resumed with the decay is the same run as one started with it (0 = no decay)."""
    if decay_from < 0 or (decay_from and decay_from >= epochs):
        raise ValueError(f"--lr-decay-from {decay_from} must be 0 (no decay) or an epoch before the last ({epochs})")
    if not decay_from or epoch <= decay_from:
        return 1.0
    return (epochs - epoch + 1) / (epochs - decay_from + 1)


AUGMENTS = ("translation", "cutout")


def diff_augment(x: torch.Tensor, policy: tuple[str, ...], gen: torch.Generator, fill: float = -1.0) -> torch.Tensor:
    """Differentiable augmentation (Zhao et al. 2020, "DiffAugment") of a batch ``[N, C, H, W]``.

    Applied to real and fake images alike, in both D and G steps, so D sees more varied digits without the
    generator learning the augmentation. ``translation``: shift each image by up to 1/8 of its size, with
    ``fill`` (the background) moving in; ``cutout``: blank a random square of half the size with ``fill``.
    """
    n, _, h, w = x.shape
    if "translation" in policy:
        sh, sw = int(h * 0.125 + 0.5), int(w * 0.125 + 0.5)
        ty = torch.randint(-sh, sh + 1, (n, 1, 1), generator=gen).to(x.device)
        tx = torch.randint(-sw, sw + 1, (n, 1, 1), generator=gen).to(x.device)
        b, gy, gx = torch.meshgrid(torch.arange(n, device=x.device), torch.arange(h, device=x.device),
                                   torch.arange(w, device=x.device), indexing="ij")
        gy = (gy + ty + 1).clamp(0, h + 1)
        gx = (gx + tx + 1).clamp(0, w + 1)
        pad = F.pad(x, [1, 1, 1, 1], value=fill)
        x = pad.permute(0, 2, 3, 1)[b, gy, gx].permute(0, 3, 1, 2)
    if "cutout" in policy:
        ch, cw = int(h * 0.5 + 0.5), int(w * 0.5 + 0.5)
        cy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), generator=gen).to(x.device)
        cx = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), generator=gen).to(x.device)
        ys = torch.arange(h, device=x.device).view(1, h, 1)
        xs = torch.arange(w, device=x.device).view(1, 1, w)
        y0, x0 = cy - ch // 2, cx - cw // 2
        hole = (ys >= y0) & (ys < y0 + ch) & (xs >= x0) & (xs < x0 + cw)
        x = torch.where(hole.unsqueeze(1), torch.full_like(x, fill), x)
    return x


@torch.no_grad()
def recalibrate_bn(G: nn.Module, nz: int, device="cpu", batches: int = 32, batch_size: int = 256, seed: int = 12345):
    """Recompute G's BatchNorm running statistics for its current weights (cumulative average).

    Averaged (EMA) weights do not match the live generator's statistics; copying those gives noisy
    samples. A private RNG keeps the training stream untouched, so snapshots never change training.
    """
    bns = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    gen = torch.Generator().manual_seed(seed)
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    G.train()
    for _ in range(batches):
        G(torch.randn(batch_size, nz, generator=gen).to(device))
    for m in bns:
        m.momentum = 0.1
    G.eval()


class GANTrainer(_Trainer):
    """DCGAN with the non-saturating loss (default) or WGAN-GP. Data in [-1, 1]."""

    parts = ("G", "D", "opt_g", "opt_d", "G_ema")

    def __init__(self, G, D, *, loss: str = "ns", lr: float = 2e-4, batch_size: int = 64,
                 gp_lambda: float = 10.0, n_critic: int = 5, seed: int = 0, device="cpu", ema: float = 0.0,
                 augment: tuple[str, ...] = ()):
        if loss not in ("ns", "wgan-gp"):
            raise ValueError(f"loss must be 'ns' or 'wgan-gp', got {loss!r}")
        bad = [a for a in augment if a not in AUGMENTS]
        if bad:
            raise ValueError(f"unknown augmentation {bad[0]!r}; choose from {', '.join(AUGMENTS)}")
        self.augment = tuple(augment)
        torch.manual_seed(seed)
        self.G, self.D = G.to(device), D.to(device)
        self.G.apply(init_weights)
        self.D.apply(init_weights)
        betas = (0.5, 0.999) if loss == "ns" else (0.0, 0.9)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=lr, betas=betas)
        self.loss, self.batch_size, self.device = loss, batch_size, device
        self.gp_lambda, self.n_critic = gp_lambda, n_critic
        self.gen = torch.Generator().manual_seed(seed)
        self.nz = G.config.nz
        # An exponential moving average of G's weights (0 = off): averaging late-training iterates
        # removes much of the GAN's step-to-step jitter, so samples are cleaner than any single G.
        self.ema = ema
        self.ema_step = 0
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)

    counters = ("ema_step",)

    def ema_decay(self) -> float:
        """The EMA decay at this step, warmed up as (1 + t) / (10 + t) up to ``ema``: early averages are not
        dominated by the random initial weights (with a flat 0.999, epoch 5's average still held half of them)."""
        return min(self.ema, (1.0 + self.ema_step) / (10.0 + self.ema_step))

    @torch.no_grad()
    def _update_ema(self) -> None:
        if not self.ema:
            return
        d = self.ema_decay()
        self.ema_step += 1
        for pe, p in zip(self.G_ema.parameters(), self.G.parameters()):
            pe.lerp_(p, 1.0 - d)

    def _d_in(self, x: torch.Tensor) -> torch.Tensor:
        return diff_augment(x, self.augment, self.gen) if self.augment else x

    def export_generator(self):
        """The generator to ship: the EMA copy (BatchNorm statistics recalibrated for its weights) or G."""
        if not self.ema:
            return self.G
        recalibrate_bn(self.G_ema, self.nz, self.device)
        return self.G_ema

    def _noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.nz, generator=self.gen).to(self.device)

    def _gp(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        a = torch.rand(real.shape[0], 1, 1, 1, generator=self.gen).to(self.device)
        x = (a * real + (1 - a) * fake).requires_grad_(True)  # (real and fake arrive augmented alike)
        (g,) = torch.autograd.grad(self.D.logits(x).sum(), x, create_graph=True)
        return ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()

    def _d_step(self, real: torch.Tensor) -> dict:
        fake = self._d_in(self.G(self._noise(real.shape[0])).detach())
        real = self._d_in(real)
        lr_, lf = self.D.logits(real), self.D.logits(fake)
        if self.loss == "ns":
            loss = F.softplus(-lr_).mean() + F.softplus(lf).mean()
        else:
            loss = lf.mean() - lr_.mean() + self.gp_lambda * self._gp(real, fake)
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        return {"loss_d": loss.item(), "d_real": torch.sigmoid(lr_).mean().item(), "d_fake": torch.sigmoid(lf).mean().item()}

    def _g_step(self, n: int) -> dict:
        lf = self.D.logits(self._d_in(self.G(self._noise(n))))
        loss = F.softplus(-lf).mean() if self.loss == "ns" else -lf.mean()
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        return {"loss_g": loss.item()}

    def epoch(self, data: torch.Tensor, labels=None) -> Iterator[dict]:
        self.G.train()
        self.D.train()
        every = 1 if self.loss == "ns" else self.n_critic
        last_g: dict = {"loss_g": float("nan")}
        for step, idx in enumerate(batches(len(data), self.batch_size, self.gen)):
            stats = self._d_step(data[idx].to(self.device))
            if step % every == 0:
                last_g = self._g_step(len(idx))
                self._update_ema()
            yield {**stats, **last_g}
        self.G.eval()
        self.D.eval()


def reconstruction_nll(recon, x, likelihood: str = "bernoulli", sigma: float = 0.1) -> torch.Tensor:
    """Reconstruction NLL per image ``[B]`` in nats (Bernoulli, or Gaussian with a fixed sigma)."""
    if likelihood == "bernoulli":
        return F.binary_cross_entropy(recon.clamp(1e-6, 1 - 1e-6), x, reduction="none").flatten(1).sum(1)
    d = x[0].numel()
    return ((recon - x) ** 2).flatten(1).sum(1) / (2 * sigma**2) + d * math.log(sigma * math.sqrt(2 * math.pi))


def vae_loss(recon, x, mu, logvar, likelihood: str = "bernoulli", beta: float = 1.0, sigma: float = 0.1):
    """Per-batch mean of (reconstruction NLL in nats, KL in nats) per image; loss = rec + beta * kl."""
    rec = reconstruction_nll(recon, x, likelihood, sigma)
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)
    return rec.mean(), kl.mean()


class VAETrainer(_Trainer):
    """Conv or MLP VAE with a Bernoulli or Gaussian likelihood and beta. Data in [0, 1]."""

    parts = ("model", "opt")

    def __init__(self, model, *, likelihood: str = "bernoulli", beta: float = 1.0, lr: float = 1e-3,
                 batch_size: int = 128, seed: int = 0, device="cpu", binarize: bool = False, kl_warmup: int = 0):
        if likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(f"likelihood must be 'bernoulli' or 'gaussian', got {likelihood!r}")
        torch.manual_seed(seed)
        self.model = model.to(device)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.likelihood, self.beta, self.batch_size, self.device = likelihood, beta, batch_size, device
        self.binarize = binarize
        # KL warm-up: the KL weight rises linearly from beta/kl_warmup to beta over the first kl_warmup epochs.
        # Measured: conv VAE z=10 with beta=4 from the first step collapsed (KL 0.004 nats after 2 epochs).
        self.kl_warmup, self.kl_scale = kl_warmup, 1.0
        self.gen = torch.Generator().manual_seed(seed)

    def start_epoch(self, epoch: int) -> None:
        self.kl_scale = min(1.0, epoch / self.kl_warmup) if self.kl_warmup else 1.0

    def epoch(self, data: torch.Tensor, labels=None) -> Iterator[dict]:
        self.model.train()
        for idx in batches(len(data), self.batch_size, self.gen):
            x = data[idx]
            if self.binarize:  # dynamic binarization: a fresh Bernoulli draw of each pixel per step
                x = torch.bernoulli(x, generator=self.gen)
            loss, stats = self.loss(x.to(self.device))
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            yield stats
        self.model.eval()

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """(rec + beta * KL, step stats) of one batch."""
        recon, mu, logvar = self.model(x)
        rec, kl = vae_loss(recon, x, mu, logvar, self.likelihood, self.beta)
        loss = rec + self.beta * self.kl_scale * kl
        return loss, {"loss": loss.item(), "rec": rec.item(), "kl": kl.item()}


class AETrainer(VAETrainer):
    """A plain autoencoder: the VAE trainer with the reconstruction term alone (no KL, no sampling)."""

    def __init__(self, model, **kw):
        super().__init__(model, beta=1.0, **kw)  # beta is never used: there is no KL term

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        recon, _, _ = self.model(x)
        rec = reconstruction_nll(recon, x, self.likelihood).mean()
        return rec, {"loss": rec.item(), "rec": rec.item()}


class ClassifierTrainer(_Trainer):
    """Cross-entropy with light augmentation (random shifts of up to 2 px). Data in [0, 1]."""

    parts = ("model", "opt")

    def __init__(self, model, *, lr: float = 1e-3, batch_size: int = 128, seed: int = 0, device="cpu"):
        torch.manual_seed(seed)
        self.model = model.to(device)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=lr, weight_decay=1e-4)
        self.batch_size, self.device = batch_size, device
        self.gen = torch.Generator().manual_seed(seed)

    def _shift(self, x: torch.Tensor) -> torch.Tensor:
        pad = F.pad(x, (2, 2, 2, 2))
        dx, dy = (int(v) for v in torch.randint(0, 5, (2,), generator=self.gen))
        return pad[..., dy : dy + x.shape[-2], dx : dx + x.shape[-1]]

    def epoch(self, data: torch.Tensor, labels: torch.Tensor) -> Iterator[dict]:
        self.model.train()
        for idx in batches(len(data), self.batch_size, self.gen):
            x, y = self._shift(data[idx]).to(self.device), labels[idx].to(self.device)
            logits = self.model(x)
            loss = F.cross_entropy(logits, y)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            yield {"loss": loss.item(), "acc": (logits.argmax(1) == y).float().mean().item()}
        self.model.eval()
