"""DCGAN generator and discriminator for 28, 32 and 64 px, 1 or 3 channels.

The 64-px variant is layer-for-layer the PyTorch DCGAN example (``main.0`` ... ``main.12``), so a
``netG_epoch_N.pth`` saved by that script loads with ``strict=True``.
"""
from __future__ import annotations

import torch
from torch import nn

from genlab.configs import DCGANConfig

# (kernel, stride, padding) of each upsampling step after the first 4x4 projection.
_UP_STEPS = {
    28: [(3, 2, 1), (4, 2, 1), (4, 2, 1)],  # 4 -> 7 -> 14 -> 28
    32: [(4, 2, 1)] * 3,  # 4 -> 8 -> 16 -> 32
    64: [(4, 2, 1)] * 4,  # 4 -> 8 -> 16 -> 32 -> 64
}


def up_steps(image_size: int) -> list[tuple[int, int, int]]:
    """Upsampling (k, s, p) steps from a 4x4 map to ``image_size``; the discriminator mirrors them."""
    return list(_UP_STEPS[image_size])


class Generator(nn.Module):
    """z ``[B, nz]`` or ``[B, nz, 1, 1]`` -> image ``[B, C, H, W]`` in [-1, 1] (tanh)."""

    def __init__(self, config: DCGANConfig):
        super().__init__()
        self.config = config
        steps = up_steps(config.image_size)
        width = config.ngf * 2 ** (len(steps) - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(config.nz, width, 4, 1, 0, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        for i, (k, s, p) in enumerate(steps):
            last = i == len(steps) - 1
            out = config.channels if last else width // 2
            layers.append(nn.ConvTranspose2d(width, out, k, s, p, bias=False))
            layers += [nn.Tanh()] if last else [nn.BatchNorm2d(out), nn.ReLU(True)]
            width = out
        self.main = nn.Sequential(*layers)

    @property
    def latent_size(self) -> int:
        return self.config.nz

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() == 2:
            z = z[:, :, None, None]
        return self.main(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z ``[B, nz]`` -> ``[B, C, H, W]`` in [-1, 1]; the same call as a VAE decoder."""
        return self.forward(z)


class Discriminator(nn.Module):
    """Image ``[B, C, H, W]`` in [-1, 1] -> P(real) ``[B]`` (sigmoid, as in the example).

    ``logits()`` skips the final sigmoid: training uses it with BCE-with-logits (stable), and the
    explorer's realism meter reads it.
    """

    def __init__(self, config: DCGANConfig):
        super().__init__()
        self.config = config
        steps = list(reversed(up_steps(config.image_size)))
        width = config.ndf
        layers: list[nn.Module] = [
            nn.Conv2d(config.channels, width, *steps[0], bias=False),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        for k, s, p in steps[1:]:
            layers.append(nn.Conv2d(width, width * 2, k, s, p, bias=False))
            width *= 2
            norm = nn.BatchNorm2d(width) if config.d_norm == "batch" else nn.Identity()
            layers += [norm, nn.LeakyReLU(0.2, inplace=True)]
        layers += [nn.Conv2d(width, 1, 4, 1, 0, bias=False), nn.Sigmoid()]
        self.main = nn.Sequential(*layers)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.main[:-1](x).flatten()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).flatten()


def init_weights(module: nn.Module) -> None:
    """The DCGAN paper's init (normal 0.02; BN weight 1 +- 0.02), as in the example's ``weights_init``."""
    name = type(module).__name__
    if "Conv" in name:
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif "BatchNorm" in name:
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
