"""Constructor configs, one frozen dataclass per model family (stdlib only).

A config is what a manifest stores under ``config`` and what rebuilds the network: nothing about
a model's shape is guessed from file names or weights except by the importer.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

SUPPORTED_SIZES = (28, 32, 64)
SUPPORTED_CHANNELS = (1, 3)


class ConfigError(ValueError):
    """A config dict that cannot build a model (unknown key, wrong type, out of range)."""


def _check_int(name: str, value: Any, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must be in [{lo}, {hi}], got {value}")


class _Config:
    """Shared from_dict/to_dict with strict key and type checks."""

    limits: ClassVar[dict[str, tuple[int, int]]] = {}

    def __post_init__(self) -> None:
        for name, (lo, hi) in self.limits.items():
            _check_int(name, getattr(self, name), lo, hi)
        if hasattr(self, "image_size") and self.image_size not in SUPPORTED_SIZES:
            raise ConfigError(f"image_size must be one of {SUPPORTED_SIZES}, got {self.image_size}")
        if hasattr(self, "channels") and self.channels not in SUPPORTED_CHANNELS:
            raise ConfigError(f"channels must be one of {SUPPORTED_CHANNELS}, got {self.channels}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        if not isinstance(data, dict):
            raise ConfigError(f"config must be a JSON object, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"unknown config field(s) for {cls.__name__}: {', '.join(unknown)}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ConfigError(f"bad config for {cls.__name__}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class DCGANConfig(_Config):
    """DCGAN generator/discriminator. image_size 64 is layer-for-layer the PyTorch example."""

    image_size: int = 64
    channels: int = 3
    nz: int = 100
    ngf: int = 64
    ndf: int = 64
    d_norm: str = "batch"  # "batch" (the example) or "none" (for a WGAN-GP critic)
    limits: ClassVar = {"nz": (1, 4096), "ngf": (1, 1024), "ndf": (1, 1024)}

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.d_norm not in ("batch", "none"):
            raise ConfigError(f"d_norm must be 'batch' or 'none', got {self.d_norm!r}")

    @property
    def latent_size(self) -> int:
        return self.nz


@dataclass(frozen=True)
class ConvVAEConfig(_Config):
    """Convolutional VAE; ``beta`` weighs the KL term in training (1.0 is the plain ELBO)."""

    image_size: int = 28
    channels: int = 1
    z_dim: int = 16
    base: int = 32
    hidden: int = 256
    beta: float = 1.0
    limits: ClassVar = {"z_dim": (1, 4096), "base": (1, 512), "hidden": (1, 8192)}

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.beta, (int, float)) or not 0 < float(self.beta) < 1e3:
            raise ConfigError(f"beta must be a number in (0, 1000), got {self.beta!r}")

    @property
    def latent_size(self) -> int:
        return self.z_dim


@dataclass(frozen=True)
class ConvAEConfig(_Config):
    """Convolutional autoencoder: the conv VAE's encoder/decoder shapes with one code head and no KL."""

    image_size: int = 28
    channels: int = 1
    z_dim: int = 2
    base: int = 32
    hidden: int = 256
    limits: ClassVar = {"z_dim": (1, 4096), "base": (1, 512), "hidden": (1, 8192)}

    @property
    def latent_size(self) -> int:
        return self.z_dim


@dataclass(frozen=True)
class MLPGANConfig(_Config):
    """The vanilla GAN: fully connected G (nz -> width -> 2 width -> 4 width -> pixels) and a mirrored D."""

    image_size: int = 28
    channels: int = 1
    nz: int = 100
    width: int = 256
    dropout: float = 0.3  # D only; off in eval mode, so the realism score is deterministic
    limits: ClassVar = {"nz": (1, 4096), "width": (1, 4096)}

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.dropout, (int, float)) or not 0 <= float(self.dropout) < 1:
            raise ConfigError(f"dropout must be a number in [0, 1), got {self.dropout!r}")

    @property
    def latent_size(self) -> int:
        return self.nz


@dataclass(frozen=True)
class MLPVAEConfig(_Config):
    """The PyTorch VAE example: fc1 784->400, fc21/fc22 400->20, fc3 20->400, fc4 400->784."""

    image_size: int = 28
    channels: int = 1
    hidden: int = 400
    z_dim: int = 20
    limits: ClassVar = {"hidden": (1, 8192), "z_dim": (1, 4096)}

    @property
    def latent_size(self) -> int:
        return self.z_dim


@dataclass(frozen=True)
class ClassifierConfig(_Config):
    """Small CNN classifier; its penultimate layer (``features`` wide) feeds FID."""

    image_size: int = 28
    channels: int = 1
    num_classes: int = 10
    width: int = 32
    features: int = 128
    limits: ClassVar = {"num_classes": (2, 1000), "width": (1, 512), "features": (1, 8192)}

    @property
    def latent_size(self) -> int:
        return 0
