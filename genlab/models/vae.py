"""VAEs: a convolutional VAE (28/32/64 px, 1 or 3 channels) and the PyTorch VAE example's MLP.

Both expose ``encode(x) -> (mu, logvar)`` and ``decode(z) -> x`` with images in [0, 1]
(sigmoid output: Bernoulli means, or Gaussian means with a fixed sigma).
"""
from __future__ import annotations

import torch
from torch import nn

from genlab.configs import ConvVAEConfig, MLPVAEConfig
from genlab.models.dcgan import up_steps


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator=None) -> torch.Tensor:
    """z = mu + sigma * eps, eps ~ N(0, I) drawn from ``generator`` (on mu's device)."""
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + eps * torch.exp(0.5 * logvar)


class _VAE(nn.Module):
    def forward(self, x: torch.Tensor, sample: bool = True):
        """x ``[B, C, H, W]`` in [0, 1] -> (reconstruction, mu, logvar)."""
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar) if sample else mu
        return self.decode(z), mu, logvar


def conv_halves(config, heads: int) -> tuple[nn.Sequential, list[nn.Linear], nn.Sequential, nn.Sequential, int]:
    """(encoder to a ``hidden`` vector, ``heads`` Linear(hidden, z_dim) code heads, fc_dec from ``z_dim``,
    conv decoder, top width) for a conv VAE (2 heads: mu, logvar) or AE (1 head: the code).

    Encoder: strided convs down to 4x4, flatten, ``Linear(flat, hidden)``; the decoder mirrors it with a
    sigmoid output. ``config`` needs image_size, channels, base, hidden and z_dim. Layers are created in the
    order encoder, heads, fc_dec, decoder: the order (and so the seeded init) the conv VAE always had.
    """
    steps = up_steps(config.image_size)
    widths = [config.base * 2**i for i in range(len(steps))]  # channels at each resolution
    down: list[nn.Module] = []
    c_in = config.channels
    for (k, s, p), w in zip(reversed(steps), widths):
        down += [nn.Conv2d(c_in, w, k, s, p), nn.ReLU(True)]
        c_in = w
    flat = widths[-1] * 16
    encoder = nn.Sequential(*down, nn.Flatten(), nn.Linear(flat, config.hidden), nn.ReLU(True))
    code_heads = [nn.Linear(config.hidden, config.z_dim) for _ in range(heads)]
    fc_dec = nn.Sequential(
        nn.Linear(config.z_dim, config.hidden), nn.ReLU(True),
        nn.Linear(config.hidden, flat), nn.ReLU(True),
    )
    up: list[nn.Module] = []
    outs = list(reversed(widths[:-1])) + [config.channels]
    c_in = widths[-1]
    for (k, s, p), w in zip(steps, outs):
        up += [nn.ConvTranspose2d(c_in, w, k, s, p), nn.ReLU(True)]
        c_in = w
    up[-1] = nn.Sigmoid()
    return encoder, code_heads, fc_dec, nn.Sequential(*up), widths[-1]


class ConvVAE(_VAE):
    """Encoder: strided convs down to 4x4, a hidden layer, then mu and logvar ``[B, z_dim]``."""

    def __init__(self, config: ConvVAEConfig):
        super().__init__()
        self.config = config
        encoder, (fc_mu, fc_logvar), fc_dec, decoder, self._top = conv_halves(config, heads=2)
        # attribute order = the state_dict order the shipped checkpoints were written with
        self.encoder, self.fc_mu, self.fc_logvar, self.fc_dec, self.decoder = encoder, fc_mu, fc_logvar, fc_dec, decoder

    @property
    def latent_size(self) -> int:
        return self.config.z_dim

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        return self.fc_mu(h), self.fc_logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc_dec(z).view(z.shape[0], self._top, 4, 4)
        return self.decoder(h)


class MLPVAE(_VAE):
    """The PyTorch VAE example, same attribute names so its ``state_dict()`` loads unchanged."""

    def __init__(self, config: MLPVAEConfig):
        super().__init__()
        self.config = config
        d = config.channels * config.image_size**2
        self.fc1 = nn.Linear(d, config.hidden)
        self.fc21 = nn.Linear(config.hidden, config.z_dim)
        self.fc22 = nn.Linear(config.hidden, config.z_dim)
        self.fc3 = nn.Linear(config.z_dim, config.hidden)
        self.fc4 = nn.Linear(config.hidden, d)

    @property
    def latent_size(self) -> int:
        return self.config.z_dim

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.relu(self.fc1(x.reshape(x.shape[0], -1)))
        return self.fc21(h), self.fc22(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        c, s = self.config.channels, self.config.image_size
        return torch.sigmoid(self.fc4(torch.relu(self.fc3(z)))).view(z.shape[0], c, s, s)
