"""The vanilla GAN (Goodfellow et al. 2014, as in most tutorials): fully connected G and D.

G: z ``[B, nz]`` (or ``[B, nz, 1, 1]``, like the DCGAN) -> width -> 2 width -> 4 width -> C*H*W, LeakyReLU(0.2)
between layers and tanh at the end, reshaped to ``[B, C, H, W]`` in [-1, 1]. With width 256 and 28 px:
100 -> 256 -> 512 -> 1024 -> 784. D mirrors it (784 -> 1024 -> 512 -> 256 -> 1, LeakyReLU, dropout) and,
like the DCGAN discriminator, exposes ``logits()`` for training and the realism meter.
"""
from __future__ import annotations

import torch
from torch import nn

from genlab.configs import MLPGANConfig


def _widths(config: MLPGANConfig) -> list[int]:
    return [config.width, config.width * 2, config.width * 4]


class MLPGenerator(nn.Module):
    """z ``[B, nz]`` or ``[B, nz, 1, 1]`` -> image ``[B, C, H, W]`` in [-1, 1] (tanh)."""

    def __init__(self, config: MLPGANConfig):
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        c_in = config.nz
        for w in _widths(config):
            layers += [nn.Linear(c_in, w), nn.LeakyReLU(0.2, inplace=True)]
            c_in = w
        layers += [nn.Linear(c_in, config.channels * config.image_size**2), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    @property
    def latent_size(self) -> int:
        return self.config.nz

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        c, s = self.config.channels, self.config.image_size
        return self.main(z.reshape(z.shape[0], -1)).view(z.shape[0], c, s, s)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z ``[B, nz]`` -> ``[B, C, H, W]`` in [-1, 1]; the same call as a VAE decoder."""
        return self.forward(z)


class MLPDiscriminator(nn.Module):
    """Image ``[B, C, H, W]`` in [-1, 1] -> P(real) ``[B]`` (sigmoid); ``logits()`` skips the sigmoid."""

    def __init__(self, config: MLPGANConfig):
        super().__init__()
        self.config = config
        layers: list[nn.Module] = [nn.Flatten()]
        c_in = config.channels * config.image_size**2
        for w in reversed(_widths(config)):
            layers += [nn.Linear(c_in, w), nn.LeakyReLU(0.2, inplace=True), nn.Dropout(config.dropout)]
            c_in = w
        layers += [nn.Linear(c_in, 1), nn.Sigmoid()]
        self.main = nn.Sequential(*layers)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.main[:-1](x).flatten()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).flatten()
