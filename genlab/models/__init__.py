"""Architectures by name: an explicit dict that refuses duplicates.

Each entry says how to build a model from its config, which weight files it has besides
``model`` (e.g. a DCGAN's ``discriminator``), and its family's value ranges.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from genlab.configs import ClassifierConfig, ConvAEConfig, ConvVAEConfig, DCGANConfig, MLPGANConfig, MLPVAEConfig
from genlab.models.ae import ConvAE
from genlab.models.classifier import Classifier
from genlab.models.dcgan import Discriminator, Generator
from genlab.models.mlp_gan import MLPDiscriminator, MLPGenerator
from genlab.models.vae import ConvVAE, MLPVAE


@dataclass(frozen=True)
class Architecture:
    name: str
    family: str  # "gan" | "vae" | "ae" | "classifier"
    config_cls: type
    build: Callable[..., nn.Module]
    output_range: tuple[float, float]  # range of decode() output / of classifier input
    aux: dict[str, Callable[..., nn.Module]]  # optional extra weight roles -> builder


ARCHITECTURES: dict[str, Architecture] = {}


def register(arch: Architecture) -> Architecture:
    if arch.name in ARCHITECTURES:
        raise ValueError(f"architecture {arch.name!r} is already registered")
    ARCHITECTURES[arch.name] = arch
    return arch


def get_architecture(name: str) -> Architecture:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        known = ", ".join(sorted(ARCHITECTURES))
        raise KeyError(f"unknown architecture {name!r} (known: {known})") from None


register(Architecture("dcgan", "gan", DCGANConfig, Generator, (-1.0, 1.0), {"discriminator": Discriminator}))
register(Architecture("conv_vae", "vae", ConvVAEConfig, ConvVAE, (0.0, 1.0), {}))
register(Architecture("mlp_vae", "vae", MLPVAEConfig, MLPVAE, (0.0, 1.0), {}))
register(Architecture("conv_ae", "ae", ConvAEConfig, ConvAE, (0.0, 1.0), {}))
register(Architecture("mlp_gan", "gan", MLPGANConfig, MLPGenerator, (-1.0, 1.0), {"discriminator": MLPDiscriminator}))
register(Architecture("classifier", "classifier", ClassifierConfig, Classifier, (0.0, 1.0), {}))
