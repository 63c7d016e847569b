"""What differs between training families, in one table: build / trainer / record (DESIGN.md, style 7).

``python -m genlab train FAMILY`` looks FAMILY up in ``FAMILIES`` and never branches on its name. A new
family is one registered architecture (genlab/models) plus one ``register(Family(...))`` here.
"""
from __future__ import annotations

from argparse import Namespace
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from genlab.configs import (ClassifierConfig, ConvAEConfig, ConvVAEConfig, DCGANConfig, MLPGANConfig,
                            MLPVAEConfig)
from genlab.models import get_architecture
from genlab.training.loops import AETrainer, ClassifierTrainer, GANTrainer, VAETrainer

Built = tuple[str, nn.Module, dict[str, nn.Module]]  # (architecture name, main module, aux modules by role)


@dataclass(frozen=True)
class Family:
    """One trainable family.

    build(args) -> Built; trainer(args, model, aux, device) -> a loops trainer; record(args) -> the
    family's own fields for manifest["training"]. ``generative``: has a decoder (sample grids, snapshots).
    ``finish(model, snapshots, x)``: runs after training on the exported model, its snapshot state dicts
    (epoch -> state, may be edited in place) and the training images; returns updates for manifest["latent"].
    """

    name: str
    build: Callable[[Namespace], Built]
    trainer: Callable[..., object]
    record: Callable[[Namespace], dict]
    generative: bool = True
    finish: Callable[[nn.Module, dict, torch.Tensor], dict] | None = None


FAMILIES: dict[str, Family] = {}


def register(family: Family) -> Family:
    if family.name in FAMILIES:
        raise ValueError(f"training family {family.name!r} is already registered")
    FAMILIES[family.name] = family
    return family


def get_family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise KeyError(f"unknown training family {name!r} (known: {', '.join(sorted(FAMILIES))})") from None


def augment_policy(text: str) -> tuple[str, ...]:
    return tuple(a.strip() for a in (text or "").split(",") if a.strip())


def _built(arch_name: str, cfg) -> Built:
    arch = get_architecture(arch_name)
    return arch_name, arch.build(cfg), {role: make(cfg) for role, make in arch.aux.items()}


# --- GANs: the DCGAN and the vanilla (fully connected) GAN share the trainer and its options ---------------
def _gan_trainer(args, model, aux, device):
    lr = args.lr or (2e-4 if args.loss == "ns" else 1e-4)
    return GANTrainer(model, aux["discriminator"], loss=args.loss, lr=lr, batch_size=args.batch_size,
                      seed=args.seed, device=device, ema=args.ema, augment=augment_policy(args.augment))


def _gan_record(args) -> dict:
    return {"loss": args.loss, "ema": args.ema, "augment": list(augment_policy(args.augment))}


def _build_dcgan(args) -> Built:
    return _built("dcgan", DCGANConfig(image_size=args.image_size, channels=args.channels, nz=args.nz, ngf=args.ngf,
                                       ndf=args.ndf, d_norm="batch" if args.loss == "ns" else "none"))


def _build_mlp_gan(args) -> Built:
    return _built("mlp_gan", MLPGANConfig(image_size=args.image_size, channels=args.channels, nz=args.nz,
                                          width=args.width, dropout=args.dropout))


# --- VAEs and the plain autoencoder ----------------------------------------------------------------------
def _build_vae(args) -> Built:
    if args.arch == "mlp":
        return _built("mlp_vae", MLPVAEConfig(image_size=args.image_size, channels=args.channels,
                                              hidden=args.hidden, z_dim=args.z_dim))
    return _built("conv_vae", ConvVAEConfig(image_size=args.image_size, channels=args.channels, z_dim=args.z_dim,
                                            base=args.base, hidden=args.hidden, beta=args.beta))


def _vae_trainer(args, model, aux, device):
    return VAETrainer(model, likelihood=args.likelihood, beta=args.beta, lr=args.lr or 1e-3,
                      batch_size=args.batch_size, seed=args.seed, device=device, binarize=args.binarize,
                      kl_warmup=args.kl_warmup)


def _vae_record(args) -> dict:
    out = {"likelihood": args.likelihood, "beta": args.beta, "binarize": args.binarize}
    return {**out, "kl_warmup": args.kl_warmup} if args.kl_warmup else out  # older cards stay as they were


def _build_ae(args) -> Built:
    return _built("conv_ae", ConvAEConfig(image_size=args.image_size, channels=args.channels, z_dim=args.z_dim,
                                          base=args.base, hidden=args.hidden))


def _ae_trainer(args, model, aux, device):
    return AETrainer(model, likelihood=args.likelihood, lr=args.lr or 1e-3, batch_size=args.batch_size,
                     seed=args.seed, device=device, binarize=args.binarize)


@torch.no_grad()
def _codes(model: nn.Module, x: torch.Tensor, batch: int = 500) -> torch.Tensor:
    """Codes ``[N, z_dim]`` of images ``x`` (CPU, eval mode)."""
    model.eval()
    return torch.cat([model.encode(x[i : i + batch])[0] for i in range(0, len(x), batch)])


def _fit_ae_prior(model: nn.Module, snapshots: dict, x: torch.Tensor) -> dict:
    """Fit the sampling Gaussian to the training codes, for the final model and for each snapshot."""
    model.fit_prior(_codes(model, x))
    arch = get_architecture("conv_ae")
    for state in snapshots.values():
        snap = arch.build(model.config)
        snap.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
        snap.fit_prior(_codes(snap, x))
        state["prior_mean"], state["prior_scale"] = snap.prior_mean.clone(), snap.prior_scale.clone()
    return {"prior": "fitted_normal",
            "prior_note": "no prior: Gaussian fitted to training codes (buffers prior_mean, prior_scale)"}


def _build_classifier(args) -> Built:
    return _built("classifier", ClassifierConfig(args.image_size, args.channels))


def _classifier_trainer(args, model, aux, device):
    return ClassifierTrainer(model, lr=args.lr or 1e-3, batch_size=args.batch_size, seed=args.seed, device=device)


register(Family("dcgan", _build_dcgan, _gan_trainer, _gan_record))
register(Family("mlp-gan", _build_mlp_gan, _gan_trainer, _gan_record))
register(Family("vae", _build_vae, _vae_trainer, _vae_record))
register(Family("ae", _build_ae, _ae_trainer, lambda a: {"likelihood": a.likelihood, "binarize": a.binarize},
                finish=_fit_ae_prior))
register(Family("classifier", _build_classifier, _classifier_trainer, lambda a: {}, generative=False))
