"""A plain convolutional autoencoder: the conv VAE's encoder and decoder with one code head and no KL.

Interface choice: it exposes the conv VAE's methods (``encode``, ``decode``, ``forward``, ``latent_size``)
so every view that encodes or decodes works unchanged. ``encode(x)`` returns ``(z, logvar)`` where ``z`` is
the deterministic code and ``logvar`` is a constant ``DETERMINISTIC_LOGVAR`` (-30, i.e. sigma ~ 3e-7): an
autoencoder has no posterior, and a view that draws sigma draws (honestly) a point. Never compute a KL or
an ELBO from it: it would measure the constant, not the model (``genlab.evaluate`` reports none for "ae").

No prior: an autoencoder's codes go wherever training put them, so sampling uses a Gaussian fitted to the
training codes. ``prior_mean [z_dim]`` and ``prior_scale [z_dim, z_dim]`` (lower Cholesky factor of their
covariance) are buffers saved in the safetensors with the weights; ``fit_prior(codes)`` sets them and
``genlab.latent.apply_prior`` maps standard-normal draws through them (see ``Engine.latents``).
"""
from __future__ import annotations

import torch
from torch import nn

from genlab.configs import ConvAEConfig
from genlab.models.vae import conv_halves

DETERMINISTIC_LOGVAR = -30.0  # log sigma^2 of a deterministic code: sigma = exp(-15) ~ 3e-7


class ConvAE(nn.Module):
    """x ``[B, C, H, W]`` in [0, 1] -> code ``[B, z_dim]`` -> reconstruction in [0, 1] (sigmoid)."""

    def __init__(self, config: ConvAEConfig):
        super().__init__()
        self.config = config
        self.encoder, (self.fc_code,), self.fc_dec, self.decoder, self._top = conv_halves(config, heads=1)
        # Until fit_prior runs (e.g. during training) the "fitted" Gaussian is N(0, I).
        self.register_buffer("prior_mean", torch.zeros(config.z_dim))
        self.register_buffer("prior_scale", torch.eye(config.z_dim))

    @property
    def latent_size(self) -> int:
        return self.config.z_dim

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x -> (code ``[B, z_dim]``, constant logvar ``[B, z_dim]`` = DETERMINISTIC_LOGVAR)."""
        z = self.fc_code(self.encoder(x))
        return z, torch.full_like(z, DETERMINISTIC_LOGVAR)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc_dec(z).view(z.shape[0], self._top, 4, 4)
        return self.decoder(h)

    def forward(self, x: torch.Tensor, sample: bool = False):
        """x -> (reconstruction, code, logvar): the VAE's forward signature (``sample`` changes nothing)."""
        z, logvar = self.encode(x)
        return self.decode(z), z, logvar

    @torch.no_grad()
    def fit_prior(self, codes: torch.Tensor) -> None:
        """Set the sampling Gaussian to the mean and covariance (ddof 1) of ``codes [N, z_dim]``, N >= 2.

        A tiny ridge (1e-6 times the mean variance) keeps the Cholesky factor defined for degenerate codes.
        """
        codes = codes.double()
        mean = codes.mean(0)
        cov = torch.atleast_2d(torch.cov(codes.T))
        ridge = 1e-6 * cov.diagonal().mean().clamp_min(1e-12)
        scale = torch.linalg.cholesky(cov + ridge * torch.eye(len(mean), dtype=cov.dtype))
        self.prior_mean.copy_(mean.float())
        self.prior_scale.copy_(scale.float())
