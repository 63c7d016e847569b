"""Pure latent-space operations: tensor in, tensor out. No models, files or pixels here.

Latents are flat ``[B, D]`` float32. Randomness is always drawn on the CPU from a seed, so a seed
gives the same latent (and, up to kernel differences, the same image) on every device.
"""
from __future__ import annotations

import math

import torch

MAX_ABS = 1e3  # a latent coordinate beyond this is refused as absurd (the prior lives in |z| < ~6)
_EPS = 1e-7


class LatentError(ValueError):
    """A latent that cannot be used (NaN, inf, wrong length, absurd magnitude)."""


def cpu_generator(seed: int) -> torch.Generator:
    return torch.Generator(device="cpu").manual_seed(int(seed))


def sample(n: int, dim: int, seed: int, psi: float = 1.0, temperature: float = 1.0) -> torch.Tensor:
    """``[n, dim]`` draws from N(0, I), truncated to the central ``psi`` of each coordinate's mass.

    Drawn by inverse CDF from one set of uniforms: psi=1 is the plain prior, psi -> 0 shrinks every
    sample continuously towards the mean (same seed, same digit, less extreme), and ``temperature``
    then scales the result. Deterministic for a seed on every device.
    """
    if not 0.0 <= psi <= 1.0:
        raise LatentError(f"psi must be in [0, 1], got {psi}")
    if not 0.0 <= temperature <= 10.0:
        raise LatentError(f"temperature must be in [0, 10], got {temperature}")
    u = torch.rand(n, dim, generator=cpu_generator(seed), dtype=torch.float64)
    u = u.clamp(_EPS, 1 - _EPS)
    z = math.sqrt(2.0) * torch.erfinv(psi * (2.0 * u - 1.0))
    return (z * temperature).float()


def apply_prior(z: torch.Tensor, mean: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Standard-normal draws ``z [B, D]`` -> draws from N(mean, scale scale^T): ``mean + z @ scale.T``.

    For models without a standard normal prior (the autoencoder: a Gaussian fitted to its training codes,
    ``mean [D]``, lower Cholesky factor ``scale [D, D]``). psi and temperature applied to ``z`` beforehand
    shrink towards / scale around ``mean``, as they do around 0 for the plain prior.
    """
    return mean.to(z.dtype) + z @ scale.to(z.dtype).T


def truncate(z: torch.Tensor, psi: float, center: torch.Tensor | None = None) -> torch.Tensor:
    """StyleGAN-style truncation of given latents: ``center + psi * (z - center)``."""
    c = torch.zeros_like(z) if center is None else center
    return c + psi * (z - c)


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Linear interpolation. a, b ``[D]``; t scalar -> ``[D]``, t ``[T]`` -> ``[T, D]``."""
    t = torch.as_tensor(t, dtype=a.dtype)
    return a + t * (b - a) if t.dim() == 0 else a + t[:, None] * (b - a)


def _orthogonal(a: torch.Tensor) -> torch.Tensor:
    """A deterministic unit vector orthogonal to unit ``a`` (Gram-Schmidt on the least aligned axis)."""
    e = torch.zeros_like(a)
    e[int(torch.argmin(a.abs()))] = 1.0
    v = e - (e @ a) * a
    return v / v.norm()


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Spherical interpolation of directions with linear interpolation of norms.

    Exact at t=0 and t=1. Near-parallel vectors fall back to lerp of the directions (sin(omega) ~ 0);
    antipodal ones rotate through a deterministic orthogonal direction, so the path never passes
    through the origin. a, b ``[D]``; t scalar or ``[T]``.
    """
    scalar = torch.as_tensor(t).dim() == 0
    t = torch.as_tensor(t, dtype=torch.float64).reshape(-1, 1)
    a64, b64 = a.double(), b.double()
    na, nb = a64.norm(), b64.norm()
    if na < _EPS or nb < _EPS:
        out = lerp(a64, b64, t[:, 0])
    else:
        ua, ub = a64 / na, b64 / nb
        cos = torch.clamp(ua @ ub, -1.0, 1.0)
        omega = torch.arccos(cos)
        if omega < 1e-4:
            d = ua + t * (ub - ua)
            d = d / d.norm(dim=1, keepdim=True)
        else:
            if math.pi - omega < 1e-4:
                ub_perp = _orthogonal(ua)
            else:
                ub_perp = (ub - cos * ua) / (ub - cos * ua).norm()
            ang = t * omega
            d = torch.cos(ang) * ua + torch.sin(ang) * ub_perp
        out = d * (na + t * (nb - na))
    out = out.to(a.dtype)
    if (t == 1).any():  # make the far endpoint exact, not just close
        out[(t[:, 0] == 1)] = b
    return out[0] if scalar else out


def path(keyframes: torch.Tensor, steps: int, mode: str = "slerp") -> torch.Tensor:
    """``steps`` points through ``keyframes [K, D]`` (K >= 2), equal time per segment, endpoints included."""
    if keyframes.dim() != 2 or keyframes.shape[0] < 2:
        raise LatentError(f"need at least 2 keyframes of shape [K, D], got {tuple(keyframes.shape)}")
    if steps < 2:
        raise LatentError(f"steps must be >= 2, got {steps}")
    if mode not in ("lerp", "slerp"):
        raise LatentError(f"mode must be 'lerp' or 'slerp', got {mode!r}")
    fn = slerp if mode == "slerp" else lerp
    segs = keyframes.shape[0] - 1
    pos = torch.linspace(0, segs, steps, dtype=torch.float64)
    out = []
    for p in pos:
        i = min(int(p), segs - 1)
        out.append(fn(keyframes[i], keyframes[i + 1], float(p - i)))
    return torch.stack(out)


def combine(terms: list[tuple[float, torch.Tensor]]) -> torch.Tensor:
    """Latent arithmetic: sum of ``coef * z`` over terms, e.g. [(1, a), (-1, b), (1, c)] = a - b + c."""
    if not terms:
        raise LatentError("no terms to combine")
    return sum(float(c) * z for c, z in terms)


def move(z: torch.Tensor, directions: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``z + weights @ directions``; z ``[D]``, directions ``[K, D]``, weights ``[K]``."""
    return z + weights.to(directions.dtype) @ directions


def pca(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Principal axes of ``x [N, D]``: (mean ``[D]``, components ``[k, D]`` unit rows, std ``[k]``).

    Signs are fixed (largest-magnitude coordinate positive) so results are deterministic. Use it on
    encodings or activations: PCA of prior samples alone is meaningless (the prior is isotropic).
    """
    x = x.double()
    mean = x.mean(0)
    _, s, vh = torch.linalg.svd(x - mean, full_matrices=False)
    k = min(k, vh.shape[0])
    comps = vh[:k]
    signs = torch.sign(comps.gather(1, comps.abs().argmax(1, keepdim=True)))
    comps = comps * signs
    std = s[:k] / math.sqrt(max(x.shape[0] - 1, 1))
    return mean.float(), comps.float(), std.float()


def validate(z, dim: int, max_abs: float = MAX_ABS) -> torch.Tensor:
    """A float32 ``[dim]`` or ``[B, dim]`` tensor from ``z`` (list, array or tensor), or LatentError."""
    try:
        t = torch.as_tensor(z, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError, OverflowError, RecursionError) as exc:
        raise LatentError(f"latent is not a list of numbers: {str(exc)[:120]}") from None
    if t.dim() not in (1, 2) or t.shape[-1] != dim:
        raise LatentError(f"latent must have length {dim}, got shape {list(t.shape)}")
    if not torch.isfinite(t).all():
        raise LatentError("latent holds NaN or inf values")
    if t.abs().max() > max_abs:
        raise LatentError(f"latent values must lie within +-{max_abs:g}, got {t.abs().max().item():.3g}")
    return t
